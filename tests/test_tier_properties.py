"""Hypothesis: subnet tiers derived from routes agree with a reachability oracle on
generated VPC topologies (route tables, gateways, associations, the main table)."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from stackproof.model.from_template import build
from stackproof.model.types import Subnet
from stackproof.template.cfn_yaml import load_text
from stackproof.template.loader import Template
from stackproof.template.resolver import resolve
from stackproof.template.values import Unknown

VPC = "10.0.0.0/16"
TARGETS = {
    "igw": ("GatewayId", "Igw"),
    "nat": ("NatGatewayId", "Nat"),
    "eigw": ("EgressOnlyInternetGatewayId", "Eigw"),
    "tgw": ("TransitGatewayId", "tgw-0123456789abcdef0"),
    "peering": ("VpcPeeringConnectionId", "pcx-0123456789abcdef0"),
}
DESTINATIONS = ["0.0.0.0/0", "::/0", "10.1.0.0/16", "192.168.0.0/24"]
INTERNET = [ipaddress.ip_address("203.0.113.10"), ipaddress.ip_address("2001:db8::10")]
ELSEWHERE = [ipaddress.ip_address(a) for a in ("203.0.113.10", "2001:db8::10", "10.1.2.3", "192.168.0.9")]

route = st.tuples(st.sampled_from(DESTINATIONS), st.sampled_from(sorted(TARGETS)))
topology = st.tuples(
    st.lists(st.lists(route, max_size=4, unique_by=lambda r: r[0]), min_size=1, max_size=4),  # route tables
    st.lists(st.one_of(st.none(), st.integers(0, 3)), min_size=1, max_size=6),  # subnet -> table index or main
    st.booleans(),  # gateway endpoint on table 0
)


def template_for(tables: list[list[tuple[str, str]]], subnets: list[int | None], endpoint: bool) -> Template:
    resources: dict[str, Any] = {
        "Vpc": {"Type": "AWS::EC2::VPC", "Properties": {"CidrBlock": VPC}},
        "Igw": {"Type": "AWS::EC2::InternetGateway", "Properties": {}},
        "Nat": {"Type": "AWS::EC2::NatGateway", "Properties": {"SubnetId": "subnet-external"}},
        "Eigw": {"Type": "AWS::EC2::EgressOnlyInternetGateway", "Properties": {"VpcId": {"Ref": "Vpc"}}},
    }
    for t, routes in enumerate(tables):
        resources[f"Table{t}"] = {"Type": "AWS::EC2::RouteTable", "Properties": {"VpcId": {"Ref": "Vpc"}}}
        for r, (destination, target) in enumerate(routes):
            prop, value = TARGETS[target]
            key = "DestinationIpv6CidrBlock" if ":" in destination else "DestinationCidrBlock"
            resources[f"Table{t}Route{r}"] = {
                "Type": "AWS::EC2::Route",
                "Properties": {
                    "RouteTableId": {"Ref": f"Table{t}"},
                    key: destination,
                    prop: {"Ref": value} if value[0].isupper() else value,
                },
            }
    if endpoint:
        resources["S3Endpoint"] = {
            "Type": "AWS::EC2::VPCEndpoint",
            "Properties": {
                "VpcId": {"Ref": "Vpc"},
                "ServiceName": "com.amazonaws.eu-west-1.s3",
                "RouteTableIds": [{"Ref": "Table0"}],
            },
        }
    for s, table in enumerate(subnets):
        resources[f"Subnet{s}"] = {
            "Type": "AWS::EC2::Subnet",
            "Properties": {"VpcId": {"Ref": "Vpc"}, "CidrBlock": f"10.0.{s}.0/24", "AvailabilityZone": "eu-west-1a"},
        }
        if table is not None and table < len(tables):
            resources[f"Subnet{s}Association"] = {
                "Type": "AWS::EC2::SubnetRouteTableAssociation",
                "Properties": {"SubnetId": {"Ref": f"Subnet{s}"}, "RouteTableId": {"Ref": f"Table{table}"}},
            }
    text = json.dumps({"Resources": resources})
    return Template(Path("topology.json"), load_text(text, "topology.json"))


def longest_prefix_target(routes: list[tuple[str, str]], address: ipaddress._BaseAddress) -> str | None:
    """Where a packet for ``address`` goes: the most specific matching route wins; inside
    the VPC it stays local."""
    if address in ipaddress.ip_network(VPC):
        return "local"
    matches = [(ipaddress.ip_network(d), t) for d, t in routes if address in ipaddress.ip_network(d)]
    matches = [(n, t) for n, t in matches if n.version == address.version]
    return max(matches, key=lambda m: m[0].prefixlen)[1] if matches else None


def oracle(tables: list[list[tuple[str, str]]], table: int | None) -> str | None:
    if table is None or table >= len(tables):
        return None  # the main route table: not visible in a template
    routes = tables[table]
    if any(longest_prefix_target(routes, a) == "igw" for a in INTERNET):
        return "public"
    if any(longest_prefix_target(routes, a) not in (None, "local") for a in ELSEWHERE):
        return "private"
    return "isolated"


@settings(max_examples=300, deadline=None)
@given(topology)
def test_tiers_agree_with_reachability(case: tuple[list[list[tuple[str, str]]], list[int | None], bool]) -> None:
    tables, subnets, endpoint = case
    deployment = build(resolve(template_for(tables, subnets, endpoint), {}, "eu-west-1"))
    for index, table in enumerate(subnets):
        subnet = deployment.get(Subnet, f"Subnet{index}")
        assert subnet is not None
        tier = deployment.tier_of(subnet)
        expected = oracle(tables, table)
        if expected is None:
            assert isinstance(tier, Unknown), "a subnet on the main route table cannot be classified offline"
        else:
            assert tier == expected, (tables[table or 0], tier, expected)
