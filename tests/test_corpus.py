"""Templates nobody here wrote: the fixture templates of cfn-lint 1.58.0's source distribution.

Fetched from PyPI at test time into a cache (``$STACKPROOF_CORPUS_CACHE`` or
``~/.cache/stackproof-corpus``), never into git. Each template is loaded, resolved, built into
a model and judged by every check, in process: no Python exception other than the project's
own input errors, none over 60 s, and no template of ``good/`` refused unless CloudFormation
itself refuses it (``REFUSED_BY_CLOUDFORMATION``, each with its reason).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tarfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

from stackproof.model.from_template import build
from stackproof.model.outcomes import Undecidable
from stackproof.results.evaluate import load_checks, status_for
from stackproof.template.loader import TemplateError, load_template
from stackproof.template.resolver import resolve

pytestmark = pytest.mark.slow

DISTRIBUTION = "cfn-lint==1.58.0"
ARCHIVE = "cfn_lint-1.58.0.tar.gz"
FIXTURES = "cfn_lint-1.58.0/test/fixtures/templates"
TIME_LIMIT = 60

_NO_RESOURCES = "Resources: {} - CloudFormation needs at least one resource (a cfn-lint configuration fixture)"
REFUSED_BY_CLOUDFORMATION: dict[str, str] = {
    "good/core/config_cfn_lint.json": _NO_RESOURCES,
    "good/core/config_cfn_lint.yaml": _NO_RESOURCES,
    "good/core/config_only_i1002.yaml": _NO_RESOURCES,
    "good/core/config_only_i1003.yaml": _NO_RESOURCES,
    "good/core/config_parameters.yaml": _NO_RESOURCES,
    "good/decode/parsing.json": _NO_RESOURCES,
    "good/mappings/name.yaml": _NO_RESOURCES,
    "good/parameters/default.yaml": _NO_RESOURCES,
    "good/resources/cloudformation/stack_nested.yaml": _NO_RESOURCES,
}
"""good/ templates CloudFormation itself refuses (path under templates/ -> why)."""

OWNED_ELSEWHERE: dict[str, str] = {}
"""Exceptions outside the template layer, reported to their owner. Strict: a fixed one fails
this test until it is removed here."""


def cache_dir() -> Path:
    configured = os.environ.get("STACKPROOF_CORPUS_CACHE")
    return Path(configured) if configured else Path.home() / ".cache" / "stackproof-corpus"


@pytest.fixture(scope="module")
def corpus() -> Path:
    cache = cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    archive = cache / ARCHIVE
    if not archive.is_file():
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-binary",
                ":all:",
                "--no-deps",
                DISTRIBUTION,
                "-d",
                str(cache),
            ],
            capture_output=True,
            text=True,
            timeout=600,
        )
        if done.returncode != 0 or not archive.is_file():
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            pytest.skip(f"PyPI cannot be reached to fetch {DISTRIBUTION}: {last}")
    root = cache / FIXTURES
    if not root.is_dir():
        with tarfile.open(archive) as tar:
            members = [m for m in tar.getmembers() if m.name.startswith(FIXTURES + "/") and m.isfile()]
            tar.extractall(cache, members=members, filter="data")
    return root


def templates(root: Path) -> Iterator[Path]:
    for group in ("good", "bad"):
        for path in sorted((root / group).rglob("*")):
            if path.suffix in (".yaml", ".yml", ".json") and path.is_file():
                yield path


class _TimedOut(BaseException):
    pass


def _alarm(signum: int, frame: FrameType | None) -> None:
    raise _TimedOut


@dataclass
class Outcome:
    path: str
    seconds: float
    refused: str | None = None
    crash: str | None = None
    crashes_in_checks: list[str] | None = None


def judge(path: Path, relative: str) -> Outcome:
    started = time.monotonic()
    outcome = Outcome(relative, 0.0)
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(TIME_LIMIT)
    try:
        try:
            resolved = resolve(load_template(path), {}, "us-east-1")
        except TemplateError as exc:
            outcome.refused = str(exc)
            return outcome
        deployment = build(resolved)
        outcome.crashes_in_checks = []
        for check in load_checks():
            kwargs: dict[str, Any] = {"deployment": deployment}
            if "record_property" in check.function.__code__.co_varnames:
                kwargs["record_property"] = lambda name, value: None
            try:
                check.function(**kwargs)
            except _TimedOut:
                raise
            except BaseException as exc:
                if status_for(exc) == "ERROR" and not isinstance(exc, Undecidable):
                    outcome.crashes_in_checks.append(f"{check.control} {check.name}: {type(exc).__name__}: {exc}")
    except _TimedOut:
        outcome.crash = f"over {TIME_LIMIT} s"
    except Exception as exc:
        outcome.crash = f"{type(exc).__name__}: {exc}"
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
        outcome.seconds = time.monotonic() - started
    return outcome


def test_the_cfn_lint_fixture_corpus(corpus: Path, capsys: pytest.CaptureFixture[str]) -> None:
    started = time.monotonic()
    outcomes = [judge(path, str(path.relative_to(corpus))) for path in templates(corpus)]
    elapsed = time.monotonic() - started
    crashes = [f"{o.path}: {o.crash}" for o in outcomes if o.crash and o.path not in OWNED_ELSEWHERE]
    check_crashes = [f"{o.path}: {c}" for o in outcomes for c in o.crashes_in_checks or []]
    refused_good = {o.path: o.refused for o in outcomes if o.refused and o.path.startswith("good/")}
    wrongly_refused = {p: r for p, r in refused_good.items() if p not in REFUSED_BY_CLOUDFORMATION}
    groups = Counter(o.path.split("/", 1)[0] for o in outcomes)
    refused = Counter(o.path.split("/", 1)[0] for o in outcomes if o.refused)
    slowest = max(outcomes, key=lambda o: o.seconds)
    with capsys.disabled():
        print(
            f"\ncorpus {DISTRIBUTION}: {len(outcomes)} templates (good {groups['good']}, bad {groups['bad']}),"
            f" loaded {len(outcomes) - sum(refused.values())}, refused good {refused['good']}"
            f" (all by CloudFormation too: {len(refused_good) - len(wrongly_refused)}), refused bad {refused['bad']},"
            f" exceptions {len(crashes)} (+{len(OWNED_ELSEWHERE)} reported to the model's owner), check/model exceptions {len(check_crashes)},"
            f" {elapsed:.0f} s (slowest {slowest.path} {slowest.seconds:.1f} s)"
        )
        for line in check_crashes:
            print(f"  check exception: {line}")
    assert {o.path: o.crash for o in outcomes if o.crash} == OWNED_ELSEWHERE
    assert wrongly_refused == {}
    assert check_crashes == []
