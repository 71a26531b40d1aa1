"""The instances a target's host checks run on: opened once per target and run, closed at its end.

Why a fleet and not the deployment model: a model is a snapshot, and the emulators are torn down
once it is read, while a host check asks its instance questions as it runs (testinfra's way).
On ``aws`` the fleet is the named stack's InService instances, reached read-only except for Run
Command itself (``ssm_run.RUN_COMMAND_CALLS``). On ``moto`` and ``moto-server`` the stack is
deployed for the run and each instance gets a sandbox in which its real user data ran at boot
(:mod:`stackproof.emulator.host_sandbox`); commands reach it through :func:`Fleet.run_script`,
which has ``ssm_run.run_script``'s signature and results, SSM's output limits included.
"""

from __future__ import annotations

import base64
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stackproof.model.outcomes import Undecidable
from stackproof.targets import TargetOptions

EMULATED = ("moto", "moto-server")
BOOT_TIMEOUT = 120.0


class NoInstances(Exception):
    """The target has no instance a command could run on (the template, LocalStack here)."""


@dataclass(frozen=True)
class HostRef:
    """One instance of a target, as a host check's parameter. ``str()`` is the target, so the
    check's result is recorded under it; :attr:`label` is the readable test ID."""

    target: str
    instance_id: str = ""
    zone: str = ""
    problem: str = ""  # why there is no host here (the template target, a fleet that failed to open)

    def __str__(self) -> str:
        return self.target

    @property
    def label(self) -> str:
        if not self.instance_id:
            return self.target
        return f"{self.instance_id} ({self.zone})" if self.zone else self.instance_id


@dataclass
class Fleet:
    target: str
    client: Any
    hosts: list[HostRef]
    runner: Any = None  # None: ssm_run.run_script, the live path
    sandboxes: dict[str, Any] = field(default_factory=dict)  # instance ID -> HostSandbox (emulators)
    boots: dict[str, Any] = field(default_factory=dict)  # instance ID -> the user data's Execution
    closers: list[Any] = field(default_factory=list)
    opened_hosts: dict[str, Any] = field(default_factory=dict)

    def run_script(
        self, client: Any, instance_ids: Sequence[str], script: str, *, timeout: float = 120.0, **_: Any
    ) -> list[Any]:
        """Run Command on the emulator's sandboxes: a script runs in each instance's sandbox; no
        sandbox is Undeliverable, the timeout TimedOut, output cut as the SSM agent cuts it."""
        from stackproof.targets import ssm_run

        ssm_run.refuse_secrets(script)  # as the live path does: a script SSM would keep must carry none
        results = []
        for instance_id in instance_ids:
            sandbox = self.sandboxes.get(instance_id)
            if sandbox is None:
                results.append(
                    ssm_run.CommandResult(instance_id, "Undeliverable", None, "", "no such managed instance", False)
                )
                continue
            done = sandbox.execute(script, timeout)
            stdout, stderr = done.stdout, done.stderr
            truncated = len(stdout) > ssm_run.STDOUT_LIMIT or len(stderr) > ssm_run.STDERR_LIMIT
            if len(stdout) > ssm_run.STDOUT_LIMIT:
                stdout = stdout[: ssm_run.STDOUT_LIMIT - len(ssm_run.STDOUT_MARK)] + ssm_run.STDOUT_MARK
            if len(stderr) > ssm_run.STDERR_LIMIT:
                stderr = stderr[: ssm_run.STDERR_LIMIT - len(ssm_run.STDERR_MARK)] + ssm_run.STDERR_MARK
            if done.exit_code is None:
                results.append(ssm_run.CommandResult(instance_id, "TimedOut", None, stdout, stderr, truncated))
            else:
                status = "Success" if done.exit_code == 0 else "Failed"
                results.append(ssm_run.CommandResult(instance_id, status, done.exit_code, stdout, stderr, truncated))
        return results

    def host(self, ref: HostRef) -> Any:
        """testinfra's Host for ``ref`` over the ssm:// backend, one per instance for the run
        (testinfra caches what it learns of a host, e.g. its system, on it)."""
        try:
            from stackproof.targets import testinfra_ssm
        except ImportError as exc:
            raise Undecidable(f"host checks need pytest-testinfra ({exc}): pip install 'stackproof[hosts]'") from None
        if ref.instance_id not in self.opened_hosts:
            runner = self.run_script if self.sandboxes else self.runner
            spec = f"ssm://{ref.instance_id}"
            self.opened_hosts[ref.instance_id] = testinfra_ssm.get_host(spec, client=self.client, runner=runner)
        return self.opened_hosts[ref.instance_id]

    def close(self) -> None:
        while self.closers:
            self.closers.pop()()


