"""The IAM policies stackproof ships, proven by the calls a run records: every call of an aws-target
run on either reference is allowed by ``stackproof-readonly.json``, which holds only reads; every
call the drills make is allowed by ``stackproof-drills.json``, whose changes are scoped by the
stack's tag wherever the action takes that condition."""

from __future__ import annotations

import dataclasses
import io
import json
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from stackproof.emulator import mariadb_data
from stackproof.results.evaluate import evaluate
from stackproof.targets import TargetOptions, load
from stackproof.targets.moto import MotoServerTarget, MotoTarget
from stackproof.targets.permissions import (
    RESOURCE_TAG_SCOPABLE,
    action_for,
    actions_for,
    allowed_actions,
    is_allowed,
    non_read,
)
from stackproof.targets.stack_handle import StackHandle
from tests.conftest import REGION, ROOT

pytestmark = pytest.mark.moto

CLOUDFORMATION = ROOT / "reference" / "cloudformation"
READONLY = ROOT / "reference" / "iam" / "stackproof-readonly.json"
DRILLS = ROOT / "reference" / "iam" / "stackproof-drills.json"
STACK_TAG = "aws:ResourceTag/aws:cloudformation:stack-name"


def deployed(reference: str) -> MotoServerTarget:
    """A moto-server target for the reference, on emptied accounts: moto's server keeps them in
    the process, and what an earlier test in this worker left (a log group of the same name)
    would make CreateStack fail."""
    from moto.moto_api._internal.models import moto_api_backend

    moto_api_backend.reset()
    return MotoServerTarget(
        TargetOptions(
            str(CLOUDFORMATION / f"{reference}.yaml"), str(CLOUDFORMATION / f"{reference}.params.json"), REGION
        )
    )


@pytest.fixture
def served(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, aws_credentials: None) -> Iterator[Any]:
    """The reference named by the test's parameter deployed on moto's server, kept running;
    AWS_ENDPOINT_URL points there, as a user's environment would point at AWS."""
    server = deployed(request.param)
    try:
        stack = server.open_stack()
        monkeypatch.setenv("AWS_ENDPOINT_URL", server._endpoint)
        yield stack
    finally:
        server.close()


# What each reference's run must have asked, beyond the reads both share: the proof covers them.
SPECIFIC = {
    "dashboard": {"backup:ListBackupSelections", "elasticfilesystem:DescribeFileSystemPolicy", "lambda:GetFunction"},
    "analytics": {
        "ecr:DescribeRepositories",
        "ecs:DescribeServices",
        "ecs:DescribeTaskDefinition",
        "redshift:DescribeClusterSubnetGroups",
        "redshift:DescribeClusters",
    },
}


@pytest.mark.parametrize("served", ["dashboard", "analytics"], indirect=True)
def test_least_privilege_policy_allows_every_call_of_a_run_and_only_reads(served: StackHandle) -> None:
    allowed = allowed_actions(READONLY)
    assert non_read(allowed) == []
    reference = served.template.stem
    target: Any = load(
        "aws", TargetOptions(str(served.template), None, REGION, stack_name=served.stack_name, probe_tls=False)
    )
    model = target.deployment()
    calls = sorted(target.recorder.calls)
    actions = {action_for(c) for c in calls}
    assert [c for c in calls if not is_allowed(action_for(c), allowed)] == []
    assert len(calls) > 30
    assert SPECIFIC[reference] <= actions
    # The quota reads are the run's calls too, and the printed count includes them.
    assert target.recorder.calls["service-quotas.GetServiceQuota"] > 0
    assert model.api_calls == dict(target.recorder.calls)
    assert evaluate(model, "NET-02")[0] == "PASS"
    # QTA-02 read the account's quotas (its calls are among those allowed above); its verdict
    # depends on what moto's process-wide quotas hold, so it is judged in the QTA-02 tests.
    if reference == "dashboard":
        assert evaluate(model, "QTA-02")[0] in ("PASS", "FAIL")


# --------------------------------------------------------------------------- the drills policy


def counting(recorder_of: Callable[..., Any], emulator: Counter[str], function: Callable[..., Any]) -> Any:
    """``function`` wrapped so that the calls it makes are added to ``emulator``: the emulator
    standing in for what AWS does itself (alarm evaluation, the S3 notification's Lambda)."""

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        recorder = recorder_of(*args)
        before = Counter(recorder.calls)
        try:
            return function(*args, **kwargs)
        finally:
            emulator.update(Counter(recorder.calls) - before)

    return wrapped


