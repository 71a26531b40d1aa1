"""The ``stackproof`` command: the top of the pipeline, which drives every stage below it."""

from stackproof.cli.main import main

__all__ = ["main"]
