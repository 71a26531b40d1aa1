"""The ssm:// testinfra backend on its own, with a fake ``run_script``: what each SSM outcome
becomes for a check (an exit code, an ERROR with the reason, output that cannot be read)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
import testinfra.backend

from stackproof.model.outcomes import Undecidable
from stackproof.results.evaluate import status_for
from stackproof.targets import testinfra_ssm
from stackproof.targets.ssm_run import CommandResult

INSTANCE = "i-0abc1234567890def"


class FakeRunner:
    """Answers every script with ``answer`` and remembers what was asked."""

    def __init__(self, answer: CommandResult | list[CommandResult]) -> None:
        self.answer = answer
        self.calls: list[tuple[Any, list[str], str, dict[str, Any]]] = []

    def __call__(self, client: Any, instance_ids: Sequence[str], script: str, **options: Any) -> list[CommandResult]:
        self.calls.append((client, list(instance_ids), script, options))
        return self.answer if isinstance(self.answer, list) else [self.answer]


def result(status: str, code: int | None, stdout: str = "", stderr: str = "", truncated: bool = False) -> CommandResult:
    return CommandResult(INSTANCE, status, code, stdout, stderr, truncated)


def host_with(answer: CommandResult | list[CommandResult], **options: Any) -> tuple[Any, FakeRunner]:
    runner = FakeRunner(answer)
    return testinfra_ssm.get_host(f"ssm://{INSTANCE}", client="the-client", runner=runner, **options), runner


def test_registered_in_testinfras_backend_table() -> None:
    testinfra_ssm.register()
    assert testinfra.backend.BACKENDS["ssm"] == "stackproof.targets.testinfra_ssm.SsmBackend"
    host, _ = host_with(result("Success", 0))
    assert host.backend.get_pytest_id() == f"ssm://{INSTANCE}"
    assert host.backend.get_connection_type() == "ssm"


def test_a_command_runs_through_run_script_with_its_arguments_quoted() -> None:
    host, runner = host_with(result("Success", 0, "root\n"), timeout="30")
    out = host.run("stat -c %%U %s", "/var/panintelligence/my env")
    assert (out.rc, out.stdout, out.succeeded) == (0, "root\n", True)
    client, ids, script, options = runner.calls[0]
    assert (client, ids, script) == ("the-client", [INSTANCE], "stat -c %U '/var/panintelligence/my env'")
    assert options["timeout"] == 30.0


def test_a_non_zero_exit_is_an_answer_not_an_error() -> None:
    host, _ = host_with(result("Failed", 3, "inactive\n"))
    out = host.run("systemctl is-active amazon-ssm-agent")
    assert (out.rc, out.stdout, out.failed) == (3, "inactive\n", True)


@pytest.mark.parametrize(
    ("status", "code", "stderr", "reason"),
    [
        (
            "TimedOut",
            None,
            "stackproof: no final status after 120 s (last InProgress); cancelled",
            "(TimedOut): stackproof: no final status after 120 s (last InProgress); cancelled",
        ),
        (
            "Undeliverable",
            None,
            "SendCommand refused: InvalidInstanceId",
            "(Undeliverable): SendCommand refused: InvalidInstanceId",
        ),
        ("DeliveryTimedOut", None, "", "(DeliveryTimedOut)"),
        ("Cancelled", None, "", "(Cancelled)"),
        ("AccessDenied", None, "", "(AccessDenied)"),
        ("Failed", None, "", "(Failed)"),
        ("Failed", -1, "", "(Failed)"),
    ],
)
def test_a_command_that_did_not_run_is_error_with_its_reason(
    status: str, code: int | None, stderr: str, reason: str
) -> None:
    host, _ = host_with(result(status, code, "partial", stderr))
    with pytest.raises(testinfra_ssm.CommandNotRun) as raised:
        host.run("cat /proc/mounts")
    assert str(raised.value) == f"{INSTANCE}: the command did not run {reason}"
    assert status_for(raised.value) == "ERROR"


def test_a_testinfra_module_over_a_command_that_timed_out_is_error_not_a_pass() -> None:
    host, _ = host_with(result("TimedOut", None))
    with pytest.raises(Undecidable, match="did not run"):
        assert host.file("/var/panintelligence/dashboard.env").exists


def test_truncated_output_cannot_be_read_but_the_exit_code_can() -> None:
    cut = "x" * 23_977 + "\n---Output truncated---"
    host, _ = host_with(result("Success", 0, cut, "", truncated=True))
    out = host.run("cat /proc/mounts")
    assert out.rc == 0
    for stream in ("stdout", "stderr"):
        with pytest.raises(testinfra_ssm.OutputTruncated, match="SSM cut the output of 'cat /proc/mounts'") as raised:
            getattr(out, stream)
        assert status_for(raised.value) == "ERROR"
    with pytest.raises(testinfra_ssm.OutputTruncated):
        host.check_output("cat /proc/mounts")


def test_an_answer_for_another_number_of_instances_is_error() -> None:
    host, _ = host_with([result("Success", 0), result("Success", 0)])
    with pytest.raises(testinfra_ssm.CommandNotRun, match="answered for 2 instances, not 1"):
        host.run("true")


class Groups:
    """A client with one stack holding one group (the ClientCache call shape)."""

    def __init__(self, instances: list[dict[str, str]]) -> None:
        self.instances = instances

    def __call__(self, service: str, region: str | None = None) -> Any:
        return self

    def get_paginator(self, name: str) -> Any:
        return self

    def paginate(self, StackName: str) -> list[dict[str, Any]]:
        from botocore.exceptions import ClientError

        if StackName != "dashboard":
            raise ClientError(
                {"Error": {"Code": "ValidationError", "Message": f"Stack with id {StackName} does not exist"}},
                "ListStackResources",
            )
        summary = {"ResourceType": "AWS::AutoScaling::AutoScalingGroup", "PhysicalResourceId": "dashboard-asg"}
        return [{"StackResourceSummaries": [summary]}]

    def describe_auto_scaling_groups(self, AutoScalingGroupNames: list[str]) -> dict[str, Any]:
        if AutoScalingGroupNames != ["dashboard-asg"]:
            return {"AutoScalingGroups": []}
        return {"AutoScalingGroups": [{"Instances": self.instances}]}


def test_a_stack_or_group_expands_to_its_instances_in_service() -> None:
    client = Groups(
        [
            {"InstanceId": "i-2", "LifecycleState": "InService"},
            {"InstanceId": "i-1", "LifecycleState": "InService"},
            {"InstanceId": "i-3", "LifecycleState": "Terminating"},
        ]
    )
    assert testinfra_ssm.SsmBackend.get_hosts("dashboard", client=client) == ["i-1", "i-2"]
    assert testinfra_ssm.SsmBackend.get_hosts("dashboard-asg", client=client) == ["i-1", "i-2"]
    assert testinfra_ssm.SsmBackend.get_hosts("i-9", client=client) == ["i-9"]
    testinfra_ssm.register()
    hosts = testinfra.get_hosts(["ssm://dashboard"], client=client, runner=FakeRunner(result("Success", 0)))
    assert [h.backend.hostname for h in hosts] == ["i-1", "i-2"]


def test_nothing_in_service_or_no_such_name_is_error_never_an_empty_pass() -> None:
    with pytest.raises(testinfra_ssm.NoHosts, match="ssm://dashboard: no instance in service to check"):
        testinfra_ssm.expand(Groups([{"InstanceId": "i-1", "LifecycleState": "Pending"}]), "dashboard")
    with pytest.raises(testinfra_ssm.NoHosts, match="ssm://elsewhere: neither a stack nor an Auto Scaling group"):
        testinfra_ssm.expand(Groups([]), "elsewhere")


@pytest.mark.moto
def test_the_live_path_through_run_command_on_motos_server(aws_credentials: None) -> None:
    """No fake: SendCommand and GetCommandInvocation on moto's server, whose SSM emulator runs
    the script for the instance (stackproof.emulator.ssm_sandbox)."""
    from stackproof.support import paths
    from stackproof.targets import TargetOptions
    from stackproof.targets.moto import MotoServerTarget

    templates, params = paths.template_and_params(None, None, None)
    server = MotoServerTarget(TargetOptions(templates[0], params, "eu-west-1"))
    try:
        stack = server.open_stack()
        (instance,) = testinfra_ssm.SsmBackend.get_hosts(stack.stack_name, client=stack.client)
        host = testinfra_ssm.get_host(f"ssm://{instance}?timeout=30", client=stack.client)
        answer = host.run("echo %s; exit 3", "it ran")
        assert (answer.rc, answer.stdout) == (3, "it ran\n")
        hurried = testinfra_ssm.get_host(f"ssm://{instance}?timeout=1", client=stack.client)
        with pytest.raises(testinfra_ssm.CommandNotRun, match=rf"{instance}: the command did not run \(TimedOut\)"):
            hurried.run("sleep 5")
    finally:
        server.close()
