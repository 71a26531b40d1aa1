"""NET: network isolation (seeds 000, 001, 002)."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from stackproof.checking import Findings, exists, findings, known, optional, subjects
from stackproof.model.deployment import ISOLATED, PRIVATE, PUBLIC, Deployment
from stackproof.model.types import (
    AutoScalingGroup,
    DbInstance,
    DbSubnetGroup,
    Function,
    LoadBalancer,
    MountTarget,
    NetworkAcl,
    Obj,
    Other,
    RedshiftCluster,
    Rule,
    SecurityGroup,
    Subnet,
    Vpc,
    VpcEndpoint,
)
from stackproof.template.values import Unknown, refers_to

ADMIN_PORTS = {22: "SSH", 3389: "RDP"}
LOOKUP = "a lookup: the check that uses it requires its own subject"


def app_security_groups(deployment: Deployment) -> set[str]:
    """Security groups of the application tier: what the Auto Scaling groups launch with."""
    groups: set[str] = set()
    for group in optional(deployment.all(AutoScalingGroup), LOOKUP):
        template = deployment.launch_template_of(group)
        if template is not None:
            groups.update(str(g) for g in known(template.security_groups, f"security groups of {template}"))
    return groups


def load_balancer_groups(deployment: Deployment) -> set[str]:
    groups: set[str] = set()
    for lb in optional(deployment.all(LoadBalancer), LOOKUP):
        groups.update(str(g) for g in known(lb.security_groups, f"security groups of {lb}"))
    return groups


@pytest.mark.control("NET-01")
@pytest.mark.static
def test_every_tier_spans_two_availability_zones(deployment: Deployment) -> None:
    with findings() as f:
        subjects(deployment.all(Subnet), "subnets")
        tiers = deployment.subnets_by_tier()
        if "unknown" in tiers:
            with f.each():
                for subnet in tiers["unknown"]:
                    known(deployment.tier_of(subnet), f"tier of {subnet}")
        for tier in (PUBLIC, PRIVATE, ISOLATED):
            subnets = tiers.get(tier, [])
            zones = {known(s.az, f"Availability Zone of {s}") for s in subnets}
            if len(zones) < 2:
                f.fail(
                    f"the {tier} tier is not in two Availability Zones",
                    *subnets,
                    observed=sorted(zones) or "no subnets",
                    expected="two or more zones",
                )


def database_subnet_groups(deployment: Deployment) -> list[DbSubnetGroup]:
    used = {str(db.subnet_group) for db in deployment.all(DbInstance)} | {
        str(c.subnet_group) for c in deployment.all(RedshiftCluster)
    }
    groups = deployment.all(DbSubnetGroup)
    missing = sorted(u for u in used if deployment.get(DbSubnetGroup, u) is None and u != "None")
    if missing:
        known(
            [*groups, *[_unknown_group(m) for m in missing]],
            "database subnet groups",
        )
    return groups


def _unknown_group(name: str) -> object:
    return Unknown(f"subnet group {name} is not part of this deployment, so its subnets cannot be checked")


@pytest.mark.control("NET-02")
@pytest.mark.static
def test_databases_sit_only_in_isolated_subnets(deployment: Deployment) -> None:
    with findings() as f:
        subjects([*deployment.all(DbInstance), *deployment.all(RedshiftCluster)], "database")
        groups = database_subnet_groups(deployment)
        for db in optional(deployment.all(DbInstance), "the databases are required above; this reads their groups"):
            if exists(db) and db.subnet_group is None:
                f.fail("database has no DB subnet group, so AWS places it in the default VPC", db)
        for group in groups:
            for subnet_key in known(group.subnets, f"subnets of {group}"):
                with f.each(group):
                    subnet = deployment.get(Subnet, subnet_key)
                    if subnet is None:
                        f.fail(f"subnet {subnet_key} of the DB subnet group is outside this deployment", group)
                        continue
                    table = deployment.route_table_of(subnet)
                    leaving = known(deployment.internet_routes(table), f"routes of {table} ({subnet.key})")
                    for route in leaving:
                        f.fail(
                            f"database subnet {subnet.key} routes {route.destination} to {route.target_kind} "
                            f"{route.target}",
                            group,
                            subnet,
                            table,
                            *([route.location] if route.location else []),
                            observed=f"{route.destination} -> {route.target_kind}",
                            expected="no route beyond the VPC",
                        )


@pytest.mark.control("NET-03")
@pytest.mark.static
def test_databases_are_private_and_reachable_only_from_the_app_tier(deployment: Deployment) -> None:
    with findings() as f:
        databases: list[DbInstance | RedshiftCluster] = subjects(
            [*deployment.all(DbInstance), *deployment.all(RedshiftCluster)], "database"
        )
        allowed = app_security_groups(deployment)
        for db in databases:
            with f.each(db):
                if not exists(db):
                    continue
                if known(db.publicly_accessible, f"PubliclyAccessible of {db}") is not False:
                    f.fail("database is publicly accessible", db, observed=True, expected=False)
                port = known(db.port, f"port of {db}") or (3306 if isinstance(db, DbInstance) else 5439)
                groups = known(db.security_groups, f"security groups of {db}")
                if not groups:
                    f.fail("database has no security group of the stack's own", db)
                own = deployment.security_groups(groups)
                for group in optional(own, "groups outside this deployment admit nothing it can show"):
                    for rule in group.ingress():
                        _judge_database_rule(f, rule, int(port), allowed, group)


def _judge_database_rule(f: Findings, rule: Rule, port: int, allowed: set[str], group: SecurityGroup) -> None:
    known(rule.protocol, f"a rule of {group}")
    if not rule.covers_port(port):
        return
    if rule.cidr or rule.cidr_ipv6 or rule.prefix_list:
        f.fail(
            f"database port {port} is open to a CIDR range",
            group,
            *([rule.location] if rule.location else []),
            observed=rule.cidr or rule.cidr_ipv6 or rule.prefix_list,
            expected="only the application tier's security groups",
        )
    elif known(rule.peer_group, f"source of a rule of {group}") not in allowed:
        f.fail(
            f"database port {port} admits security group {rule.peer_group}, which is not the application tier's",
            group,
            observed=rule.peer_group,
            expected=sorted(allowed),
        )


@pytest.mark.control("NET-04")
@pytest.mark.static
def test_application_tier_is_private_behind_nat(deployment: Deployment) -> None:
    with findings() as f:
        groups = subjects(deployment.all(AutoScalingGroup), "Auto Scaling group")
        for group in groups:
            subnets = known(group.subnets, f"subnets of {group}")
            for subnet_key in subnets:
                with f.each(group):
                    subnet = deployment.get(Subnet, subnet_key)
                    if subnet is None:
                        f.fail(f"subnet {subnet_key} is outside this deployment", group)
                        continue
                    if known(subnet.map_public_ip, f"MapPublicIpOnLaunch of {subnet}"):
                        f.fail("application subnet gives instances public IPs", subnet, observed=True, expected=False)
                    table = deployment.route_table_of(subnet)
                    routes = known(table.routes, f"routes of {table}")
                    egress = [r for r in routes if r.target_kind not in ("local", "endpoint")]
                    if not any(r.target_kind == "nat" for r in egress):
                        f.fail("application subnet has no route through a NAT gateway", subnet, table)
                    for route in egress:
                        if route.target_kind != "nat":
                            f.fail(
                                f"application subnet has egress other than NAT: {route.destination} -> "
                                f"{route.target_kind}",
                                subnet,
                                table,
                                observed=route.target_kind,
                                expected="nat",
                            )
            template = deployment.launch_template_of(group)
            if template is not None and known(template.public_ip, f"AssociatePublicIpAddress of {template}"):
                f.fail(f"{template.kind} associates public IP addresses", template, observed=True, expected=False)


@pytest.mark.control("NET-05")
@pytest.mark.static
def test_load_balancer_is_the_only_entry_point(deployment: Deployment) -> None:
    with findings() as f:
        subjects(
            [lb for lb in deployment.all(LoadBalancer) if lb.scheme == "internet-facing"],
            "internet-facing load balancer",
        )
        lb_groups = load_balancer_groups(deployment)
        app_groups = app_security_groups(deployment)
        for group in optional(deployment.security_groups(sorted(lb_groups)), "the load balancer is the subject"):
            for rule in group.ingress():
                with f.each(group):
                    known([rule.protocol, rule.from_port, rule.to_port], f"a rule of {group}")
                    ok = (
                        str(rule.protocol).lower() in ("tcp", "6")
                        and rule.from_port == rule.to_port
                        and rule.from_port in (80, 443)
                    )
                    if not ok:
                        f.fail(
                            "load balancer security group admits more than TCP 80 and 443",
                            group,
                            *([rule.location] if rule.location else []),
                            observed=f"{rule.protocol} {rule.from_port}-{rule.to_port}",
                            expected="tcp 80 or tcp 443",
                        )
        for group in optional(deployment.security_groups(sorted(app_groups)), "the load balancer is the subject"):
            for rule in group.ingress():
                with f.each(group):
                    source = known(rule.peer_group, f"source of a rule of {group}")
                    if rule.cidr or rule.cidr_ipv6 or rule.prefix_list or source not in lb_groups:
                        f.fail(
                            "application security group admits traffic not from the load balancer",
                            group,
                            *([rule.location] if rule.location else []),
                            observed=rule.cidr or rule.cidr_ipv6 or rule.prefix_list or source,
                            expected=sorted(lb_groups),
                        )
        for group in optional(deployment.all(SecurityGroup), "the load balancer is the subject"):
            for rule in group.ingress():
                with f.each(group):
                    known([rule.protocol, rule.cidr, rule.cidr_ipv6], f"a rule of {group}")
                    for port, name in ADMIN_PORTS.items():
                        if rule.from_anywhere and rule.covers_port(port):
                            f.fail(f"{name} is open to the internet", group, observed=rule.cidr or rule.cidr_ipv6)


def _within(cidr: str, vpc_cidr: str) -> bool:
    try:
        return ipaddress.ip_network(cidr, strict=False).subnet_of(ipaddress.ip_network(vpc_cidr))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


@pytest.mark.control("NET-06")
@pytest.mark.static
def test_network_acls_guard_every_tier(deployment: Deployment) -> None:
    with findings() as f:
        for subnet in subjects(deployment.all(Subnet), "subnets"):
            with f.each(subnet):
                acl = deployment.network_acl_of(subnet)
                tier = known(deployment.tier_of(subnet), f"tier of {subnet}")
                if acl is None or acl.default:
                    f.fail(f"{tier} subnet uses the VPC's default network ACL (allows everything)", subnet)
                    continue
                if tier != ISOLATED:
                    continue
                vpc = deployment.get(Vpc, subnet.vpc)
                vpc_cidr = str(known(vpc.cidr if vpc else None, f"CIDR of the VPC of {subnet}"))
                for entry in _ingress_allows(acl):
                    cidr = known(entry.cidr, f"an entry of {acl}")
                    if entry.cidr_ipv6 is not None or not cidr or not _within(cidr, vpc_cidr):
                        f.fail(
                            "isolated tier's network ACL admits traffic from outside the VPC",
                            acl,
                            subnet,
                            *([entry.location] if entry.location else []),
                            observed=entry.cidr or entry.cidr_ipv6,
                            expected=f"within {vpc_cidr}",
                        )


def _ingress_allows(acl: NetworkAcl) -> list:  # type: ignore[type-arg]
    entries = [e for e in acl.entries if known(e.egress, f"an entry of {acl}") is False]
    return [e for e in entries if str(known(e.action, f"an entry of {acl}")).lower() == "allow"]


PUBLIC_SUBNET_RESIDENTS = ("load balancers", "NAT gateways")


@pytest.mark.control("NET-07")
@pytest.mark.static
def test_public_subnets_route_to_the_internet_and_hold_only_entry_points(deployment: Deployment) -> None:
    with findings() as f:
        subjects(deployment.all(Subnet), "subnets")
        tiers = deployment.subnets_by_tier()
        public = {s.key for s in tiers.get(PUBLIC, [])}
        for balancer in optional(deployment.all(LoadBalancer), "the subnets are the subject"):
            if balancer.scheme == "internet-facing":
                for subnet_key in known(balancer.subnets, f"subnets of {balancer}"):
                    if subnet_key not in public:
                        f.fail(f"internet-facing load balancer uses non-public subnet {subnet_key}", balancer)
        if not public:
            f.fail("no subnet routes 0.0.0.0/0 to an internet gateway", observed="no public tier")
        for subnet in tiers.get(PUBLIC, []):
            table = deployment.route_table_of(subnet)
            routes = known(table.routes, f"routes of {table}")
            if not any(r.destination == "0.0.0.0/0" and r.target_kind == "igw" for r in routes):
                f.fail("public subnet lacks 0.0.0.0/0 to the internet gateway", subnet, table)
        for resident, subnet_keys in optional(_placements(deployment), "the subnets are the subject"):
            for subnet_key in subnet_keys:
                if subnet_key in public:
                    f.fail(
                        f"{resident.location.resource_type} is placed in public subnet {subnet_key}",
                        resident,
                        expected=f"only {' and '.join(PUBLIC_SUBNET_RESIDENTS)} in public subnets",
                    )


def _placements(deployment: Deployment) -> list[tuple[Obj, list[Any]]]:
    placed: list[tuple[Obj, list[Any]]] = []
    for group in optional(deployment.all(AutoScalingGroup), LOOKUP):
        placed.append((group, list(known(group.subnets, f"subnets of {group}"))))
    for function in optional(deployment.all(Function), LOOKUP):
        placed.append((function, list(known(function.subnets, f"subnets of {function}"))))
    for target in optional(deployment.all(MountTarget), LOOKUP):
        placed.append((target, [known(target.subnet, f"subnet of {target}")]))
    for endpoint in optional(deployment.all(VpcEndpoint), LOOKUP):
        placed.append((endpoint, list(known(endpoint.subnets, f"subnets of {endpoint}"))))
    for subnet_group in optional(deployment.all(DbSubnetGroup), LOOKUP):
        placed.append((subnet_group, list(known(subnet_group.subnets, f"subnets of {subnet_group}"))))
    for other in optional(deployment.all(Other), LOOKUP):
        if other.resource_type == "AWS::EC2::Instance":
            placed.append((other, [refers_to(other.properties.get("SubnetId"))]))
    return placed
