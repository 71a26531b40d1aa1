"""What every stage may use: where the packaged data lives, loopback ports, file imports."""