def drill_calls(monkeypatch: pytest.MonkeyPatch) -> tuple[Counter[str], Counter[str]]:
    """Every call of ``stackproof drill`` (all drills, on moto) after each stack was deployed:
    (the drills' own, the emulator's on their behalf)."""
    from stackproof.cli.run import RunOptions, main
    from stackproof.emulator import alarm_engine, lambda_local

    opened: list[MotoTarget] = []
    open_stack = MotoTarget.open_stack

    def recorded(self: MotoTarget) -> StackHandle:
        opened.append(self)
        return open_stack(self)

    emulator: Counter[str] = Counter()
    monkeypatch.setattr(MotoTarget, "open_stack", recorded)
    tick = alarm_engine.AlarmEngine.tick
    monkeypatch.setattr(
        alarm_engine.AlarmEngine, "tick", counting(lambda engine, *_: engine.client.recorder, emulator, tick)
    )
    deliver = lambda_local.deliver_pending
    monkeypatch.setattr(lambda_local, "deliver_pending", counting(lambda client: client.recorder, emulator, deliver))
    out = io.StringIO()
    main(RunOptions(targets="moto", drills=[], write_reports=False), out=out)
    # Without MariaDB, RES-01 and RES-03 run every step but the rows' and are SKIP for that.
    assert ("stackproof: 5 pass" if mariadb_data.unavailable() is None else "stackproof: 3 pass, 2 skip") in (
        out.getvalue()
    ), out.getvalue()
    assert len(opened) == 5  # SCL-05 and RES-01..04, each on a stack of its own
    total: Counter[str] = Counter()
    for target in opened:
        total.update(target.recorder.calls)
    return total - emulator, emulator


