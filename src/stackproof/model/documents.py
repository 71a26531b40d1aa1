"""Reading IAM-style policy documents and symbolic references, for checks."""

from __future__ import annotations

import json
import re
from typing import Any

from stackproof.model.outcomes import known
from stackproof.template.values import AttrRef, ResourceRef, Symbolic, Unknown

PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9:._-]+)\}")


def parse_document(value: Any) -> Any:
    """A policy document as data. CloudFormation takes a document as an object or as its JSON
    text (``PolicyDocument: '{"Statement": ...}'``, often built with ``Fn::Sub``); the text is
    parsed, and a string inside it that still names a resource (``${Bucket.Arn}``) stays
    :class:`Symbolic`, so references survive. Text that is not a JSON object is Unknown."""
    if not isinstance(value, str):
        return value
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as exc:
        return Unknown(f"policy document is a string that is not JSON ({exc.msg} at character {exc.pos})")
    if not isinstance(parsed, dict):
        return Unknown(f"policy document is JSON {type(parsed).__name__}, not an object")
    refs = value.refs if isinstance(value, Symbolic) else frozenset()
    return _symbolic(parsed, refs)


def _symbolic(value: Any, refs: frozenset[str]) -> Any:
    if isinstance(value, dict):
        return {k: _symbolic(v, refs) for k, v in value.items()}
    if isinstance(value, list):
        return [_symbolic(v, refs) for v in value]
    if isinstance(value, str) and refs:
        named = {m.split(".", 1)[0] for m in PLACEHOLDER.findall(value)} & refs
        if named:
            return Symbolic(value, frozenset(named))
    return value


def statements(document: Any) -> list[dict[str, Any]]:
    document = parse_document(document)
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


def denies_insecure_transport(document: Any, what: str) -> bool:
    """Whether a resource policy denies everyone any request made without TLS
    (``aws:SecureTransport`` false): an Unknown document is Undecidable, never "no"."""
    document = known(document, what)
    statements = document.get("Statement", []) if isinstance(document, dict) else []
    for statement in [statements] if isinstance(statements, dict) else statements:
        if not isinstance(statement, dict):
            continue  # not a statement, so it denies nothing
        condition = statement.get("Condition")
        tests = condition.get("Bool") if isinstance(condition, dict) else None
        secure = (
            {str(k).lower(): v for k, v in tests.items()}.get("aws:securetransport")
            if isinstance(tests, dict)
            else None
        )
        principal = statement.get("Principal")
        everyone = principal == "*" or (isinstance(principal, dict) and principal.get("AWS") == "*")
        if statement.get("Effect") == "Deny" and str(secure).lower() == "false" and everyone:
            return True
    return False
