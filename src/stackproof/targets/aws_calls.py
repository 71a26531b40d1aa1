"""Count and police the AWS API calls a target makes (botocore event hooks)."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

# Operations that only read. Anything else changes the account.
READ_ONLY = re.compile(
    r"^(Describe|Get|List|Lookup|Search|Select|Head|BatchGet|Check|Validate|Estimate|Preview|Filter|Scan|Query)"
)


class WriteRefused(Exception):
    """A non-read API call was attempted where changes are not allowed."""


class CallRecorder:
    """Registers on a boto3 session; counts every API call as ``service.Operation``."""

    def __init__(self, session: Any, *, read_only: bool = False, allowed: frozenset[str] = frozenset()) -> None:
        self.calls: Counter[str] = Counter()
        self.read_only = read_only
        self.allowed = allowed
        session.events.register("before-call", self._before_call)

    def _before_call(self, event_name: str, model: Any, **kwargs: Any) -> None:
        service = event_name.split(".")[1] if "." in event_name else "?"
        operation = getattr(model, "name", "?")
        name = f"{service}.{operation}"
        if self.read_only and not READ_ONLY.match(operation) and name not in self.allowed:
            raise WriteRefused(f"{name} changes the account; this run is read-only (no scenario allowed it)")
        self.calls[name] += 1

    @property
    def total(self) -> int:
        return sum(self.calls.values())

    def reset(self) -> None:
        self.calls.clear()
