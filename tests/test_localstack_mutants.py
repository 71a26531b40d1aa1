"""Mutants deployed to a running LocalStack fail their controls (``tox -e localstack`` runs this
under ``localstack_runner``): the deployed model reads what the template broke, through
stackproof's providers in LocalStack. Without an endpoint it is skipped, saying so. A module of
its own: the stack of ``test_localstack_deploy``'s module-scoped deployment is gone by then."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

REFERENCES = Path(__file__).resolve().parents[1] / "reference" / "cloudformation"

pytestmark = pytest.mark.skipif(
    not os.environ.get("LOCALSTACK_ENDPOINT"),
    reason="needs a running LocalStack: tox -e localstack runs these (LOCALSTACK_ENDPOINT)",
)

# One deployment breaking three promises at once, each in its own resources (a LocalStack
# deployment takes about half a minute; tox -e localstack stays under three minutes).
BROKEN_TOGETHER = ("db-subnet-through-nat", "http-listener-forwards", "no-themes-notification")


def test_mutants_deployed_to_localstack_fail_their_controls(tmp_path: Path) -> None:
    from stackproof.results.evaluate import evaluate
    from stackproof.targets import TargetOptions, load
    from tests.mutants import MUTANTS

    mutants = [next(m for m in MUTANTS if m.name == name) for name in BROKEN_TOGETHER]
    path = REFERENCES / "dashboard.yaml"
    for mutant in mutants:  # each applied on top of the last
        path = mutant.apply(path, tmp_path)
    # Its own EnvironmentName: what the reference's earlier deployments retain (DeletionPolicy:
    # Retain, as on AWS: the buckets, the file system, a log group) keeps its names.
    parameters = json.loads((REFERENCES / "dashboard.params.json").read_text(encoding="utf-8"))
    parameters.append({"ParameterKey": "EnvironmentName", "ParameterValue": "mutants"})
    params = tmp_path / "mutants.params.json"
    params.write_text(json.dumps(parameters), encoding="utf-8")
    target = load("localstack", TargetOptions(str(path), str(params), "us-east-1"))
    try:
        deployment = target.deployment()
    finally:
        target.close()
    verdicts = {m.control: evaluate(deployment, m.control) for m in mutants}
    assert {control: status for control, (status, _) in verdicts.items()} == {
        "NET-02": "FAIL",
        "TLS-02": "FAIL",
        "DAT-05": "FAIL",
    }, verdicts
    assert evaluate(deployment, "TLS-01")[0] == "PASS"  # what was not broken still passes
