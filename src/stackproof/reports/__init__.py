"""Report writers: one module per format, each writing one file of a run's directory."""
