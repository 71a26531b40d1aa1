"""Deploy a template through CloudFormation and report what the target really created.

Emulators report CREATE_COMPLETE even for resource types they have no model for; this
module makes that gap visible instead of hiding it. Clients are passed in, never built here.
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stackproof.template.cfn_yaml import load_text
from stackproof.template.loader import load_template
from stackproof.template.resolver import resolve
from stackproof.template.stack_set import ResolvedSet, Stack

_MOTO_UNSUPPORTED = re.compile(r"Tried to parse (\S+) but it's not supported")


@dataclass
class DeployResult:
    stack_name: str
    status: str
    reason: str | None
    expected: dict[str, str]  # logical ID -> type, for these parameters
    created: dict[str, str]  # logical ID -> physical ID ("" when the target gave none)
    unsupported_types: set[str] = field(default_factory=set)
    failed: dict[str, tuple[str, str]] = field(default_factory=dict)  # logical ID -> (type, reason)

    @property
    def skipped(self) -> dict[str, str]:
        """Resources the template declares for these parameters that the target did not create."""
        return {lid: t for lid, t in self.expected.items() if lid not in self.created}

    @property
    def skipped_types(self) -> list[str]:
        return sorted(set(self.skipped.values()) | self.unsupported_types)

    @property
    def without_physical_id(self) -> dict[str, str]:
        return {lid: self.expected[lid] for lid, pid in self.created.items() if not pid and lid in self.expected}

    def summary(self) -> str:
        lines = [
            f"stack {self.stack_name}: {self.status}" + (f" ({self.reason})" if self.reason else ""),
            f"  declared for these parameters: {len(self.expected)}; created: {len(self.created)}; "
            f"skipped: {len(self.skipped)}",
        ]
        for resource_type in self.skipped_types:
            ids = sorted(lid for lid, t in self.skipped.items() if t == resource_type)
            lines.append(f"  skipped {resource_type}: {', '.join(ids)}")
        for lid, resource_type in sorted(self.without_physical_id.items()):
            lines.append(f"  created without a physical ID: {lid} ({resource_type})")
        return "\n".join(lines)


def create_certificate(acm: Any, domain: str) -> str:
    arn: str = acm.request_certificate(DomainName=domain, ValidationMethod="DNS")["CertificateArn"]
    return arn


def self_signed_pem(domain: str, days: int = 365) -> tuple[bytes, bytes]:
    """A self-signed certificate for ``domain`` and its key, both PEM."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, domain)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(domain)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    return certificate.public_bytes(serialization.Encoding.PEM), key_pem


def import_certificate(acm: Any, domain: str, days: int = 365) -> str:
    """A self-signed certificate for ``domain`` imported into ACM: issued, with a real expiry,
    unlike a requested one, which an emulator leaves pending validation forever."""
    certificate, key = self_signed_pem(domain, days)
    arn: str = acm.import_certificate(Certificate=certificate, PrivateKey=key)["CertificateArn"]
    return arn


def upload_code(s3: Any, bucket: str, key: str, zip_path: Path, region: str) -> None:
    config = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    s3.create_bucket(Bucket=bucket, **config)
    s3.upload_file(str(zip_path), bucket, key)


class DeployFailed(Exception):
    """The stack did not reach CREATE_COMPLETE; the message names the failed resources."""


def failures(cloudformation: Any, stack_name: str) -> str:
    events = cloudformation.describe_stack_events(StackName=stack_name)["StackEvents"]
    failed = [
        f"{e['LogicalResourceId']} ({e['ResourceType']}): {e.get('ResourceStatusReason', 'no reason given')}"
        for e in events
        if e["ResourceStatus"].endswith("FAILED") and e["ResourceType"] != "AWS::CloudFormation::Stack"
    ]
    return "; ".join(failed) or "no resource reported a failure"


TEMPLATE_BODY_LIMIT = 51_200  # bytes CloudFormation accepts inline; larger goes through S3


