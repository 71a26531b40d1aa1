"""Run a shell script on a stack's instances through SSM Run Command (``AWS-RunShellScript``).

Why SSM and not SSH: the reference deployment has no key pair and nothing listening on port 22
(IAM-01, NET-05); the instance role carries the SSM core policy, so Run Command is the only way
in, as seed 002's own "log into your application server using the session manager" says.

What a caller gets is one :class:`CommandResult` per instance, always, whatever happened: a
command that never ran (not delivered, not registered, timed out) has ``exit_code`` None, and a
caller must treat that as "nothing was shown" (ERROR or SKIP with the status as reason), never
as a pass.

Secrets are never sent as parameters. SSM keeps a command's parameters in its history for 30
days, shows them in the console and in CloudTrail; a script that needs the database
credentials reads ``/var/panintelligence/dashboard.env`` on the instance, where the bootstrap
wrote them (root-only, mode 0600). :func:`run_script` refuses a script that carries a literal
credential (:func:`refuse_secrets`): an AWS access key ID, a password-like assignment or a
``--password=`` option with a literal value, or any value registered with :func:`remember_secret`.

``ssm:SendCommand`` and ``ssm:CancelCommand`` change the account in the sense of the aws target's
read-only hook (:data:`stackproof.targets.aws_calls.READ_ONLY`). Drills run with changes allowed;
a host-check run on the read-only aws target must allow exactly :data:`RUN_COMMAND_CALLS`, by
name, so nothing else it calls can write.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

ClientFactory = Callable[..., Any]  # client(service, region=None), as aws_calls.ClientCache

DOCUMENT = "AWS-RunShellScript"
# The calls a Run Command makes that the read-only hook would refuse; allowed by name.
RUN_COMMAND_CALLS = frozenset({"ssm.SendCommand", "ssm.CancelCommand"})

# What GetCommandInvocation shows inline; the rest only goes to an S3 bucket we do not configure.
STDOUT_LIMIT = 24_000
STDERR_LIMIT = 8_000
# The SSM agent ends cut output with these (amazon-ssm-agent, TruncateOutput).
STDOUT_MARK = "\n---Output truncated---"
STDERR_MARK = "\n---Error truncated----"

FINAL = frozenset(
    {
        "Success",
        "Failed",
        "TimedOut",
        "Cancelled",
        "DeliveryTimedOut",
        "Undeliverable",
        "Terminated",
        "InvalidPlatform",
        "AccessDenied",
    }
)
# Final statuses in which the script never started, so there is no exit code to believe.
NEVER_RAN = frozenset({"DeliveryTimedOut", "Undeliverable", "Terminated", "InvalidPlatform", "AccessDenied"})
SSM_MIN_DELIVERY_TIMEOUT = 30  # SendCommand's TimeoutSeconds may not be lower


@dataclass(frozen=True)
class CommandResult:
    instance_id: str
    status: str  # SSM's final status: Success, Failed, TimedOut, Cancelled, DeliveryTimedOut, Undeliverable, ...
    exit_code: int | None  # ResponseCode; None when the command never ran
    stdout: str
    stderr: str
    truncated: bool  # SSM cuts inline output at 24,000 characters (stdout) / 8,000 (stderr)

    @property
    def ok(self) -> bool:
        """The script ran to the end and exited 0."""
        return self.status == "Success" and self.exit_code == 0


class SecretInScript(ValueError):
    """A script would carry a credential to SSM, where its parameters are kept and shown."""


_SECRETS: set[str] = set()
_SECRETS_LOCK = threading.Lock()

SECRET_PATTERNS = {
    "an AWS access key ID": re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"),
    # NAME=literal or NAME="literal" as an assignment, where NAME says password/secret/token;
    # NAME=$VAR and NAME="$VAR" pass, as does the name inside a sed expression or a grep.
    "a password, secret or token assigned a literal value": re.compile(
        r"(?i)(?:^|[\s;&|(])(?:export\s+)?\w*(?:password|passwd|secret|token)\w*=(?:'[^'$]|\"[^\"$]|[^\s\"'$])",
        re.MULTILINE,
    ),
    "a --password option with a literal value": re.compile(r"(?i)--password=(?:'[^'$]|\"[^\"$]|[^\s\"'$])"),
}


def remember_secret(value: str) -> None:
    """Make :func:`run_script` refuse any script containing ``value`` (a credential this process
    knows, e.g. the database password a test seeded). Values under 6 characters are ignored:
    they would match ordinary text."""
    if len(value) >= 6:
        with _SECRETS_LOCK:
            _SECRETS.add(value)


def refuse_secrets(script: str, secrets: Iterable[str] = ()) -> None:
    """Raise :class:`SecretInScript` when ``script`` carries a literal credential. The message
    names the rule, never the value."""
    for rule, pattern in SECRET_PATTERNS.items():
        if pattern.search(script):
            raise SecretInScript(
                f"the script carries a literal credential ({rule}); read it from the env file on the instance instead"
            )
    with _SECRETS_LOCK:
        known = set(_SECRETS)
    if any(value and value in script for value in (*known, *secrets)):
        raise SecretInScript("the script contains a secret value this process knows; read it on the instance instead")


def commands_for(script: str) -> list[str]:
    """The ``commands`` parameter: the script as one ``bash -c`` of a quoted heredoc. The agent runs
    ``commands`` with ``sh``; this makes the script run under bash with its own text untouched
    (no expansion by the outer shell), and its stdin stays the agent's, not the script text."""
    mark = "STACKPROOF_SCRIPT"
    while mark in script:
        mark += "_"
    return [f"bash -c \"$(cat <<'{mark}'", *script.splitlines(), mark, ')"']


