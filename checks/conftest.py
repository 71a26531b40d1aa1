"""Where the built-in checks are collected, stackproof's options also have their short names
(``pytest checks --target moto``) and its markers are registered; elsewhere the installed
plugin keeps to ``--stackproof-*`` and stays out of the way."""

from __future__ import annotations

import pytest

from stackproof.plugin import add_short_options, register_markers


def pytest_addoption(parser: pytest.Parser) -> None:
    add_short_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    register_markers(config)
