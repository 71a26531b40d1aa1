"""A pytest-testinfra backend that runs commands through SSM Run Command: ``ssm://INSTANCE_ID``.

Why: testinfra reaches hosts through local, ssh, docker, kubectl and the like; the reference's
instances have no key pair and nothing on port 22 (IAM-01, NET-05), so Run Command is the only
way in. :func:`register` adds ``ssm`` to testinfra's backend table, after which testinfra's own
``get_host("ssm://i-0abc", client=...)`` and every testinfra module (``host.file``,
``host.socket``, ``host.service`` ...) work over SSM.

Fail closed: a command that did not run to an exit code (TimedOut, Undeliverable, Cancelled,
AccessDenied ...) raises :class:`CommandNotRun`, an :class:`~stackproof.model.outcomes.Undecidable`,
so the check is ERROR with SSM's status as the reason, never a pass on an empty answer. Output
SSM cut off is kept with the exit code, but reading it raises :class:`OutputTruncated`: a check
that only needs the exit code still decides, one that parses the output cannot.

testinfra and boto3 are imported only here, and this module only when a host is asked for.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import testinfra.backend
import testinfra.host
from testinfra.backend import base

from stackproof.model.outcomes import Undecidable

NAME = "ssm"
Runner = Callable[..., Sequence[Any]]  # ssm_run.run_script's signature and results


class CommandNotRun(Undecidable):
    """The command did not run to an exit code on the instance."""


class OutputTruncated(Undecidable):
    """SSM returned only part of the output; a check cannot parse what it did not see."""


class NoHosts(Undecidable):
    """A host address named nothing to check (no instance in service)."""


class SsmCommandResult(base.CommandResult):
    """testinfra's result, with SSM's truncation: reading cut output raises."""

    truncated: bool = False

    @property
    def stdout(self) -> str:
        self._refuse_truncated()
        return super().stdout

    @property
    def stderr(self) -> str:
        self._refuse_truncated()
        return super().stderr

    def _refuse_truncated(self) -> None:
        if self.truncated:
            raise OutputTruncated(
                f"{self.backend.hostname}: SSM cut the output of {self.command.decode('utf-8', 'replace')!r} "
                "(24,000 characters of stdout, 8,000 of stderr inline); narrow the command"
            )


class SsmBackend(base.BaseBackend):
    """``ssm://INSTANCE_ID?timeout=SECONDS``: ``client`` (a ClientCache) is passed as a keyword,
    ``runner`` replaces :func:`stackproof.targets.ssm_run.run_script` (the emulator's sandbox,
    a test's fake)."""

    NAME = NAME

    def __init__(
        self,
        hostname: str,
        *args: Any,
        client: Any = None,
        runner: Runner | None = None,
        timeout: float | str = 120.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(hostname, *args, **kwargs)
        self.client = client
        self.runner = runner
        self.timeout = float(timeout)

    @classmethod
    def get_hosts(cls, host: str, **kwargs: Any) -> list[str]:
        """``ssm://i-...`` is that instance; ``ssm://NAME`` a stack's (or an Auto Scaling
        group's) InService instances, read with ``client``."""
        if host is None:
            raise RuntimeError("ssm:// needs an instance ID, a stack name or an Auto Scaling group name")
        if host.startswith("i-"):
            return [host]
        return expand(kwargs.get("client"), host)

    def get_encoding(self) -> str:
        return "utf-8"  # SSM returns text; no round trip to ask the instance

    def run(self, command: str, *args: str, **kwargs: Any) -> base.CommandResult:
        script = self.get_command(command, *args)
        runner = self.runner
        if runner is None:
            from stackproof.targets.ssm_run import run_script

            runner = run_script
        results = runner(self.client, [self.hostname], script, timeout=self.timeout, comment="stackproof host check")
        if len(results) != 1:
            raise CommandNotRun(f"{self.hostname}: Run Command answered for {len(results)} instances, not 1")
        return self.to_result(script, results[0])

    def to_result(self, script: str, answer: Any) -> base.CommandResult:
        """testinfra's result for one of ssm_run's, or :class:`CommandNotRun`."""
        code = answer.exit_code
        if answer.status == "Success" and code is None:
            code = 0
        if answer.status not in ("Success", "Failed") or code is None or code < 0:
            reason = (answer.stderr or "").strip().splitlines()
            detail = f": {reason[-1]}" if reason else ""
            raise CommandNotRun(f"{self.hostname}: the command did not run ({answer.status}){detail}")
        result = SsmCommandResult(
            backend=self, exit_status=code, command=self.encode(script), _stdout=answer.stdout, _stderr=answer.stderr
        )
        result.truncated = bool(answer.truncated)
        return result


def register() -> None:
    """Add ``ssm`` to testinfra's backend table (idempotent)."""
    testinfra.backend.BACKENDS.setdefault(NAME, f"{__name__}.SsmBackend")


def get_host(spec: str, **kwargs: Any) -> testinfra.host.Host:
    """testinfra's Host for ``ssm://INSTANCE_ID``; keywords as :class:`SsmBackend` takes them.
    Not testinfra's cached ``Host.get_host``: a client belongs to one run, not to the process."""
    register()
    backend = testinfra.backend.get_backend(spec, **kwargs)
    host = testinfra.host.Host(backend)
    backend.set_host(host)
    return host


def stack_groups(client: Any, stack_name: str) -> list[str]:
    """The Auto Scaling groups a stack created (nested stacks included)."""
    groups: list[str] = []
    pages = client("cloudformation").get_paginator("list_stack_resources").paginate(StackName=stack_name)
    for page in pages:
        for summary in page["StackResourceSummaries"]:
            kind, physical = summary["ResourceType"], summary.get("PhysicalResourceId")
            if kind == "AWS::AutoScaling::AutoScalingGroup" and physical:
                groups.append(physical)
            elif kind == "AWS::CloudFormation::Stack" and physical:
                groups += stack_groups(client, physical)
    return groups


def expand(client: Any, name: str) -> list[str]:
    """The InService instances of stack ``name``'s groups, or of the group ``name``. Nothing in
    service is :class:`NoHosts`: a host check over no host must not pass."""
    from botocore.exceptions import ClientError

    from stackproof.targets.ssm_run import in_service_instances

    if client is None:
        raise RuntimeError(f"ssm://{name}: expanding a stack or group needs client=")
    try:
        groups = stack_groups(client, name)
    except ClientError as exc:
        if "does not exist" not in str(exc):
            raise
        groups = [name]
    try:
        found = sorted({i for group in groups for i in in_service_instances(client, group)})
    except LookupError as exc:
        raise NoHosts(f"ssm://{name}: neither a stack nor an Auto Scaling group ({exc})") from None
    if not found:
        raise NoHosts(f"ssm://{name}: no instance in service to check")
    return found
