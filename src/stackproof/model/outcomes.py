"""How reading the model can end without a value: the model raises these, the checks
pass them on, and the verdict engine turns them into ERROR or SKIP — never PASS. They live
with the model (not with the checks) because the model is what cannot answer."""

from __future__ import annotations

from typing import TypeVar

import pytest

from stackproof.template.values import Unknown, first_unknown

T = TypeVar("T")


class Undecidable(Exception):
    """The check could not decide: a value is unknown or a capability is missing."""


class NotEmulated(pytest.skip.Exception):  # type: ignore[misc,name-defined]
    """The target cannot show this: an emulator that does not provide the service.
    A skip with its reason, never a pass."""


def known(value: T | Unknown, what: str) -> T:
    """``value`` if it is fully known, else raise Undecidable naming ``what``."""
    unknown = first_unknown(value)
    if unknown is not None:
        raise Undecidable(f"{what}: {unknown.reason}" + (f" (line {unknown.line})" if unknown.line else ""))
    assert not isinstance(value, Unknown)
    return value
