"""``stackproof.targets.ssm_run`` against a scripted SSM: every way a Run Command ends (success,
a non-zero exit, a timeout that is cancelled, output cut at SSM's limits, an instance that never
registers or is not managed, the invocation not yet known right after the send), and the guard
that keeps credentials out of a command's parameters."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from stackproof.targets import ssm_run
from stackproof.targets.aws_calls import CallRecorder, WriteRefused
from stackproof.targets.ssm_run import (
    RUN_COMMAND_CALLS,
    STDERR_LIMIT,
    STDOUT_LIMIT,
    STDOUT_MARK,
    CommandResult,
    SecretInScript,
    commands_for,
    in_service_instances,
    refuse_secrets,
    remember_secret,
    run_script,
)


def error(code: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}}, operation)


class FakeSsm:
    """Answers GetCommandInvocation from a list of answers per instance (the last one repeats);
    an answer that is an exception is raised."""

    def __init__(self, answers: dict[str, list[Any]], send_error: Exception | None = None) -> None:
        self.answers = {k: iter(v) for k, v in answers.items()}
        self.last: dict[str, Any] = {}
        self.sent: list[dict[str, Any]] = []
        self.cancelled: list[dict[str, Any]] = []
        self.send_error = send_error

    def send_command(self, **kwargs: Any) -> dict[str, Any]:
        if self.send_error is not None:
            raise self.send_error
        self.sent.append(kwargs)
        return {"Command": {"CommandId": "cmd-1"}}

    def get_command_invocation(self, CommandId: str, InstanceId: str) -> dict[str, Any]:
        answer = next(self.answers[InstanceId], self.last.get(InstanceId))
        self.last[InstanceId] = answer
        if isinstance(answer, Exception):
            raise answer
        return dict(answer or {})

    def cancel_command(self, **kwargs: Any) -> dict[str, Any]:
        self.cancelled.append(kwargs)
        return {}


def factory(ssm: Any) -> Callable[..., Any]:
    return lambda service, region=None: ssm


def done(status: str, code: int, out: str = "", err: str = "") -> dict[str, Any]:
    return {"Status": status, "ResponseCode": code, "StandardOutputContent": out, "StandardErrorContent": err}


RUNNING = {"Status": "InProgress", "ResponseCode": -1, "StandardOutputContent": "half", "StandardErrorContent": ""}


def test_success_is_one_result_per_instance_in_order_and_the_script_is_sent_as_bash() -> None:
    ssm = FakeSsm({"i-1": [RUNNING, done("Success", 0, "one\n")], "i-2": [done("Success", 0, "two\n")]})
    results = run_script(factory(ssm), ["i-1", "i-2"], "echo $HOME\nexit 0", poll=0.01)
    assert [r.instance_id for r in results] == ["i-1", "i-2"]
    assert [r.stdout for r in results] == ["one\n", "two\n"]
    assert all(r.ok and r.exit_code == 0 and not r.truncated for r in results)
    (sent,) = ssm.sent
    assert sent["DocumentName"] == "AWS-RunShellScript"
    assert sent["Parameters"]["commands"] == commands_for("echo $HOME\nexit 0")
    assert sent["Parameters"]["executionTimeout"] == ["120"]
    assert sent["TimeoutSeconds"] >= 30  # SSM's minimum delivery timeout


def test_a_non_zero_exit_is_failed_with_its_code_and_stderr() -> None:
    ssm = FakeSsm({"i-1": [done("Failed", 3, "", "no such file\n")]})
    (result,) = run_script(factory(ssm), ["i-1"], "exit 3", poll=0.01)
    assert (result.status, result.exit_code, result.stderr, result.ok) == ("Failed", 3, "no such file\n", False)


def test_the_timeout_cancels_the_command_and_ends_timed_out_with_no_exit_code() -> None:
    ssm = FakeSsm({"i-1": [RUNNING], "i-2": [done("Success", 0)]})
    results = run_script(factory(ssm), ["i-1", "i-2"], "sleep 600", timeout=0.2, poll=0.02)
    assert ssm.cancelled == [{"CommandId": "cmd-1", "InstanceIds": ["i-1"]}]
    assert (results[0].status, results[0].exit_code, results[0].stdout) == ("TimedOut", None, "half")
    assert "no final status after 0.2 s (last InProgress); cancelled" in results[0].stderr
    assert results[1].ok


def test_ssms_own_execution_timeout_has_no_exit_code() -> None:
    ssm = FakeSsm({"i-1": [done("TimedOut", -1)]})
    (result,) = run_script(factory(ssm), ["i-1"], "sleep 600", poll=0.01)
    assert (result.status, result.exit_code) == ("TimedOut", None)


def test_output_cut_by_ssm_is_flagged_truncated() -> None:
    cut_out = "x" * (STDOUT_LIMIT - len(STDOUT_MARK)) + STDOUT_MARK
    ssm = FakeSsm({"i-1": [done("Success", 0, cut_out)], "i-2": [done("Success", 0, "", "e" * STDERR_LIMIT)]})
    results = run_script(factory(ssm), ["i-1", "i-2"], "yes | head -c 100000", poll=0.01)
    assert [r.truncated for r in results] == [True, True]
    assert all(r.ok for r in results)  # it ran and exited 0; what it printed is incomplete


@pytest.mark.parametrize("status", ["DeliveryTimedOut", "Undeliverable", "Terminated", "InvalidPlatform"])
def test_an_instance_that_never_ran_the_script_has_no_exit_code(status: str) -> None:
    ssm = FakeSsm({"i-1": [{"Status": "Pending", "ResponseCode": -1}, {"Status": status, "ResponseCode": -1}]})
    (result,) = run_script(factory(ssm), ["i-1"], "true", poll=0.01)
    assert (result.status, result.exit_code, result.ok) == (status, None, False)


def test_an_instance_that_never_registers_times_out_as_not_run_and_is_cancelled() -> None:
    missing = error("InvocationDoesNotExist", "GetCommandInvocation")
    ssm = FakeSsm({"i-1": [missing]})
    (result,) = run_script(factory(ssm), ["i-1"], "true", timeout=0.15, poll=0.02)
    assert (result.status, result.exit_code) == ("TimedOut", None)
    assert "(last unregistered)" in result.stderr
    assert ssm.cancelled


def test_invocation_does_not_exist_right_after_the_send_is_polled_again() -> None:
    missing = error("InvocationDoesNotExist", "GetCommandInvocation")
    ssm = FakeSsm({"i-1": [missing, missing, done("Success", 0, "ok")]})
    (result,) = run_script(factory(ssm), ["i-1"], "echo ok", poll=0.01)
    assert result.ok
    assert result.stdout == "ok"
    assert not ssm.cancelled


def test_an_unmanaged_instance_is_undeliverable_with_the_reason() -> None:
    ssm = FakeSsm({}, send_error=error("InvalidInstanceId", "SendCommand"))
    results = run_script(factory(ssm), ["i-1", "i-2"], "true")
    assert [(r.status, r.exit_code) for r in results] == [("Undeliverable", None)] * 2
    assert "InvalidInstanceId" in results[0].stderr


def test_other_api_errors_are_the_callers_to_judge() -> None:
    ssm = FakeSsm({"i-1": [error("AccessDeniedException", "GetCommandInvocation")]})
    with pytest.raises(ClientError, match="AccessDeniedException"):
        run_script(factory(ssm), ["i-1"], "true", poll=0.01)


def test_no_instances_is_refused_rather_than_running_nowhere() -> None:
    with pytest.raises(ValueError, match="no instances"):
        run_script(factory(FakeSsm({})), [], "true")


@pytest.mark.parametrize(
    "script",
    [
        "export AWS_ACCESS_KEY_ID=AKIAABCDEFGHIJKLMNOP",
        "PI_DB_PASSWORD=hunter22 mariadb",
        'DB_PASSWORD="hunter22"',
        "mariadb --password=hunter22 -e 'select 1'",
        "api_token='abc123' curl",
    ],
)
def test_a_script_carrying_a_literal_credential_is_refused_before_anything_is_sent(script: str) -> None:
    ssm = FakeSsm({})
    with pytest.raises(SecretInScript) as refused:
        run_script(factory(ssm), ["i-1"], script)
    assert ssm.sent == []
    assert "hunter22" not in str(refused.value)
    assert "AKIA" not in str(refused.value)


@pytest.fixture
def remembered() -> Iterator[str]:
    value = "s3cr3t-Value-42"
    remember_secret(value)
    try:
        yield value
    finally:
        ssm_run._SECRETS.discard(value)


def test_a_secret_the_process_knows_is_refused_wherever_it_appears(remembered: str) -> None:
    with pytest.raises(SecretInScript, match="contains a secret value"):
        run_script(factory(FakeSsm({})), ["i-1"], f"echo {remembered} | mariadb")
    with pytest.raises(SecretInScript):
        refuse_secrets("echo other", ["other"])


def test_reading_credentials_on_the_instance_is_allowed() -> None:
    refuse_secrets('MYSQL_PWD=$(sed -n "s/^PI_DB_PASSWORD=//p" /var/panintelligence/dashboard.env)')
    refuse_secrets('PI_DB_PASSWORD="$PASSWORD" mariadb --password="$MYSQL_PWD"')


def test_the_read_only_hook_refuses_run_command_unless_allowed_by_name() -> None:
    model = type("Operation", (), {"name": "SendCommand"})()
    with pytest.raises(WriteRefused, match=r"ssm\.SendCommand"):
        CallRecorder(read_only=True)._before_call("before-call.ssm.SendCommand", model)
    allowed = CallRecorder(read_only=True, allowed=RUN_COMMAND_CALLS)
    allowed._before_call("before-call.ssm.SendCommand", model)
    assert allowed.calls["ssm.SendCommand"] == 1
    refused = type("Operation", (), {"name": "DeleteDocument"})()
    with pytest.raises(WriteRefused):
        allowed._before_call("before-call.ssm.DeleteDocument", refused)


class FakeAutoscaling:
    def __init__(self, groups: list[dict[str, Any]]) -> None:
        self.groups = groups

    def describe_auto_scaling_groups(self, AutoScalingGroupNames: list[str]) -> dict[str, Any]:
        return {"AutoScalingGroups": self.groups}


def test_in_service_instances_are_the_groups_in_service_ones_sorted() -> None:
    group = {
        "Instances": [
            {"InstanceId": "i-b", "LifecycleState": "InService"},
            {"InstanceId": "i-c", "LifecycleState": "Terminating"},
            {"InstanceId": "i-a", "LifecycleState": "InService"},
            {"InstanceId": "i-d", "LifecycleState": "Pending"},
        ]
    }
    assert in_service_instances(factory(FakeAutoscaling([group])), "asg") == ["i-a", "i-b"]
    with pytest.raises(LookupError, match="asg"):
        in_service_instances(factory(FakeAutoscaling([])), "asg")


def test_a_result_is_ok_only_for_success_with_exit_zero() -> None:
    assert CommandResult("i", "Success", 0, "", "", False).ok
    assert not CommandResult("i", "Success", None, "", "", False).ok
    assert not CommandResult("i", "Failed", 0, "", "", False).ok