def guard_calls(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """The calls the live guards make before a drill may touch a stack (the account, the
    stack's resources, their tags), recorded against a stack on moto's server. moto tags
    nothing with aws:cloudformation:stack-name, so the guards refuse, after every read."""
    from stackproof import plugin
    from stackproof.drills.guards import GuardRefused
    from stackproof.results.session import Session
    from stackproof.targets import aws_calls

    made: list[aws_calls.ClientCache] = []

    class Kept(aws_calls.ClientCache):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(aws_calls, "ClientCache", Kept)
    server = deployed("dashboard")
    try:
        stack = server.open_stack()
        monkeypatch.setenv("AWS_ENDPOINT_URL", server._endpoint)
        session = Session(
            ["aws"],
            str(stack.template),
            None,
            REGION,
            stack.stack_name,
            allow_destructive=True,
            account_id="123456789012",
        )
        with pytest.raises(GuardRefused, match="not tagged as belonging to stack stackproof"):
            plugin.live_stack(session)
    finally:
        server.close()
    (clients,) = made
    return Counter(clients.recorder.calls)


def live_drill_calls(monkeypatch: pytest.MonkeyPatch, journals: Path) -> Counter[str]:
    """The calls the drills make on a live account, recorded on the live code path
    (``emulated=False``) against a stack on moto's server, whose emulator runs the FIS actions and
    Run Command: RES-01 and RES-02 with their rows and files through SSM, RES-03 and RES-04 with
    their FIS experiments, stop alarm and canary files through SSM; and the template cleanup of a
    run that died before it learnt its template's ID."""
    import boto3

    from stackproof.drills import instance_data, journal
    from stackproof.drills.az_loss import az_loss_drill
    from stackproof.drills.efs_restore import efs_restore_drill
    from stackproof.drills.engine import StepFailed
    from stackproof.drills.instance_loss import instance_loss_drill
    from stackproof.drills.rds_restore import rds_restore_drill
    from stackproof.emulator import fis_actions
    from stackproof.targets.aws_calls import CallRecorder, ClientCache
    from stackproof.targets.ssm_run import run_script
    from tests.test_ssm_drills import relaunch

    monkeypatch.setattr(fis_actions, "time_scale", 0.01)
    monkeypatch.setenv(journal.ENVIRONMENT, str(journals))
    role, region = "arn:aws:iam::123456789012:role/stackproof-fis", "us-east-1"  # the parameters' zones
    dashboard = CLOUDFORMATION / "dashboard"
    server = MotoServerTarget(TargetOptions(f"{dashboard}.yaml", f"{dashboard}.params.json", region))
    try:
        stack = server.open_stack()
        session = boto3.Session(region_name=region, aws_access_key_id="testing", aws_secret_access_key="testing")
        client = ClientCache(session, CallRecorder(), endpoint_url=server._endpoint)
        live = StackHandle(client, stack.stack_name, {}, stack.template, region, emulated=False)
        unrecorded = ClientCache(session, CallRecorder(), endpoint_url=server._endpoint)
        operator = dataclasses.replace(live, client=unrecorded)
        rows = mariadb_data.unavailable() is None
        for restore in (lambda: rds_restore_drill(live, rows=rows), lambda: efs_restore_drill(live)):
            relaunch(operator)
            result = restore().run()
            assert result.status == "ok", result.error
        relaunch(operator)
        through_ssm = {"files": True, "fis_role_arn": role}
        for drill in (az_loss_drill(live, rows, **through_ssm), instance_loss_drill(live, **through_ssm)):
            result = drill.run()
            assert result.status == "ok", result.error
        fleet = instance_data.Fleet.of(live)  # past its timeout, before the agent's 2 s: CancelCommand
        (overran,) = run_script(live.client, instance_data.instances(fleet)[:1], "sleep 30", timeout=1.5, poll=0.1)
        assert overran.status == "TimedOut"
        drill = az_loss_drill(live, False, **through_ssm)  # one that fails mid-experiment: StopExperiment
        disaster = next(s for s in drill.steps if s.marks == "disaster")

        def then_fail(d: Any) -> None:
            disaster.action(d)
            raise StepFailed("a step failing while the zone is cut off")

        drill.steps = [dataclasses.replace(s, action=then_fail) if s is disaster else s for s in drill.steps]
        assert drill.run().cleaned
        journal.run_undo(journal.Undo("fis.delete-experiment-template", {"run": "died-early"}), client)
    finally:
        server.close()
    return Counter(client.recorder.calls)


def statements(policy: Path) -> list[dict[str, Any]]:
    document: dict[str, Any] = json.loads(policy.read_text(encoding="utf-8"))
    return list(document["Statement"])


def listed(statement: dict[str, Any]) -> list[str]:
    actions = statement["Action"]
    return [actions] if isinstance(actions, str) else list(actions)


def test_drills_policy_allows_every_call_the_drills_make_and_scopes_changes_by_the_stack_tag(
    monkeypatch: pytest.MonkeyPatch, aws_credentials: None, tmp_path: Path
) -> None:
    own, emulator = drill_calls(monkeypatch)
    guards = guard_calls(monkeypatch)
    live = live_drill_calls(monkeypatch, tmp_path)
    allowed = allowed_actions(DRILLS)
    needed = sorted({a for call in (own + guards + live) for a in actions_for(call)} - {"sts:GetCallerIdentity"})
    assert [a for a in needed if not is_allowed(a, allowed)] == []
    if mariadb_data.unavailable() is not None:
        # Without MariaDB no drill checks rows, which is what reads the database's secret; the
        # proof that the policy grants nothing unused is then made where MariaDB is (CI).
        needed = sorted({*needed, "secretsmanager:GetSecretValue"})
    # Exactly what was recorded (and what those calls depend on): nothing granted unused.
    assert sorted(set(allowed)) == needed
    # Run Command: on the stack's instances, with the one document the drills send.
    assert sorted(
        (s["Resource"], s.get("Condition")) for s in statements(DRILLS) if "ssm:SendCommand" in listed(s)
    ) == [
        ("arn:aws:ec2:*:*:instance/*", {"StringEquals": {STACK_TAG: "STACK_NAME"}}),
        ("arn:aws:ssm:*::document/AWS-RunShellScript", None),
    ]
    # What the emulator did in AWS's place is CloudWatch's and Lambda's own work on AWS.
    assert {action_for(c) for c in emulator} == {
        "autoscaling:DescribeAutoScalingGroups",
        "autoscaling:DescribePolicies",
        "autoscaling:SetDesiredCapacity",
        "cloudwatch:DescribeAlarms",
        "cloudwatch:GetMetricStatistics",
        "cloudwatch:SetAlarmState",
        "elasticfilesystem:DescribeAccessPoints",
        "lambda:GetFunctionConfiguration",
        "s3:GetObject",
    }
    changing = set(non_read(allowed))
    assert {"rds:RestoreDBInstanceFromDBSnapshot", "backup:StartRestoreJob", "ec2:TerminateInstances"} <= changing
    assert {"fis:StartExperiment", "fis:StopExperiment", "fis:DeleteExperimentTemplate"} <= changing
    assert {"ssm:SendCommand", "ssm:CancelCommand"} <= changing
    for statement in statements(DRILLS):
        assert statement["Effect"] == "Allow"
        assert statement["Sid"]  # each says what it grants and why it is scoped as it is
        condition = statement.get("Condition", {})
        tagged = STACK_TAG in condition.get("StringEquals", {})
        if tagged:  # only actions whose resources take aws:ResourceTag carry the stack's tag
            assert condition == {"StringEquals": {STACK_TAG: "STACK_NAME"}}
            assert set(listed(statement)) <= RESOURCE_TAG_SCOPABLE, statement["Sid"]
    scoped = {
        a for s in statements(DRILLS) if STACK_TAG in s.get("Condition", {}).get("StringEquals", {}) for a in listed(s)
    }
    assert scoped == RESOURCE_TAG_SCOPABLE
