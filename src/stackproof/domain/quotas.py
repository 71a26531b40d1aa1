"""What a deployment demands of service quotas at full scale (MaxSize instances).

Counts come from the model, so the same demand is computed from a template or a deployed
stack. Resources AWS creates with every VPC (main route table, default network ACL and
security group) count towards the per-VPC quotas too.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from stackproof.domain.numbers import known_number
from stackproof.model import types as m
from stackproof.model.deployment import Deployment
from stackproof.model.outcomes import known


def _per_vpc(deployment: Deployment, objs: list[Any], extra: int = 0) -> int:
    counts = Counter(str(known(o.vpc, f"VPC of {o}")) for o in objs)
    vpcs = deployment.all(m.Vpc)
    return max([counts.get(v.key, 0) + extra for v in vpcs] or [0])


def _others(deployment: Deployment, resource_type: str) -> list[m.Other]:
    return [o for o in deployment.all(m.Other) if o.resource_type == resource_type]


def ec2_vcpus(deployment: Deployment, vcpus: dict[str, int]) -> int:
    total = 0
    for group in deployment.all(m.AutoScalingGroup):
        template = deployment.launch_template_of(group)
        instance_type = known(template.instance_type if template else None, f"instance type of {group}")
        if instance_type not in vcpus:
            known(_unknown(f"{instance_type} is not in instance_vcpus of reference/policy.yaml"), "vCPUs")
        total += int(known_number(group.max_size, f"MaxSize of {group}")) * vcpus[str(instance_type)]
    for instance in _others(deployment, "AWS::EC2::Instance"):
        instance_type = known(instance.properties.get("InstanceType", "m1.small"), f"type of {instance}")
        if instance_type not in vcpus:
            known(_unknown(f"{instance_type} is not in instance_vcpus of reference/policy.yaml"), "vCPUs")
        total += vcpus[str(instance_type)]
    return total


def _unknown(reason: str) -> Any:
    from stackproof.template.values import Unknown

    return Unknown(reason)


def demand(deployment: Deployment, vcpus: dict[str, int]) -> dict[str, int]:
    """Demand keyed by the quota ids and seed-table keys of ``reference/policy.yaml``."""
    d = deployment
    groups = d.all(m.AutoScalingGroup)
    functions = d.all(m.Function)
    rules_per_sg = [max(Counter(r.direction for r in sg.rules).values(), default=0) for sg in d.all(m.SecurityGroup)]
    acl_rules = [max(Counter(str(e.egress) for e in acl.entries).values(), default=0) for acl in d.all(m.NetworkAcl)]
    routes = [len(known(t.routes, f"routes of {t}")) + 1 for t in d.all(m.RouteTable)]  # + the local route
    nat_by_zone = Counter(
        str(known(sub.az, f"zone of {sub}")) if (sub := d.get(m.Subnet, g.subnet)) else str(g.subnet)
        for g in d.all(m.Gateway)
        if g.kind == "nat"
    )
    counters: dict[str, Callable[[], int]] = {
        "instances": lambda: sum(int(known_number(g.max_size, f"MaxSize of {g}")) for g in groups),
        "ec2_vcpus": lambda: ec2_vcpus(d, vcpus),
        "elastic_ips": lambda: len(_others(d, "AWS::EC2::EIP")),
        "vpcs": lambda: len(d.all(m.Vpc)),
        "subnets": lambda: _per_vpc(d, d.all(m.Subnet)),
        "route_tables": lambda: _per_vpc(d, d.all(m.RouteTable), extra=1),
        "route_tables_created": lambda: len(d.all(m.RouteTable)),
        "network_acls_created": lambda: len(d.all(m.NetworkAcl)),
        "security_groups_created": lambda: len(d.all(m.SecurityGroup)),
        "routes": lambda: max(routes, default=0),
        "network_acls": lambda: _per_vpc(d, d.all(m.NetworkAcl), extra=1),
        "acl_rules": lambda: max(acl_rules, default=0),
        "security_groups": lambda: len(d.all(m.SecurityGroup)) + len(d.all(m.Vpc)),
        "sg_rules": lambda: max(rules_per_sg, default=0),
        "interface_endpoints": lambda: _per_vpc(d, [e for e in d.all(m.VpcEndpoint) if e.endpoint_type == "Interface"]),
        "nat_gateways": lambda: max(nat_by_zone.values(), default=0),
        "internet_gateways": lambda: len([g for g in d.all(m.Gateway) if g.kind == "igw"]),
        "load_balancers": lambda: len(d.all(m.LoadBalancer)),
        "target_groups": lambda: len(d.all(m.TargetGroup)),
        "auto_scaling_groups": lambda: len(groups),
        "db_instances": lambda: len(d.all(m.DbInstance)),
        "db_subnet_groups": lambda: len([g for g in d.all(m.DbSubnetGroup) if g.service == "rds"]),
        "db_parameter_groups": lambda: len(d.all(m.DbParameterGroup)),
        "file_systems": lambda: len(d.all(m.FileSystem)),
        "buckets": lambda: len(d.all(m.Bucket)),
        "lambda_concurrency": lambda: (
            100 + sum(int(known_number(f.reserved_concurrency or 0, f"reserved concurrency of {f}")) for f in functions)
        ),
        "mount_targets": lambda: len(d.all(m.MountTarget)),
        "secrets": lambda: len(d.all(m.Secret)),
        "launch_configurations": lambda: len(
            [t for t in d.all(m.LaunchTemplate) if t.location.resource_type == m.LAUNCH_CONFIGURATION]
        ),
        "step_adjustments": lambda: max((len(p.steps) for p in d.all(m.ScalingPolicy)), default=0),
        "asg_target_groups": lambda: max((len(g.target_groups) for g in groups), default=0),
        "lambda_timeout_minutes": lambda: max(
            (-(-int(known_number(f.timeout, f"timeout of {f}")) // 60) for f in functions), default=0
        ),
    }
    return {name: count() for name, count in counters.items()}
