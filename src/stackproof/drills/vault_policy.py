"""A vault access policy with one denied action lifted: RES-02 lifts the deny of
``backup:StartRestoreJob`` as seed 002 says, and cleanup lifts the deny of
``backup:DeleteRecoveryPoint`` for its own call only."""

from __future__ import annotations

import copy
from typing import Any


def lift_statement_action(policy: dict[str, Any], action: str) -> dict[str, Any] | None:
    """``policy`` without ``action`` in its Deny statements; None when it did not deny it."""
    lifted = copy.deepcopy(policy)
    changed = False
    for statement in list(lifted.get("Statement", [])):
        if statement.get("Effect") != "Deny":
            continue
        actions = statement.get("Action", [])
        actions = [actions] if isinstance(actions, str) else list(actions)
        if action in actions:
            changed = True
            actions.remove(action)
            if actions:
                statement["Action"] = actions
            else:
                lifted["Statement"].remove(statement)
    return lifted if changed else None