def template_source(body: str, stack_name: str, s3: Any | None, bucket: str | None) -> dict[str, str]:
    """``TemplateBody`` when it fits, else ``TemplateURL`` of a copy uploaded to ``bucket``."""
    if len(body.encode("utf-8")) <= TEMPLATE_BODY_LIMIT:
        return {"TemplateBody": body}
    if s3 is None or bucket is None:
        raise ValueError(f"the template is over {TEMPLATE_BODY_LIMIT} bytes and no bucket was given to stage it")
    key = f"stackproof/{stack_name}.template"
    s3.put_object(Bucket=bucket, Key=key, Body=body.encode("utf-8"))
    # The S3 URL form AWS documents; emulators map it onto their own S3.
    return {"TemplateURL": f"https://{bucket}.s3.amazonaws.com/{key}"}


def stack_arguments(parameters: Mapping[str, str]) -> dict[str, Any]:
    """What CreateStack and UpdateStack both take besides the template: parameters, and the
    capabilities the reference's named IAM roles need."""
    return {
        "Parameters": [{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        "Capabilities": ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"],
    }


def create_stack(
    cloudformation: Any,
    stack_name: str,
    template_path: Path,
    parameters: Mapping[str, str],
    *,
    s3: Any | None = None,
    staging_bucket: str | None = None,
    keep_failed: bool = False,
    body: str | None = None,
    expected: Mapping[str, str] | None = None,
) -> DeployResult:
    """Create the stack and wait. With ``keep_failed`` (for emulators that cannot create some
    types) rollback is disabled and a CREATE_FAILED stack is returned with its failures,
    instead of raising, so what was created can still be examined. ``body`` (default: the
    file's text) is what is sent, e.g. a packaged parent; ``expected`` (default: the file
    resolved for ``parameters``) is what the stack should hold."""
    if body is None:
        body = template_path.read_text(encoding="utf-8")
    if expected is None:
        resolved = resolve(load_template(template_path), parameters)
        expected = {logical_id: r.type for logical_id, r in resolved.resources.items()}
    source = template_source(body, stack_name, s3, staging_bucket)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cloudformation.create_stack(
            StackName=stack_name,
            **source,
            **stack_arguments(parameters),
            **({"DisableRollback": True} if keep_failed else {}),
        )
        waiter = cloudformation.get_waiter("stack_create_complete")
        try:
            waiter.wait(StackName=stack_name, WaiterConfig={"Delay": 1, "MaxAttempts": 600})
        except Exception as exc:  # botocore WaiterError: name the resources that failed and why
            status = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]["StackStatus"]
            if not (keep_failed and status == "CREATE_FAILED"):
                raise DeployFailed(
                    f"stack {stack_name} did not reach CREATE_COMPLETE: {failures(cloudformation, stack_name)}"
                ) from exc
    unsupported = {m[1] for w in caught if (m := _MOTO_UNSUPPORTED.search(str(w.message)))}
    return examine(cloudformation, stack_name, expected, unsupported)


def examine(
    cloudformation: Any, stack_name: str, expected: Mapping[str, str], unsupported: set[str] | None = None
) -> DeployResult:
    """What CloudFormation reports of a created stack (top-level or nested, by name or ARN):
    its status, the resources it created, and why those that failed did."""
    stack = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
    created: dict[str, str] = {}
    paginator = cloudformation.get_paginator("list_stack_resources")
    for page in paginator.paginate(StackName=stack_name):
        for summary in page["StackResourceSummaries"]:
            if summary.get("LogicalResourceId"):
                created[summary["LogicalResourceId"]] = summary.get("PhysicalResourceId") or ""
    failed = (
        {
            e["LogicalResourceId"]: (e["ResourceType"], e.get("ResourceStatusReason") or "no reason given")
            for e in cloudformation.describe_stack_events(StackName=stack_name)["StackEvents"]
            if e["ResourceStatus"] == "CREATE_FAILED" and e["ResourceType"] != "AWS::CloudFormation::Stack"
        }
        if stack["StackStatus"] == "CREATE_FAILED"
        else {}
    )
    return DeployResult(
        stack_name=stack["StackName"],
        status=stack["StackStatus"],
        reason=stack.get("StackStatusReason"),
        expected=dict(expected),
        created=created,
        unsupported_types=set(unsupported or ()),
        failed=failed,
    )


def update_parameters(cloudformation: Any, stack_name: str, changes: Mapping[str, str | None]) -> str:
    """Update a deployed stack as its runbook does: the template CloudFormation holds for it
    (``UsePreviousTemplate``, whatever its size, nothing staged) and ``UsePreviousValue`` for
    every parameter but those ``changes`` names; a change to None leaves that parameter out,
    so it takes its default. Waits; the status."""
    stack = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
    declared = [p["ParameterKey"] for p in stack.get("Parameters", [])]
    parameters: list[dict[str, Any]] = []
    for key in dict.fromkeys([*declared, *changes]):
        if key not in changes:
            parameters.append({"ParameterKey": key, "UsePreviousValue": True})
        elif changes[key] is not None:
            parameters.append({"ParameterKey": key, "ParameterValue": changes[key]})
    cloudformation.update_stack(
        StackName=stack_name,
        UsePreviousTemplate=True,
        Parameters=parameters,
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
    )
    return _wait_for_update(cloudformation, stack_name)


def _wait_for_update(cloudformation: Any, stack_name: str) -> str:
    try:
        cloudformation.get_waiter("stack_update_complete").wait(
            StackName=stack_name, WaiterConfig={"Delay": 1, "MaxAttempts": 3600}
        )
    except Exception as exc:
        raise DeployFailed(
            f"stack {stack_name} did not reach UPDATE_COMPLETE: {failures(cloudformation, stack_name)}"
        ) from exc
    status: str = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]["StackStatus"]
    return status


