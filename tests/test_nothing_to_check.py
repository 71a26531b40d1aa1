"""No vacuous verdicts: a control whose subject is absent FAILs, naming the missing part and
the seed that promises it, and every loop a check makes over the deployment says deliberately
whether an empty collection is its subject (``subjects``) or harmless (``optional``)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from stackproof import catalogue
from stackproof.checking import NothingToCheck, optional, subjects
from stackproof.model.deployment import Deployment
from stackproof.model.from_template import build
from stackproof.model.types import StackTemplate
from stackproof.results.evaluate import evaluate
from stackproof.support import paths
from stackproof.template.loader import load_template
from stackproof.template.resolver import resolve
from tests.conftest import REGION

TEMPLATE = Path(__file__).parent / "templates" / "nothing_to_check.yaml"
WRAPPERS = {"subjects", "optional"}


def unwrapped_loops(source: str, filename: str = "<check>") -> list[str]:
    """Each ``for`` whose iterable reads the deployment without going through subjects() or
    optional(), as "file:line: loop"."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if not isinstance(node, (ast.For, ast.AsyncFor)):
            continue
        reads = any(isinstance(n, ast.Name) and n.id == "deployment" for n in ast.walk(node.iter))
        wrapped = (
            isinstance(node.iter, ast.Call) and isinstance(node.iter.func, ast.Name) and node.iter.func.id in WRAPPERS
        )
        if reads and not wrapped:
            found.append(f"{filename}:{node.lineno}: for ... in {ast.unparse(node.iter)}")
    return found


def test_every_loop_over_the_deployment_in_checks_is_deliberate() -> None:
    offenders = [
        loop
        for module in sorted(paths.checks_dir().glob("*.py"))
        for loop in unwrapped_loops(module.read_text(encoding="utf-8"), module.name)
    ]
    assert offenders == []


@pytest.mark.parametrize(
    ("source", "count"),
    [
        ("def t(deployment):\n    for x in deployment.all(Listener):\n        pass\n", 1),
        ("def t(deployment):\n    for x in listeners(deployment, 80):\n        pass\n", 1),
        ("def t(deployment):\n    for x in deployment.policies:\n        pass\n", 1),
        ("def t(deployment):\n    for x in sorted(deployment.security_groups(k)):\n        pass\n", 1),
        ("def t(deployment):\n    for x in subjects(deployment.all(Listener), 'listener'):\n        pass\n", 0),
        ("def t(deployment):\n    for x in optional(deployment.all(Listener), 'why'):\n        pass\n", 0),
        ("def t(deployment):\n    for rule in group.ingress():\n        pass\n", 0),
    ],
)
def test_the_loop_detector_can_fail(source: str, count: int) -> None:
    assert len(unwrapped_loops(source)) == count


def test_subjects_names_the_part_and_its_seed() -> None:
    with pytest.raises(NothingToCheck) as raised:
        subjects([], "Auto Scaling group")
    assert str(raised.value) == "no Auto Scaling group: seed 002 step 3"
    assert subjects(iter([1, 2]), "Auto Scaling group") == [1, 2]
    with pytest.raises(KeyError):
        subjects([], "a part nobody named")


def test_optional_needs_its_reason() -> None:
    assert optional([], "the group is the subject") == []
    with pytest.raises(ValueError, match="reason"):
        optional([], " ")


@pytest.fixture(scope="module")
def bare() -> Deployment:
    return build(resolve(load_template(TEMPLATE), {}, REGION))


# The absences the issue names: the part is one the dashboard requires, so DEP-02 FAILs naming it
# once and each of these is SKIP pointing there; none PASSes.
ABSENT = [
    ("TLS-02", "no listener on port 80: seed 002 step 1"),
    ("SCL-05", "no Auto Scaling group: seed 002 step 3"),
    ("NET-02", "no database: seed 002 step 3"),
    ("NET-03", "no database: seed 002 step 3"),
    ("DAT-01", "no RDS database: seed 002 step 3"),
    ("DAT-02", "no RDS database: seed 002 step 3"),
    ("DAT-03", "no RDS database: seed 002 step 3"),
]


@pytest.mark.parametrize(("control", "evidence"), ABSENT)
def test_an_absent_subject_is_reported_once_and_never_passes(bare: Deployment, control: str, evidence: str) -> None:
    status, message = evaluate(bare, control)
    assert status == "SKIP", message
    assert message.startswith(evidence)
    assert message.endswith("the deployment lacks it (DEP-02 reports it once)")


def test_the_missing_parts_are_one_failure_of_dep02(bare: Deployment) -> None:
    status, message = evaluate(bare, "DEP-02")
    assert status == "FAIL"
    named = [line.split(":")[0] for line in message.splitlines()]
    assert "no listener on port 80" in named
    assert "no Auto Scaling group" in named
    assert "no RDS database" in named
    assert len(named) == len(set(named))


def test_an_absent_part_the_system_does_not_require_still_fails(bare: Deployment) -> None:
    """The dashboard does not list an identity policy among its parts: IAM-03 FAILs itself."""
    status, message = evaluate(bare, "IAM-03")
    assert status == "FAIL", message
    assert message.startswith("no identity policy")


TEMPLATE_CONTROLS = sorted(
    cid for cid, c in catalogue.load().items() if c.active and "template" in c.targets and c.suite == "checks"
)


# Controls whose subject no deployment lacks: QTA-04 judges each stack's template itself, and a
# small template is within CloudFormation's limits. That the template is there is what is asserted.
ALWAYS_THERE = {"QTA-04": StackTemplate}


@pytest.mark.parametrize("control", [c for c in TEMPLATE_CONTROLS if c not in ALWAYS_THERE])
def test_no_control_passes_on_a_deployment_without_its_subject(bare: Deployment, control: str) -> None:
    status, _ = evaluate(bare, control)
    assert status != "PASS", f"{control} passed over a deployment with nothing it promises"


@pytest.mark.parametrize("control", sorted(ALWAYS_THERE))
def test_a_control_whose_subject_is_always_there_judges_it(bare: Deployment, control: str) -> None:
    assert len(bare.all(ALWAYS_THERE[control])) == 1
    assert evaluate(bare, control) == ("PASS", "")


def test_the_system_comes_from_the_command_line_over_the_metadata(tmp_path: Path) -> None:
    """--system analytics holds the dashboard's template to the analytics platform's parts."""
    from tests.conftest import stackproof_run

    proc = stackproof_run("--system", "analytics", "-k", "every_part", "-v")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "no ECS service: seed 000" in proc.stdout
    assert "no Redshift analytics database: seed 000" in proc.stdout
    assert stackproof_run("-k", "every_part").returncode == 0
