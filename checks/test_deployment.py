"""DEP: the deployment as a whole — a set of stacks linked by exports and nested stacks."""

from __future__ import annotations

import pytest

from stackproof.checking import Undecidable
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
