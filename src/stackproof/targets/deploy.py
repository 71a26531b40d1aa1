"""Deploy a template through CloudFormation and report what the target really created.

Emulators report CREATE_COMPLETE even for resource types they have no model for; this
module makes that gap visible instead of hiding it. Clients are passed in, never built here.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stackproof.template.loader import load_template
from stackproof.template.resolver import resolve

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
) -> DeployResult:
    """Create the stack and wait. With ``keep_failed`` (for emulators that cannot create some
    types) rollback is disabled and a CREATE_FAILED stack is returned with its failures,
    instead of raising, so what was created can still be examined."""
    body = template_path.read_text(encoding="utf-8")
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
        stack_name=stack_name,
        status=stack["StackStatus"],
        reason=stack.get("StackStatusReason"),
        expected=expected,
        created=created,
        unsupported_types=unsupported,
        failed=failed,
    )


def update_stack(
    cloudformation: Any,
    stack_name: str,
    template_path: Path,
    parameters: Mapping[str, str],
    *,
    s3: Any | None = None,
    staging_bucket: str | None = None,
) -> str:
    """Update the stack with new parameter values (the same template) and wait; the status."""
    source = template_source(template_path.read_text(encoding="utf-8"), f"{stack_name}-update", s3, staging_bucket)
    cloudformation.update_stack(
        StackName=stack_name,
        **source,
        **stack_arguments(parameters),
    )
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
