"""Reading IAM-style policy documents and symbolic references, for checks."""

from __future__ import annotations

from typing import Any

from stackproof.template.values import AttrRef, ResourceRef, Symbolic


def statements(document: Any) -> list[dict[str, Any]]:
    raw = document.get("Statement", []) if isinstance(document, dict) else []
    return [s for s in ([raw] if isinstance(raw, dict) else raw) if isinstance(s, dict)]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def names(value: Any) -> set[str]:
    """The logical IDs a (possibly symbolic) value, or list of values, refers to."""
    found: set[str] = set()
    for item in as_list(value):
        if isinstance(item, (ResourceRef, AttrRef)):
            found.add(item.logical_id)
        elif isinstance(item, Symbolic):
            found |= set(item.refs)
    return found
