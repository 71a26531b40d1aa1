"""The built-in scenarios take the same short options and markers as the built-in checks."""

from stackproof.checks.conftest import pytest_addoption, pytest_configure

__all__ = ["pytest_addoption", "pytest_configure"]
