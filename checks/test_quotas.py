"""QTA: service quotas (seed 002, "Service quotas")."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest

from stackproof.checking import findings, known, optional, subjects
from stackproof.domain import policy
from stackproof.domain.quotas import demand
from stackproof.model.deployment import Deployment
from stackproof.model.types import AutoScalingGroup, Function, StackTemplate
from stackproof.template.values import Unknown


def declared_increases(deployment: Deployment) -> dict[str, dict[str, Any]]:
    """The quota increases Metadata.stackproof declares; an entry that is not a mapping, or
    whose value is not a whole number, declares nothing (the demand is then judged against the
    default quota: a FAIL, never a crash)."""
    entries = deployment.declared.get("quota_increases")
    found = {}
    for x in entries if isinstance(entries, list) else []:
        if isinstance(x, dict) and _whole(x.get("value")) is not None:
            found[str(x.get("code"))] = {**x, "value": _whole(x.get("value"))}
    return found


def _whole(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    try:
        return int(value) if isinstance(value, str) else None
    except ValueError:
        return None


@pytest.mark.control("QTA-01")
@pytest.mark.static
def test_demand_at_full_scale_fits_default_quotas(
    deployment: Deployment, record_property: Callable[[str, object], None]
) -> None:
    data = policy.load()
    subjects(deployment.all(AutoScalingGroup), "Auto Scaling group", "the demand at full scale is MaxSize instances")
    needed = demand(deployment, data["instance_vcpus"])
    increases = declared_increases(deployment)
    with findings() as f:
        for quota in data["quotas"]:
            count, default = needed[quota["id"]], quota["default"]
            if count <= default:
                continue
            declared = increases.get(quota["code"])
            if declared and declared["value"] >= count and str(declared.get("reason", "")).strip():
                record_property(
                    "note",
                    f"{quota['code']} {quota['name']}: demand {count} exceeds the default {default}; "
                    f"the template declares an increase to {declared['value']}: {declared['reason']}",
                )
                continue
            f.fail(
                f"demand exceeds the default quota {quota['code']} ({quota['name']}); request an increase "
                "and declare it under Metadata.stackproof.quota_increases with a reason",
                observed=count,
                expected=f"<= {default}" + (f" (declared increase: {declared.get('value')})" if declared else ""),
            )
        rows = []
        for row in data["seed_quota_table"]:
            shown = needed.get(row["demand"])
            differs = str(shown) != str(row["documented"]) and not (
                row["demand"] == "instances" and shown == data["scaling"]["max_size"]
            )
            reason = row.get("reason", "no reason recorded") if differs else ""
            rows.append(f"{row['item']}: seed {row['documented']}, demand {shown}" + (f" ({reason})" if reason else ""))
        record_property("note", "seed 002 quota table beside the demand:\n  " + "\n  ".join(rows))


@pytest.mark.control("QTA-03")
@pytest.mark.static
def test_sync_function_within_lambda_timeout_and_storage(deployment: Deployment) -> None:
    limits = policy.load()["lambda"]
    with findings() as f:
        for function in subjects(deployment.all(Function), "Lambda function"):
            timeout = known(function.timeout, f"timeout of {function}")
            if timeout > limits["max_timeout_seconds"]:
                f.fail("function timeout exceeds 15 minutes", function, observed=timeout, expected="<= 900")
            storage = known(function.ephemeral_storage, f"ephemeral storage of {function}")
            if storage > limits["max_ephemeral_storage_mb"]:
                f.fail("function ephemeral storage exceeds the 512 MB default", function, observed=storage)


REGIONAL = {"region", "account"}


@pytest.mark.control("QTA-02")
@pytest.mark.deployed
def test_account_quotas_hold_the_demand_with_headroom(
    deployment: Deployment, record_property: Callable[[str, object], None]
) -> None:
    """Regional quotas: usage in the region now, plus what this stack adds at MaxSize. Per-VPC
    and per-resource quotas: this stack's demand. Each against the applied value, keeping the
    policy's headroom unused."""
    data = policy.load()
    facts = deployment.quota_facts
    if not facts:
        known(Unknown("the target collected no Service Quotas facts"), "quotas")
    needed = demand(deployment, data["instance_vcpus"])
    headroom = float(data["quota_headroom"])
    with findings() as f:
        for quota in data["quotas"]:
            with f.each(quota["code"]):
                fact = facts[quota["id"]]
                applied = known(fact.applied, f"{quota['code']} {quota['name']}")
                if quota["scope"] in REGIONAL:
                    usage = known(fact.usage, f"usage of {quota['code']} {quota['name']}")
                    need = usage + growth(deployment, quota["id"], needed, data["instance_vcpus"])
                else:
                    need = needed[quota["id"]]
                limit = applied * (1 - headroom)
                if need > limit:
                    f.fail(
                        f"{quota['code']} ({quota['name']}): needs {need}, the account allows {applied:g} "
                        f"keeping {headroom:.0%} headroom; request an increase to {math.ceil(need / (1 - headroom))}",
                        observed=need,
                        expected=f"<= {limit:g}",
                    )
                else:
                    record_property("note", f"{quota['code']} {quota['name']}: {need} of {applied:g}")


def growth(deployment: Deployment, quota_id: str, needed: dict[str, int], vcpus: dict[str, int]) -> int:
    """What the stack adds beyond what it uses now: only instances grow, up to MaxSize."""
    if quota_id != "ec2_vcpus":
        return 0
    now = 0
    for group in optional(deployment.all(AutoScalingGroup), "a lookup: growth of the groups there are"):
        template = deployment.launch_template_of(group)
        kind = known(template.instance_type if template else None, f"instance type of {group}")
        now += int(known(group.desired, f"desired capacity of {group}") or 0) * vcpus[str(kind)]
    return needed["ec2_vcpus"] - now


# CloudFormation's per-template limits (its quotas page): no quota increase lifts them.
TEMPLATE_LIMITS = {"resources": 500, "parameters": 200, "outputs": 200, "mappings": 200}
BODY_THROUGH_S3 = 1_000_000  # bytes, a template given as TemplateURL
BODY_DIRECT = 51_200  # bytes, a template given as TemplateBody


@pytest.mark.control("QTA-04")
@pytest.mark.static
def test_every_stack_template_within_cloudformation_limits(
    deployment: Deployment, record_property: Callable[[str, object], None]
) -> None:
    """Each stack of the deployment on its own (a stack set's, a nested stack's): a template
    over a limit does not deploy. A body between the direct and the S3 limit deploys only
    when staged in S3, which the run notes without failing."""
    with findings() as f:
        for stack in subjects(deployment.all(StackTemplate), "stack template"):
            with f.each(stack):
                for section, limit in TEMPLATE_LIMITS.items():
                    count = known(getattr(stack, section), f"{section} of {stack}")
                    if count > limit:
                        f.fail(f"the template has too many {section}", stack, observed=count, expected=f"<= {limit}")
                size = known(stack.body_bytes, f"the body size of {stack}")
                if size > BODY_THROUGH_S3:
                    f.fail("the template body is too large", stack, observed=size, expected=f"<= {BODY_THROUGH_S3}")
                elif size > BODY_DIRECT:
                    record_property(
                        "note",
                        f"{stack.key}: template body {size} bytes, over {BODY_DIRECT}: deploy it from S3 (TemplateURL)",
                    )
