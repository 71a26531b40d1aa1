"""Sweeps: one stackproof run per environment of an environments file, spread over a Dask
cluster (or run one after another), read-only against the ``aws`` target. This package holds
what a sweep needs besides the run itself: the environments file, the credentials a worker
builds for itself, and the executors; ``stackproof.cli.sweep`` is the command."""