# ---------------------------------------------------------------- a set of stacks

NESTED = "AWS::CloudFormation::Stack"
_STACK_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,127}$")


@dataclass
class Planned:
    """One stack of a set as it will be created: the member of the resolved set, the name
    CloudFormation will know it by, the body sent (a parent's children already uploaded),
    the resources it should hold, and its nested children by logical ID in this template."""

    member: Stack
    stack_name: str
    body: str
    expected: dict[str, str]
    children: dict[str, Planned] = field(default_factory=dict)

    @property
    def parameters(self) -> dict[str, str]:
        return {str(k): str(v) for k, v in self.member.parameters.items()}


class _Recording(Mapping[str, Any]):
    """Answers no import; records every export name the resolver asks for."""

    def __init__(self) -> None:
        self.asked: set[str] = set()

    def __contains__(self, name: object) -> bool:
        if isinstance(name, str):
            self.asked.add(str(name))
        return False

    def __getitem__(self, name: str) -> Any:
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


def _original_ids(stack: Stack) -> dict[str, str]:
    """Logical IDs as the stack's own template has them (the set renames shared ones)."""
    return {new: old for old, new in stack.renames.items()}


def _expected(stack: Stack) -> dict[str, str]:
    assert stack.resolved is not None
    original = _original_ids(stack)
    return {original.get(lid, lid): r.type for lid, r in stack.resolved.resources.items()}


def _family(stack: Stack, stacks: list[Stack]) -> list[Stack]:
    """``stack`` and every stack nested under it, at any depth."""
    found = [stack]
    for child in (s for s in stacks if s.parent == stack.name):
        found += _family(child, stacks)
    return found


def _imports_and_exports(stack: Stack, stacks: list[Stack], region: str) -> tuple[set[str], set[str]]:
    """The export names a top-level stack (its nested children included) imports and exports."""
    asked: set[str] = set()
    exported: set[str] = set()
    for member in _family(stack, stacks):
        recording = _Recording()
        resolve(member.template, member.parameters, region, imports=recording)
        asked |= recording.asked
        assert member.resolved is not None
        for name in member.resolved.exports:
            text = str(name)
            if "${AWS::StackName}" in text and member is stack and stack.stack_name:
                text = text.replace("${AWS::StackName}", stack.stack_name)
            if "${" not in text:
                exported.add(text)
    return asked, exported


