"""The ``localstack`` target: LocalStack at an endpoint (``LOCALSTACK_ENDPOINT``, or what
localstack-client configures, by default on loopback port 4566).

The free edition emulates no RDS, ELBv2, Auto Scaling, EFS or Backup; CloudFormation still
reports such resources CREATE_COMPLETE with physical ID ``unknown``. ``tox -e localstack``
installs stackproof's providers for them into LocalStack (the ``localstack`` extra,
:mod:`stackproof.emulator.localstack_ext`); on any LocalStack without them those kinds are
marked not emulated, so the checks that need them are skipped with that reason, never passed.
The stack and what was created for it are deleted on close.

Its clients are the moto targets' (:meth:`MotoTarget._open`): one
:class:`~stackproof.targets.aws_calls.ClientCache` at the LocalStack endpoint, so one botocore
Config and one client per service and region, every call counted by the target's recorder.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.request
from typing import Any

from stackproof.targets import TargetError
from stackproof.targets.moto import STACK_NAME, MotoTarget


def endpoint() -> str:
    configured = os.environ.get("LOCALSTACK_ENDPOINT")
    if configured:
        return configured.rstrip("/")
    try:
        from localstack_client.config import get_service_endpoint
    except ImportError:
        return "http://127.0.0.1:4566"
    found: str = get_service_endpoint("cloudformation")
    return found.rstrip("/")


class LocalStackTarget(MotoTarget):
    name = "localstack"
    # What LocalStack fails to create (without stackproof's providers: Lambda without Docker, and
    # what depends on it) is kept and examined; the checks on it are skipped with the reason.
    keep_failed = True

    def prepare_emulator(self) -> None:
        """LocalStack needs nothing from stackproof's moto extension."""

    def start(self) -> str:
        self._endpoint = endpoint()
        try:
            with urllib.request.urlopen(f"{self._endpoint}/_localstack/health", timeout=5) as response:
                health = json.load(response)
        except OSError as exc:
            raise TargetError(
                f"target localstack: no LocalStack at {self._endpoint} ({exc}); `tox -e localstack` starts one"
            ) from None
        self.services = health.get("services", {})
        return self._endpoint

    def stop(self) -> None:
        """Delete the stack, then the bucket and certificate made for it."""
        client = self._client
        if client is None:
            return
        self._client = None
        cloudformation = client("cloudformation")
        cloudformation.delete_stack(StackName=STACK_NAME)
        cloudformation.get_waiter("stack_delete_complete").wait(
            StackName=STACK_NAME, WaiterConfig={"Delay": 1, "MaxAttempts": 300}
        )
        for kind, name in reversed(self.created):
            if kind == "bucket":
                s3 = client("s3")
                for item in s3.list_objects_v2(Bucket=name).get("Contents", []):
                    s3.delete_object(Bucket=name, Key=item["Key"])
                s3.delete_bucket(Bucket=name)
            elif kind == "certificate":
                client("acm").delete_certificate(CertificateArn=name)
            elif kind == "address":
                client("ec2").release_address(AllocationId=name)
        self.created.clear()

    def selections(self, region: str) -> Any:
        return None

    def provide_prerequisites(self, client: Any, declared: Any, parameters: dict[str, str]) -> None:
        """Besides the certificate and the zip: LocalStack's free edition has no
        CloudFormation provider for AWS::EC2::EIP, so the NAT gateway's address is allocated
        through the EC2 API and passed in (the template's NatEipAllocationId)."""
        super().provide_prerequisites(client, declared, parameters)
        if "NatEipAllocationId" in declared and not parameters.get("NatEipAllocationId"):
            allocation = client("ec2").allocate_address(Domain="vpc")["AllocationId"]
            parameters["NatEipAllocationId"] = allocation
            self.created.append(("address", allocation))

    def apply_declared_quotas(self, declared: dict[str, Any]) -> None:
        """The increases the template declares are requested through Service Quotas, as a user
        following the template's instructions would (stackproof's provider in LocalStack grants
        them at once, as the moto target assumes). Where the request is refused (a LocalStack
        without that provider), the account keeps its values and QTA-02 judges those."""
        from stackproof.domain import policy

        increases = declared.get("quota_increases") or []
        if not increases or self._client is None:
            return
        services = {str(q["code"]): str(q["service"]) for q in policy.load()["quotas"]}
        quotas = self._client("service-quotas")
        for increase in increases:
            code = str(increase["code"])
            try:
                quotas.request_service_quota_increase(
                    ServiceCode=services.get(code, "ec2"), QuotaCode=code, DesiredValue=float(increase["value"])
                )
            except Exception as exc:  # botocore's ClientError: not granted here
                print(f"stackproof: localstack: quota increase {code} not requested: {exc}", file=sys.stderr)
