"""DEP: the deployment as a whole — a set of stacks linked by exports and nested stacks."""

from __future__ import annotations

from typing import Any

import pytest

from stackproof.checking import PARTS, NotEmulated, Undecidable, exists, findings
from stackproof.domain import parts
from stackproof.model.deployment import Deployment


@pytest.mark.control("DEP-01")
def test_the_stacks_of_the_set_fit_together(deployment: Deployment) -> None:
    """An import nothing exports, or a nested stack whose template cannot be read, leaves part
    of the deployment unknown: ERROR naming the export and the importing resource."""
    if deployment.link_problems:
        raise Undecidable(
            "\n".join(
                f"{p.message} — stack {p.stack} ({p.file}:{p.line})" if p.line else f"{p.message} — {p.file}"
                for p in deployment.link_problems
            )
        )
    if not deployment.links:
        pytest.skip("one stack that imports and nests nothing: there are no links between stacks to check")


@pytest.mark.control("DEP-02")
def test_the_deployment_has_every_part_its_system_requires(deployment: Deployment) -> None:
    """One FAIL naming each missing part and its seed; the controls that would have judged a
    missing part are SKIP pointing here (``stackproof.results.evaluate.absent_part``)."""
    required = parts.required(deployment)
    missing: list[str] = []
    unseen: list[str] = []
    with findings() as found:
        for part in required:
            objects: list[Any] | None = None
            try:
                with found.each(part):
                    objects = parts.PRESENCE[part](deployment)
            except NotEmulated as exc:
                unseen.append(f"{part}: {exc}")
                continue
            if objects is None:  # undecided: recorded by found.each
                continue
            if not objects:
                missing.append(part)
                found.fail(f"no {part}: {PARTS[part].source}", expected=f"the {deployment.reference} system's {part}")
                continue
            with found.each(part):
                if not any(exists(o) for o in objects):
                    missing.append(part)
                    found.fail(f"no {part}: {PARTS[part].source} (none exists under these parameters)", *objects)
    if unseen:
        pytest.skip(f"the target cannot show {'; '.join(unseen)}")