def deploy_order(resolved_set: ResolvedSet, region: str) -> list[Stack]:
    """The top-level stacks of the set, each exporter before its importers (CloudFormation
    refuses an import of an export that does not exist yet); otherwise in the set's order."""
    stacks = resolved_set.stacks
    top = [s for s in stacks if s.parent is None]
    links = {s.name: _imports_and_exports(s, stacks, region) for s in top}
    owner = {name: s.name for s in top for name in links[s.name][1]}
    needs = {s.name: {owner[n] for n in links[s.name][0] if n in owner and owner[n] != s.name} for s in top}
    ordered: list[Stack] = []
    while len(ordered) < len(top):
        done = {s.name for s in ordered}
        ready = [s for s in top if s.name not in done and needs[s.name] <= done]
        if not ready:
            waiting = sorted(n for n in needs if n not in done)
            raise DeployFailed(f"stacks {', '.join(waiting)} import each other's exports: none can be created first")
        ordered.append(ready[0])
    return ordered


def deployable_name(stack: Stack, given: bool) -> str:
    """The name to create ``stack`` under. A name the user gave is sent as is (CloudFormation
    judges it); one made from a file name is made valid (``dashboard_app`` -> ``dashboard-app``)."""
    name = stack.stack_name or stack.name
    if given or _STACK_NAME.match(name):
        return name
    cleaned = re.sub(r"[^A-Za-z0-9-]+", "-", name).strip("-") or "stack"
    return (cleaned if cleaned[0].isalpha() else f"s-{cleaned}")[:128]


def package(stack: Stack, stacks: list[Stack], s3: Any, bucket: str, stack_name: str) -> Planned:
    """What ``aws cloudformation package`` does for nested stacks: each child template the set
    found locally (a relative ``TemplateURL``, or one ``--template-url`` maps to a directory;
    its own children first) is uploaded to ``bucket`` and the parent's ``TemplateURL`` rewritten
    to that object's URL. A stack without such children is sent exactly as written."""
    children = [s for s in stacks if s.parent == stack.name]
    body = stack.template.path.read_text(encoding="utf-8")
    planned = Planned(stack, stack_name, body, _expected(stack))
    if not children:
        return planned
    original = _original_ids(stack)
    document = json.loads(json.dumps(load_text(body)))
    resources = document.get("Resources") or {}
    for child in children:
        logical_id = original.get(str(child.logical_id), str(child.logical_id))
        resource = resources.get(logical_id)
        properties = resource.get("Properties") if isinstance(resource, dict) else None
        if not isinstance(properties, dict):
            continue
        inner = package(child, stacks, s3, bucket, f"{stack_name}-{logical_id}")
        key = f"stackproof/{stack_name}/{child.name.replace('/', '-')}.template"
        s3.put_object(Bucket=bucket, Key=key, Body=inner.body.encode("utf-8"))
        properties["TemplateURL"] = f"https://{bucket}.s3.amazonaws.com/{key}"
        planned.children[logical_id] = inner
    planned.body = json.dumps(document, indent=1)
    return planned


def nested_results(cloudformation: Any, planned: Planned, result: DeployResult) -> list[DeployResult]:
    """The created nested stacks of ``planned`` (recursively), each examined as a stack of its
    own against what its template declares. A child CloudFormation gave no physical ID is a
    result with nothing created, so every resource it should hold counts as skipped."""
    found: list[DeployResult] = []
    for logical_id, child in planned.children.items():
        arn = result.created.get(logical_id, "")
        if not arn or arn == "unknown":
            found.append(DeployResult(child.stack_name, "NOT_CREATED", None, dict(child.expected), {}))
            continue
        inner = examine(cloudformation, arn, child.expected)
        found += [inner, *nested_results(cloudformation, child, inner)]
    return found


def delete_stacks(cloudformation: Any, stack_names: list[str]) -> list[str]:
    """Delete the stacks in reverse creation order (importers before the stacks they import
    from, which CloudFormation would otherwise refuse to delete), waiting for each. Every
    stack is attempted; the failures are returned, never raised halfway."""
    errors: list[str] = []
    for name in reversed(stack_names):
        try:
            cloudformation.delete_stack(StackName=name)
            cloudformation.get_waiter("stack_delete_complete").wait(
                StackName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 600}
            )
        except Exception as exc:
            errors.append(f"stack {name}: {type(exc).__name__}: {exc}")
    return errors