def zones(client: Any, names: list[str]) -> dict[str, str]:
    """Each instance's zone, from the groups' own description (the call expanding them already
    needs), so host checks ask for no other permission."""
    from botocore.exceptions import ClientError

    from stackproof.targets.testinfra_ssm import stack_groups

    groups: list[str] = []
    for name in names:
        try:
            groups += stack_groups(client, name)
        except ClientError:
            groups.append(name)
    found: dict[str, str] = {}
    pages = client("autoscaling").get_paginator("describe_auto_scaling_groups").paginate(AutoScalingGroupNames=groups)
    for page in pages:
        for group in page["AutoScalingGroups"]:
            found |= {i["InstanceId"]: i.get("AvailabilityZone", "") for i in group.get("Instances", [])}
    return found


def refs(target: str, client: Any, stack_names: list[str]) -> list[HostRef]:
    """The InService instances of the stacks (or groups) named. In a set, a stack that created
    no Auto Scaling group (the network's) has no hosts by design; a group with none in service,
    or a set with none at all, is :class:`~stackproof.targets.testinfra_ssm.NoHosts`."""
    from stackproof.targets.testinfra_ssm import NoHosts, expand

    chosen = [n for n in stack_names if len(stack_names) == 1 or not _stack_without_groups(client, n)]
    instance_ids = sorted({i for name in chosen for i in expand(client, name)})
    if not instance_ids:
        raise NoHosts(f"no Auto Scaling group in stacks {', '.join(stack_names)}: no instance to check")
    where = zones(client, chosen)
    return [HostRef(target, i, where.get(i, "")) for i in instance_ids]


def _stack_without_groups(client: Any, name: str) -> bool:
    from botocore.exceptions import ClientError

    from stackproof.targets.testinfra_ssm import stack_groups

    try:
        return not stack_groups(client, name)
    except ClientError:
        return False  # not a stack: a group's name, which expand() answers for


def open_aws(options: TargetOptions) -> Fleet:
    import boto3

    from stackproof.targets.aws_calls import CallRecorder, ClientCache
    from stackproof.targets.ssm_run import RUN_COMMAND_CALLS

    if not options.stack_name:
        raise ValueError("host checks on aws need --stack-name")
    session = boto3.Session(profile_name=options.profile, region_name=options.region)
    client = ClientCache(session, CallRecorder(read_only=True, allowed=RUN_COMMAND_CALLS, deadline=options.deadline))
    return Fleet("aws", client, refs("aws", client, options.stack_name.split(",")))


def open_emulated(name: str, options: TargetOptions) -> Fleet:
    """Deploy the stack (or every stack of a set) on the emulator, then boot a sandbox per
    InService instance of any of them."""
    from stackproof import targets

    opened: Any = targets.load(name, options)
    directory = Path(tempfile.mkdtemp(prefix="stackproof-hosts-"))
    fleet = Fleet(name, None, [], closers=[lambda: shutil.rmtree(directory, ignore_errors=True)])
    try:
        client, stacks, _ = opened.open_stacks()
        fleet.client = client
        fleet.hosts = refs(name, client, stacks)
        for ref in fleet.hosts:
            boot(fleet, ref, directory / ref.instance_id, stacks, options.region)
    except BaseException:
        fleet.close()
        raise
    finally:
        # The hosts are booted: what they show lives in their sandboxes, so the emulator (one
        # per process for moto) is free for the deployment checks before the host checks run.
        opened.close()
    return fleet


