"""Cross-target agreement: each mutant that deploys gets the same verdict on the template and
on moto. Slow (every mutant is deployed), and the strongest evidence that a check reads the
model and not the way a target happens to build it."""

from __future__ import annotations

from pathlib import Path

import pytest

from stackproof import catalogue
from stackproof.results.evaluate import evaluate
from stackproof.targets import TargetError, TargetOptions, load
from tests.conftest import REGION, TEMPLATE
from tests.mutants import MUTANTS, Mutant
from tests.test_controls import model_of

PARAMS = str(TEMPLATE.with_name("dashboard.params.json"))

# CloudFormation (and so moto) refuses these stacks: there is no deployed stack to compare.
NOT_DEPLOYABLE = {
    "multi-az-from-unset-parameter": "a parameter without a value",
    "efs-unencrypted": "a KMS key on an unencrypted file system",
}
# The template cannot decide these (ERROR); a deployed stack shows what the template could not.
DEPLOYED_DECIDES = {"db-subnet-main-route-table": "the VPC's main route table exists only once deployed"}

pytestmark = [pytest.mark.moto, pytest.mark.slow]
ON_MOTO = [m for m in MUTANTS if "moto" in catalogue.load()[m.control].targets]


@pytest.mark.parametrize(
    "mutant", [m for m in ON_MOTO if m.name not in NOT_DEPLOYABLE], ids=lambda m: f"{m.control}:{m.name}"
)
def test_template_and_moto_agree(mutant: Mutant, tmp_path: Path, aws_credentials: None) -> None:
    path = mutant.apply(TEMPLATE, tmp_path)
    on_template = evaluate(model_of(path), mutant.control)
    target = load("moto", TargetOptions(str(path), PARAMS, REGION))
    try:
        on_moto = evaluate(target.deployment(), mutant.control)
    finally:
        target.close()
    if mutant.name in DEPLOYED_DECIDES:
        assert on_template[0] == "ERROR"
        assert on_moto[0] in ("PASS", "FAIL"), on_moto
    else:
        assert on_moto[0] == on_template[0], (on_template, on_moto)


@pytest.mark.parametrize("name", sorted(NOT_DEPLOYABLE))
def test_excluded_mutants_really_do_not_deploy(name: str, tmp_path: Path, aws_credentials: None) -> None:
    mutant = next(m for m in MUTANTS if m.name == name)
    target = load("moto", TargetOptions(str(mutant.apply(TEMPLATE, tmp_path)), PARAMS, REGION))
    with pytest.raises(TargetError):
        target.deployment()
    target.close()
