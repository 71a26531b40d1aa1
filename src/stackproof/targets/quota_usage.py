"""QTA-02's facts from an account: applied quotas and current regional usage.

Read-only. Applied values come from Service Quotas (``GetServiceQuota``); usage from one
describe per resource kind across the region, so resources outside this stack count too.
Anything that cannot be read is an Unknown for that quota, never a zero.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from stackproof.model import types as m
from stackproof.model.deployment import Deployment
from stackproof.model.from_aws import pages
from stackproof.model.outcomes import NotEmulated, Undecidable
from stackproof.template.values import Unknown

ClientFactory = Callable[[str], Any]


@dataclass
class QuotaFacts:
    code: str
    name: str
    applied: float | Unknown
    usage: int | Unknown  # in the region (regional quotas) or in the stack's VPC (per-VPC ones)


def applied_quota(client: ClientFactory, service: str, code: str) -> float | Unknown:
    try:
        quota = client("service-quotas").get_service_quota(ServiceCode=service, QuotaCode=code)["Quota"]
    except Exception as exc:  # botocore ClientError, NoSuchResourceException: not knowable here
        return Unknown(f"applied value of {code} could not be read: {type(exc).__name__}: {exc}")
    return float(quota["Value"])


def own_counts(deployment: Deployment) -> dict[str, int]:
    """How many of each regionally counted kind the deployment itself holds: the least a
    complete regional listing can return. Kinds it could not read are left out."""
    counted: dict[str, tuple[type[m.Obj], Callable[[Any], bool]]] = {
        "vpcs": (m.Vpc, lambda o: True),
        "elastic_ips": (m.Other, lambda o: o.resource_type == "AWS::EC2::EIP"),
        "internet_gateways": (m.Gateway, lambda o: o.kind == "igw"),
        "security_groups": (m.SecurityGroup, lambda o: True),
        "load_balancers": (m.LoadBalancer, lambda o: o.lb_type == "application"),
        "target_groups": (m.TargetGroup, lambda o: True),
        "auto_scaling_groups": (m.AutoScalingGroup, lambda o: True),
        "db_instances": (m.DbInstance, lambda o: True),
        "db_subnet_groups": (m.DbSubnetGroup, lambda o: o.service == "rds"),
        "db_parameter_groups": (m.DbParameterGroup, lambda o: True),
        "file_systems": (m.FileSystem, lambda o: True),
        "buckets": (m.Bucket, lambda o: True),
    }
    counts = {}
    for name, (kind, chosen) in counted.items():
        try:
            counts[name] = sum(1 for o in deployment.all(kind) if chosen(o))
        except (Undecidable, NotEmulated):
            continue
    return counts


def regional_usage(
    client: ClientFactory, vcpus: dict[str, int], floor: dict[str, int] | None = None
) -> dict[str, int | Unknown]:
    """Current usage of the regional quotas, counted across the whole region. A count below
    ``floor`` (what the deployment alone holds) is a listing that left some out: unknown, since
    an emptied or cut listing would otherwise read as room to spare."""
    counters: dict[str, Callable[[], int]] = {
        "vpcs": lambda: len(list(pages(client("ec2"), "describe_vpcs", "Vpcs"))),
        "elastic_ips": lambda: len(list(pages(client("ec2"), "describe_addresses", "Addresses"))),
        "internet_gateways": lambda: len(list(pages(client("ec2"), "describe_internet_gateways", "InternetGateways"))),
        "security_groups": lambda: len(list(pages(client("ec2"), "describe_security_groups", "SecurityGroups"))),
        "load_balancers": lambda: len(
            [
                lb
                for lb in pages(client("elbv2"), "describe_load_balancers", "LoadBalancers")
                if lb.get("Type") == "application"
            ]
        ),
        "target_groups": lambda: len(list(pages(client("elbv2"), "describe_target_groups", "TargetGroups"))),
        "auto_scaling_groups": lambda: len(
            list(pages(client("autoscaling"), "describe_auto_scaling_groups", "AutoScalingGroups"))
        ),
        "db_instances": lambda: len(list(pages(client("rds"), "describe_db_instances", "DBInstances"))),
        "db_subnet_groups": lambda: len(list(pages(client("rds"), "describe_db_subnet_groups", "DBSubnetGroups"))),
        "db_parameter_groups": lambda: len(
            [
                g
                for g in pages(client("rds"), "describe_db_parameter_groups", "DBParameterGroups")
                if not g["DBParameterGroupName"].startswith("default.")
            ]
        ),
        "file_systems": lambda: len(list(pages(client("efs"), "describe_file_systems", "FileSystems"))),
        "buckets": lambda: len(list(pages(client("s3"), "list_buckets", "Buckets"))),
        "ec2_vcpus": lambda: running_vcpus(client, vcpus),
        "lambda_concurrency": lambda: reserved_concurrency(client),
    }
    usage: dict[str, int | Unknown] = {}
    for name, count in counters.items():
        try:
            found = count()
        except Exception as exc:  # an API the target lacks or refused: unknown, never zero
            usage[name] = Unknown(f"usage of {name} could not be read: {type(exc).__name__}: {exc}")
            continue
        least = (floor or {}).get(name, 0)
        usage[name] = found
        if found < least:
            usage[name] = Unknown(
                f"usage of {name}: the region's listing holds {found}, fewer than the {least} "
                "this deployment alone has; the listing is not complete"
            )
    return usage


def reserved_concurrency(client: ClientFactory) -> int:
    """Concurrency the region's functions reserve, plus the 100 AWS keeps unreserved: one
    GetAccountSettings, whose limit less its unreserved part is what the functions reserve (a
    call per function would grow with the account)."""
    limit = client("lambda").get_account_settings()["AccountLimit"]
    reserved = int(limit["ConcurrentExecutions"]) - int(limit["UnreservedConcurrentExecutions"])
    if reserved < 0:
        raise ValueError(f"GetAccountSettings answered an unreserved part above the limit: {limit}")
    return reserved + 100


def running_vcpus(client: ClientFactory, vcpus: dict[str, int]) -> int:
    total = 0
    filters = [{"Name": "instance-state-name", "Values": ["pending", "running"]}]
    for reservation in pages(client("ec2"), "describe_instances", "Reservations", Filters=filters):
        for instance in reservation["Instances"]:
            kind = instance["InstanceType"]
            if kind not in vcpus:
                raise KeyError(f"{kind} is not in instance_vcpus of reference/policy.yaml")
            total += vcpus[kind]
    return total


def collect(client: ClientFactory, data: dict[str, Any], deployment: Deployment | None = None) -> dict[str, QuotaFacts]:
    """Applied value and current usage of every quota in the policy data; with the
    ``deployment`` read, no regional count may be below what it holds itself."""
    usage = regional_usage(client, data["instance_vcpus"], own_counts(deployment) if deployment else None)
    facts = {}
    for quota in data["quotas"]:
        facts[quota["id"]] = QuotaFacts(
            code=quota["code"],
            name=quota["name"],
            applied=applied_quota(client, quota["service"], quota["code"]),
            usage=usage.get(quota["id"], Unknown("usage is counted within the stack (per-VPC or per-resource quota)")),
        )
    return facts