def boot(fleet: Fleet, ref: HostRef, directory: Path, stacks: Sequence[str], region: str) -> None:
    from stackproof.emulator.host_sandbox import HostSandbox

    facts = instance_facts(fleet.client, ref, stacks, region)
    sandbox = fleet.sandboxes[ref.instance_id] = HostSandbox(directory, facts)
    fleet.boots[ref.instance_id] = sandbox.boot(BOOT_TIMEOUT)


def instance_facts(client: Any, ref: HostRef, stacks: Sequence[str], region: str) -> Any:
    """What AWS would give the instance at boot: its launch template's user data and metadata
    options (moto does not copy the options onto the instance), the deployment's secrets (the
    instance role may read them) and its databases' endpoints, in whichever of its stacks."""
    from stackproof.emulator.host_sandbox import InstanceFacts

    ec2 = client("ec2")
    instance = ec2.describe_instances(InstanceIds=[ref.instance_id])["Reservations"][0]["Instances"][0]
    group = client("autoscaling").describe_auto_scaling_instances(InstanceIds=[ref.instance_id])
    launch = group["AutoScalingInstances"][0].get("LaunchTemplate") or {}
    data: dict[str, Any] = {}
    if launch.get("LaunchTemplateId"):
        versions = ec2.describe_launch_template_versions(
            LaunchTemplateId=launch["LaunchTemplateId"], Versions=[str(launch.get("Version") or "$Latest")]
        )
        data = versions["LaunchTemplateVersions"][0]["LaunchTemplateData"]
    encoded = data.get("UserData") or ""
    user_data = base64.b64decode(encoded).decode("utf-8", "replace") if encoded else ""
    metadata = {k: str(v) for k, v in (data.get("MetadataOptions") or instance.get("MetadataOptions") or {}).items()}
    secrets: dict[str, str] = {}
    databases: list[dict[str, Any]] = []
    for stack_name in stacks:
        for summary in stack_resources(client, stack_name):
            physical = summary.get("PhysicalResourceId")
            if summary["ResourceType"] == "AWS::SecretsManager::Secret" and physical:
                answer = client("secretsmanager").get_secret_value(SecretId=physical)
                secrets[answer["ARN"]] = answer.get("SecretString", "")
            if summary["ResourceType"] == "AWS::RDS::DBInstance" and physical:
                db = client("rds").describe_db_instances(DBInstanceIdentifier=physical)["DBInstances"][0]
                endpoint = db.get("Endpoint") or {}
                databases.append({"host": endpoint.get("Address"), "port": endpoint.get("Port")})
    return InstanceFacts(ref.instance_id, ref.zone, region, user_data, metadata, secrets, databases)


def stack_resources(client: Any, stack_name: str) -> list[dict[str, Any]]:
    """The resource summaries of a stack and of the stacks nested in it."""
    found: list[dict[str, Any]] = []
    for page in client("cloudformation").get_paginator("list_stack_resources").paginate(StackName=stack_name):
        for summary in page["StackResourceSummaries"]:
            found.append(summary)
            if summary["ResourceType"] == "AWS::CloudFormation::Stack" and summary.get("PhysicalResourceId"):
                found += stack_resources(client, summary["PhysicalResourceId"])
    return found


def open_fleet(target: str, options: TargetOptions) -> Fleet:
    """The fleet of ``target``; :class:`NoInstances` for a target without instances."""
    if target == "aws":
        return open_aws(options)
    if target in EMULATED:
        return open_emulated(target, options)
    raise NoInstances(f"the {target} target has no instances to run commands on")
