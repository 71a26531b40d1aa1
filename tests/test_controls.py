"""Every active control passes on the reference and stops passing on a mutant of it."""

from __future__ import annotations

from pathlib import Path

import pytest

from stackproof import catalogue
from stackproof.model.deployment import Deployment
from stackproof.model.from_template import build
from stackproof.results.evaluate import evaluate, load_checks
from stackproof.template.loader import load_parameters, load_template
from stackproof.template.resolver import resolve
from tests.conftest import TEMPLATE
from tests.mutants import MUTANTS, Mutant

PARAMS = TEMPLATE.with_name("dashboard.params.json")
ACTIVE = sorted(
    cid
    for cid, c in catalogue.load().items()
    if c.active and "template" in c.targets and "dashboard" in c.references and c.suite == "checks"
)


def model_of(path: Path) -> Deployment:
    return build(resolve(load_template(path), load_parameters(PARAMS), "eu-west-1"))


# Controls of a deployment's stacks together: shown on the reference as its vendor ships it
# (dashboard-set/), and broken by the stack-set cases of tests/test_stack_sets.py.
OF_A_SET = {"DEP-01"}


@pytest.fixture(scope="module")
def reference() -> Deployment:
    return model_of(TEMPLATE)


@pytest.fixture(scope="module")
def reference_set() -> Deployment:
    from stackproof.targets import TargetOptions
    from stackproof.targets.template import TemplateTarget

    stacks = str(TEMPLATE.with_name("dashboard-set"))
    return TemplateTarget(TargetOptions(stacks, str(PARAMS), "eu-west-1", templates=(stacks,))).deployment()


@pytest.mark.parametrize("control", ACTIVE)
def test_control_passes_on_the_reference(reference: Deployment, reference_set: Deployment, control: str) -> None:
    status, message = evaluate(reference_set if control in OF_A_SET else reference, control)
    assert status == "PASS", message


@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda m: f"{m.control}:{m.name}")
def test_mutant_breaks_its_control(mutant: Mutant, tmp_path: Path) -> None:
    status, message = evaluate(model_of(mutant.apply(TEMPLATE, tmp_path)), mutant.control)
    assert status == mutant.expected, message
    assert message, "a verdict other than PASS carries its evidence"


def test_every_template_control_has_a_mutant() -> None:
    """QTA-02, shown only on deployed targets, fails on a deployed mutant in test_targets."""
    assert sorted({m.control for m in MUTANTS} | OF_A_SET) == ACTIVE


def test_checks_and_catalogue_agree() -> None:
    checked: dict[str, list[str]] = {}
    for check in load_checks():
        checked.setdefault(check.control, []).append(check.name)
    assert catalogue.validate_coverage(catalogue.load(), checked) == []