def _is_truncated(stdout: str, stderr: str) -> bool:
    return (
        stdout.endswith(STDOUT_MARK)
        or stderr.endswith(STDERR_MARK)
        or len(stdout) >= STDOUT_LIMIT
        or len(stderr) >= STDERR_LIMIT
    )


def _error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def _result(instance_id: str, answer: dict[str, Any]) -> CommandResult:
    status = str(answer.get("Status", "Pending"))
    stdout = str(answer.get("StandardOutputContent") or "")
    stderr = str(answer.get("StandardErrorContent") or "")
    code = answer.get("ResponseCode")
    ran = status not in NEVER_RAN and isinstance(code, int) and code >= 0
    return CommandResult(instance_id, status, code if ran else None, stdout, stderr, _is_truncated(stdout, stderr))


def run_script(
    client: ClientFactory,
    instance_ids: Sequence[str],
    script: str,
    *,
    timeout: float = 120.0,
    poll: float = 1.0,
    comment: str = "stackproof",
) -> list[CommandResult]:
    """Run ``script`` with bash on every instance of ``instance_ids`` and wait for each to end.

    One result per instance, in the order given. After ``timeout`` seconds (from the send) the
    command is cancelled on the instances still running it and they end as ``TimedOut`` with no
    exit code; the agent is also told to stop the script itself then (``executionTimeout``).
    ``InvocationDoesNotExist`` right after the send means "not yet registered" and is polled
    again. A send refused for unmanaged instances (``InvalidInstanceId``) ends them as
    ``Undeliverable``. Other API errors propagate: the caller decides what they mean.
    """
    if not instance_ids:
        raise ValueError("no instances to run the script on")
    refuse_secrets(script)
    ssm = client("ssm")
    seconds = max(1, math.ceil(timeout))
    try:
        sent = ssm.send_command(
            InstanceIds=list(instance_ids),
            DocumentName=DOCUMENT,
            Comment=comment[:100],
            TimeoutSeconds=max(SSM_MIN_DELIVERY_TIMEOUT, seconds),
            Parameters={"commands": commands_for(script), "executionTimeout": [str(seconds)]},
        )
    except Exception as exc:
        if _error_code(exc) != "InvalidInstanceId":
            raise
        reason = f"SendCommand refused: {exc}"
        return [CommandResult(i, "Undeliverable", None, "", reason, False) for i in instance_ids]
    command_id = sent["Command"]["CommandId"]
    ends = time.monotonic() + timeout
    done: dict[str, CommandResult] = {}
    last: dict[str, dict[str, Any]] = {}
    while True:
        for instance_id in instance_ids:
            if instance_id in done:
                continue
            try:
                answer = ssm.get_command_invocation(CommandId=command_id, InstanceId=instance_id)
            except Exception as exc:
                if _error_code(exc) != "InvocationDoesNotExist":
                    raise
                continue
            last[instance_id] = answer
            if answer.get("Status") in FINAL:
                done[instance_id] = _result(instance_id, answer)
        if len(done) == len(instance_ids) or time.monotonic() >= ends:
            break
        time.sleep(max(0.0, min(poll, ends - time.monotonic())))
    waiting = [i for i in instance_ids if i not in done]
    if waiting:
        try:
            ssm.cancel_command(CommandId=command_id, InstanceIds=waiting)
        except Exception as exc:
            if _error_code(exc) not in ("InvalidCommandId", "InvalidInstanceId"):
                raise
        for instance_id in waiting:
            seen = last.get(instance_id, {})
            stdout = str(seen.get("StandardOutputContent") or "")
            stderr = str(seen.get("StandardErrorContent") or "")
            state = seen.get("Status", "unregistered")
            note = f"stackproof: no final status after {timeout:g} s (last {state}); cancelled"
            stderr = f"{stderr}\n{note}" if stderr else note
            done[instance_id] = CommandResult(instance_id, "TimedOut", None, stdout, stderr, _is_truncated(stdout, ""))
    return [done[i] for i in instance_ids]


def in_service_instances(client: ClientFactory, group_name: str) -> list[str]:
    """The group's instances in service (``LifecycleState`` InService), sorted. An empty list
    is a possible answer (a group scaled to 0, or mid-replacement); :func:`run_script` refuses
    it, so a caller cannot mistake "ran nowhere" for "ran". A group that does not exist is an
    error (LookupError)."""
    answer = client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[group_name])
    groups = answer.get("AutoScalingGroups", [])
    if not groups:
        raise LookupError(f"Auto Scaling group {group_name} not found")
    return sorted(i["InstanceId"] for i in groups[0].get("Instances", []) if i.get("LifecycleState") == "InService")
