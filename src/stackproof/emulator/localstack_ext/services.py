"""Service providers for the APIs LocalStack 4.13.1's free edition answers with 501.

Each one answers every operation of the service through moto (``call_moto``), the same
fallback LocalStack's own free providers use for what they do not implement themselves
(``MotoFallbackDispatcher``); moto's backends are the ones LocalStack's EC2, IAM and S3
already use, so a load balancer finds the subnets CloudFormation created. Registered under
``localstack.aws.provider`` as ``<api>:default``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from localstack.services.plugins import Service, aws_provider


class _MotoProvider:
    """A provider with no operations of its own: every one goes to moto."""

    def __init__(self, service: str) -> None:
        self.service = service


Handler = Callable[[Any, Any], Any]


def moto_service(api: str, own: dict[str, Handler] | None = None) -> Service:
    """The service ``api`` answered by moto (every operation of its botocore spec), but for the
    operations in ``own``, which moto lacks."""
    from localstack.aws.spec import load_service
    from localstack.services.moto import call_moto

    from stackproof.emulator.localstack_ext import moto_fixes

    moto_fixes.install()

    def handler(context: Any, request: Any) -> Any:
        return call_moto(context)

    operations = load_service(api).operation_names
    table: dict[str, Handler] = {**dict.fromkeys(operations, handler), **(own or {})}
    return Service.for_provider(_MotoProvider(api), dispatch_table_factory=lambda _: table)


@aws_provider()
def efs() -> Service:
    return moto_service("efs")


@aws_provider()
def autoscaling() -> Service:
    return moto_service("autoscaling")


@aws_provider()
def elbv2() -> Service:
    return moto_service("elbv2")


@aws_provider()
def rds() -> Service:
    return moto_service("rds")


def _kept_selections(context: Any, plan_id: str) -> list[dict[str, Any]]:
    from stackproof.emulator import moto_models

    kept = moto_models.selections[(context.account_id, context.region)].values()
    return [s for s in kept if s["BackupPlanId"] == plan_id]


def list_backup_selections(context: Any, request: Any) -> dict[str, Any]:
    """moto has no backup selections; stackproof's model for the type keeps them."""
    listed = [
        {
            "SelectionId": s["SelectionId"],
            "SelectionName": s["BackupSelection"].get("SelectionName", ""),
            "BackupPlanId": s["BackupPlanId"],
            "IamRoleArn": s["BackupSelection"].get("IamRoleArn", ""),
        }
        for s in _kept_selections(context, request["BackupPlanId"])
    ]
    return {"BackupSelectionsList": listed}


def get_backup_selection(context: Any, request: Any) -> dict[str, Any]:
    from localstack.aws.api import CommonServiceException

    for kept in _kept_selections(context, request["BackupPlanId"]):
        if kept["SelectionId"] == request["SelectionId"]:
            return {
                "BackupSelection": kept["BackupSelection"],
                "SelectionId": kept["SelectionId"],
                "BackupPlanId": kept["BackupPlanId"],
            }
    raise CommonServiceException("ResourceNotFoundException", f"no selection {request['SelectionId']}", 404)


@aws_provider()
def backup() -> Service:
    return moto_service(
        "backup", {"ListBackupSelections": list_backup_selections, "GetBackupSelection": get_backup_selection}
    )


@aws_provider()
def ecs() -> Service:
    return moto_service("ecs")


@aws_provider()
def ecr() -> Service:
    return moto_service("ecr")


def request_service_quota_increase(context: Any, request: Any) -> dict[str, Any]:
    """Approved at once, as the increases a template declares are assumed granted (stackproof's
    moto target applies them the same way); GetServiceQuota then answers the new value."""
    from stackproof.emulator import moto_patches

    code, value = request["QuotaCode"], float(request["DesiredValue"])
    moto_patches.applied_quotas[code] = value
    requested = {
        "Id": f"stackproof-{code}",
        "ServiceCode": request["ServiceCode"],
        "QuotaCode": code,
        "DesiredValue": value,
        "Status": "APPROVED",
    }
    return {"RequestedQuota": requested}


@aws_provider(api="service-quotas")
def service_quotas() -> Service:
    """moto answers only VPC quotas; stackproof's extension answers every quota of the policy
    data with AWS's default (reference/policy.yaml) or the increase requested."""
    return moto_service("service-quotas", {"RequestServiceQuotaIncrease": request_service_quota_increase})
