"""Numbers a calculation needs, read fail-closed from the model.

The model keeps what a template says: a number, an Unknown, or ``None`` when a property is
absent (``MaxSize`` left out, ``Cooldown: null``). Arithmetic on ``None`` or on text is a
Python error, which the verdict engine would report as an ERROR carrying Python's words; read
through :func:`known_number` it is :class:`Undecidable`, naming what is missing.
"""

from __future__ import annotations

from typing import Any

from stackproof.model.outcomes import Undecidable, known


def known_number(value: Any, what: str) -> int | float:
    """``value`` as a number, or Undecidable when it is unknown, absent or not a number."""
    value = known(value, what)
    if value is None:
        raise Undecidable(f"{what} is not set")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Undecidable(f"{what}: {value!r} is not a number")
    return value
