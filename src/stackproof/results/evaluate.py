"""Evaluate checks directly, without a pytest session: for the project's own table-driven
tests and benchmarks. The verdict rules are the plugin's (:func:`status_for`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from stackproof import catalogue
from stackproof.checking import ControlFailed, Undecidable
from stackproof.model.deployment import Deployment
from stackproof.results import ERROR, FAIL, PASS, SKIP
from stackproof.support import paths
from stackproof.support.importing import import_file


@dataclass(frozen=True)
class Check:
    control: str
    name: str
    function: Callable[..., None]


def absent_part(error: BaseException | None, control: str, deployment: Deployment) -> str | None:
    """The SKIP reason for a control whose subject is a part the deployment's system requires
    and lacks: DEP-02 reports that part once (FAIL); the other controls point at it."""
    from stackproof.checking import NothingToCheck
    from stackproof.domain.parts import explained

    if control == "DEP-02" or not isinstance(error, NothingToCheck):
        return None
    if not explained(error.part.name, deployment):
        return None
    return f"no {error.part.name}: {error.part.source} — the deployment lacks it (DEP-02 reports it once)"


def status_for(error: BaseException | None) -> str:
    if error is None:
        return PASS
    if isinstance(error, pytest.skip.Exception):
        return SKIP
    if isinstance(error, Undecidable):
        return ERROR
    if isinstance(error, (ControlFailed, AssertionError)):
        return FAIL
    return ERROR


@cache
def load_checks(directory: Path | None = None) -> tuple[Check, ...]:
    found = []
    for path in sorted((directory or paths.checks_dir()).glob("test_*.py")):
        module = import_file(f"stackproof_checks_{path.stem}", path)
        for attr, value in vars(module).items():
            marks = getattr(value, "pytestmark", [])
            controls = [m.args[0] for m in marks if m.name == "control"]
            if attr.startswith("test_") and controls:
                found.append(Check(controls[0], attr, value))
    return tuple(found)


def is_verdict(error: BaseException) -> bool:
    """Whether ``error`` is how a check ends on purpose (a failure, an undecidable value, a
    skip), rather than a crash that :func:`status_for` would also call ERROR."""
    return isinstance(error, (pytest.skip.Exception, Undecidable, ControlFailed, AssertionError))


def evaluate(deployment: Deployment, control: str, *, crashes: bool = False) -> tuple[str, str]:
    """The worst verdict of ``control``'s checks on ``deployment``, with its message.

    With ``crashes`` an exception that is no verdict (:func:`is_verdict`) propagates instead of
    becoming an ERROR whose message is Python's: tests that hunt crashes need to tell a check
    that could not decide from a check that broke."""
    rank = {PASS: 0, SKIP: 1, FAIL: 2, ERROR: 3}
    targets = catalogue.load()[control].targets
    if deployment.target not in targets:  # as the plugin does
        return SKIP, f"{control} cannot be shown on target {deployment.target} (only on {', '.join(targets)})"
    references = catalogue.load()[control].references
    if deployment.reference not in references:
        return SKIP, f"{control} is a promise of the {', '.join(references)} reference, not of {deployment.reference}"
    verdict, message = "", "no check for this control"
    for check in load_checks():
        if check.control != control:
            continue
        kwargs: dict[str, Any] = {"deployment": deployment}
        if "record_property" in check.function.__code__.co_varnames:
            kwargs["record_property"] = lambda name, value: None
        try:
            check.function(**kwargs)
            status, text = PASS, ""
        except BaseException as exc:
            if crashes and not is_verdict(exc):
                raise
            status, text = status_for(exc), str(exc)
            skipped = absent_part(exc, control, deployment)
            if skipped is not None:
                status, text = SKIP, skipped
        if not verdict or rank[status] > rank[verdict]:
            verdict, message = status, text
    return verdict or ERROR, message
