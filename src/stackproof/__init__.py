"""stackproof: executable proof that an AWS deployment keeps its documented promises."""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__"]
