"""Build the deployment model from a resolved template.

One small builder per resource type (registered in ``BUILDERS``); relationship resources
(routes, associations, separate rules, listeners, policies) run in a second pass, once every
object they attach to exists.
"""

from __future__ import annotations

import base64
import ipaddress
import math
import re
from collections.abc import Callable, Iterable
from typing import Any

from stackproof.model import types as m
from stackproof.model.deployment import Deployment
from stackproof.model.documents import parse_document
from stackproof.model.exposures import secret_surfaces, template_size
from stackproof.template.base import describe
from stackproof.template.cfn_yaml import LocatedDict
from stackproof.template.resolver import ResolvedResource, ResolvedTemplate
from stackproof.template.values import AttrRef, FromParameter, ResourceRef, Symbolic, Unknown, refers_to

Builder = Callable[["Context", ResolvedResource], None]


class Context:
    def __init__(self, resolved: ResolvedTemplate, deployment: Deployment) -> None:
        self.resolved = resolved
        self.d = deployment
        self.file = str(resolved.template.path)

    def loc(self, r: ResolvedResource, prop: str | None = None) -> m.Location:
        return m.Location(r.logical_id, r.type, self.file, r.line_of(prop) if prop else r.line)

    def type_of(self, value: Any) -> str | None:
        lid = refers_to(value)
        resource = self.resolved.resources.get(lid) if lid else None
        return resource.type if resource else None


def key(value: Any) -> Any:
    """The model key a reference points to: a logical ID, or the raw value when external; a
    list or object where one reference belongs is Unknown (checks put keys in sets)."""
    lid = refers_to(value)
    return lid if lid is not None else scalar(value)


def props(r: ResolvedResource) -> dict[str, Any]:
    """A resource's properties without explicit nulls: a null property is read as absent, so
    its default applies rather than ``None`` reaching arithmetic or a comparison."""
    return {name: value for name, value in r.properties.items() if value is not None}


def mapping(value: Any, what: str) -> Any:
    """A property CloudFormation declares as an object: the mapping, None when absent, the
    Unknown itself, or an Unknown naming the wrong shape (a list or text where the object belongs)."""
    if value is None or isinstance(value, (dict, Unknown)):
        return value
    return Unknown(f"{what} is {describe(value)}, not a mapping")


def dig(value: Any, *path: str) -> Any:
    """The value at ``path`` inside nested objects: None when a level is absent, an Unknown when
    a level is unknown or is not an object. Builders read nested properties only through this,
    so no shape a template can hold makes them fail."""
    for name in path:
        if value is None or isinstance(value, Unknown):
            return value
        if not isinstance(value, dict):
            return Unknown(f"{name} is read inside {describe(value)}, not a mapping")
        value = value.get(name)
    return value


def items(value: Any, what: str) -> list[Any]:
    """A property CloudFormation declares as a list, as a list the model can hold.

    Absent is empty. An unknown list (an ``Fn::If`` on an unknown condition, an import) is one
    Unknown item, and so is a scalar or object where the list belongs: a check that reads the
    list through ``known()`` is then ERROR, and one that iterates it meets the Unknown; neither
    passes over an empty list that was never empty."""
    if value is None:
        return []
    if isinstance(value, list):
        return list(value)
    if isinstance(value, Unknown):
        return [value]
    return [Unknown(f"{what} is {describe(value)}, not a list")]


def entries(value: Any, what: str) -> list[Any]:
    """The items of a list of objects: each a mapping or an Unknown (never a bare scalar)."""
    return [
        item if isinstance(item, (dict, Unknown)) else Unknown(f"an item of {what} is {describe(item)}, not a mapping")
        for item in items(value, what)
    ]


def keys(values: Any) -> list[Any]:
    """Model keys of a list of references; a single reference where CloudFormation takes a
    list is kept as a list of one, an unknown list is one Unknown key."""
    if isinstance(values, Unknown):
        return [values]
    if not isinstance(values, list):
        return [] if values is None else [key(values)]
    return [key(v) for v in values]


def boolean(value: Any, default: Any = False) -> Any:
    if value is None:
        return default
    if isinstance(value, (bool, Unknown)):
        return value
    text = str(value).lower() if isinstance(value, str) else None
    if text in ("true", "false"):
        return text == "true"
    return Unknown(f"{describe(value)} is not a boolean")


def number(value: Any, default: Any = None) -> Any:
    """A number from a template value (numbers are often strings there). Text that is not a
    finite number, and a boolean, are Unknown: a check must not compare them as numbers."""
    if value is None:
        return default
    if isinstance(value, Unknown):
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return Unknown(f"{describe(value)} is not a number")
    if isinstance(value, int):
        return value
    try:
        as_float = float(value)
    except (ValueError, OverflowError):
        return Unknown(f"{describe(value)} is not a number")
    if not math.isfinite(as_float):
        return Unknown(f"{describe(value)} is not a finite number")
    return int(as_float) if as_float.is_integer() else as_float


def scalar(value: Any) -> Any:
    """A property CloudFormation declares as one value (a name, a type, a zone): a list or an
    object there is Unknown, so no check compares it, counts it or puts it in a set."""
    if isinstance(value, (list, dict)):
        return Unknown(f"{describe(value)} where a single value belongs")
    return value


def text(value: Any, what: str) -> Any:
    """A scalar property the model compares as text (a protocol): numbers as their text,
    an Unknown kept, anything else (absent, a list, an object) an Unknown."""
    if isinstance(value, Unknown):
        return value
    if isinstance(value, (int, str)) and not isinstance(value, bool):
        return str(value)
    return Unknown(f"{what} is {'absent' if value is None else describe(value)}")


def cidr(value: Any, version: int) -> Any:
    """A CIDR in the one form the checks compare (``0::/0`` and ``::0/0`` are ``::/0``), so no
    spelling of "anywhere" escapes them. Text that is no CIDR of that IP version (``0.0.0.0/33``,
    ``10.0.0.0/8 `` with a space, ``::/0`` in an IPv4 field) is Unknown: EC2 refuses it, and a
    check must not judge it as some other range. A reference stays as it is."""
    if value is None or isinstance(value, (Unknown, ResourceRef, AttrRef, Symbolic)):
        return value
    if not isinstance(value, str) or "/" not in value:
        return Unknown(f"{describe(value)} is not an IPv{version} CIDR")
    try:
        network = ipaddress.ip_network(value, strict=False)
    except ValueError:
        return Unknown(f"{describe(value)} is not an IPv{version} CIDR")
    if network.version != version:
        return Unknown(f"{describe(value)} is not an IPv{version} CIDR")
    return str(network)


# ---------------------------------------------------------------------------- network
def vpc(c: Context, r: ResolvedResource) -> None:
    c.d.add(m.Vpc(r.logical_id, c.loc(r), cidr=props(r).get("CidrBlock"), exists=r.exists))


def vpc_cidr_block(c: Context, r: ResolvedResource) -> None:
    p = props(r)
    target = c.d.get(m.Vpc, key(p.get("VpcId")))
    if target is not None:
        amazon = boolean(p.get("AmazonProvidedIpv6CidrBlock"))
        if "Ipv6CidrBlock" in p:
            target.ipv6_cidrs.append(p["Ipv6CidrBlock"])
        elif amazon is True or isinstance(amazon, Unknown):
            target.ipv6_cidrs.append("amazon-provided" if amazon is True else amazon)
        else:
            target.ipv6_cidrs.append(p.get("CidrBlock"))


def subnet(c: Context, r: ResolvedResource) -> None:
    p = props(r)
    c.d.add(
        m.Subnet(
            r.logical_id,
            c.loc(r),
            vpc=key(p.get("VpcId")),
            az=scalar(p.get("AvailabilityZone", Unknown(f"{r.logical_id} has no AvailabilityZone", r.line))),
            cidr=scalar(p.get("CidrBlock")),
            map_public_ip=boolean(p.get("MapPublicIpOnLaunch")),
            exists=r.exists,
        )
    )


def route_table(c: Context, r: ResolvedResource) -> None:
    c.d.add(m.RouteTable(r.logical_id, c.loc(r), vpc=key(props(r).get("VpcId")), exists=r.exists))


def route_target(c: Context, p: dict[str, Any]) -> tuple[str, Any]:
    gateway = p.get("GatewayId")
    if gateway is not None:
        if isinstance(gateway, Unknown):
            return "unknown", gateway
        gateway_type = c.type_of(gateway)
        if gateway_type == "AWS::EC2::VPNGateway" or str(gateway).startswith("vgw-"):
            return "vgw", key(gateway)
        if gateway_type == "AWS::EC2::InternetGateway" or str(gateway).startswith("igw-"):
            return "igw", key(gateway)
        return "unknown", key(gateway)
    for prop, kind in m.ROUTE_TARGETS:
        if prop in p:
            value = p[prop]
            return ("unknown" if isinstance(value, Unknown) else kind), key(value)
    return "unknown", Unknown("route without a target")


def route(c: Context, r: ResolvedResource) -> None:
    p = props(r)
    table = c.d.get(m.RouteTable, key(p.get("RouteTableId")))
    if table is None or isinstance(table.routes, Unknown):
        return
    destination = cidr(p.get("DestinationCidrBlock"), 4) or cidr(p.get("DestinationIpv6CidrBlock"), 6)
    if destination is None and "DestinationPrefixListId" in p:
        prefix_list = p["DestinationPrefixListId"]
        destination = prefix_list if isinstance(prefix_list, Unknown) else f"pl:{prefix_list}"
    kind, target = route_target(c, p)
    if isinstance(r.exists, Unknown):
        destination = Unknown(f"whether route {r.logical_id} exists: {r.exists.reason}", r.line)
    table.routes.append(m.Route(destination, kind, target, c.loc(r)))


def route_table_association(c: Context, r: ResolvedResource) -> None:
    p = props(r)
    table = c.d.get(m.RouteTable, key(p.get("RouteTableId")))
    subnet_key = key(p.get("SubnetId"))
    if table is not None and isinstance(subnet_key, str):
        table.subnets.append(subnet_key)


def gateway(kind: str) -> Builder:
    def build(c: Context, r: ResolvedResource) -> None:
        p = props(r)
        c.d.add(
            m.Gateway(
                r.logical_id,
                c.loc(r),
                kind=kind,
                vpc=key(p.get("VpcId")),
                subnet=key(p.get("SubnetId")),
                exists=r.exists,
            )
        )

    return build


def gateway_attachment(c: Context, r: ResolvedResource) -> None:
    p = props(r)
    for prop in ("InternetGatewayId", "VpnGatewayId"):
        found = c.d.get(m.Gateway, key(p.get(prop)))
        if found is not None:
            found.vpc = key(p.get("VpcId"))


def rule(direction: str, p: dict[str, Any], location: m.Location) -> m.Rule:
    peer = p.get("SourceSecurityGroupId") if direction == "ingress" else p.get("DestinationSecurityGroupId")
    if peer is None and direction == "ingress":
        peer = p.get("SourceSecurityGroupName")
    return m.Rule(
        direction=direction,
        protocol=text(p.get("IpProtocol"), "IpProtocol"),
        from_port=number(p.get("FromPort"), -1),
        to_port=number(p.get("ToPort"), -1),
        cidr=cidr(p.get("CidrIp"), 4),
        cidr_ipv6=cidr(p.get("CidrIpv6"), 6),
        peer_group=key(peer) if peer is not None else None,
        prefix_list=p.get("SourcePrefixListId") or p.get("DestinationPrefixListId"),
        location=location,
    )


def security_group(c: Context, r: ResolvedResource) -> None:
    p = props(r)
    group = m.SecurityGroup(r.logical_id, c.loc(r), vpc=key(p.get("VpcId")), exists=r.exists)
    for direction, prop in (("ingress", "SecurityGroupIngress"), ("egress", "SecurityGroupEgress")):
        for entry in entries(p.get(prop), prop):
            if isinstance(entry, dict):
                group.rules.append(rule(direction, entry, c.loc(r, prop)))
            else:
                group.rules.append(m.Rule(direction, entry, entry, entry, location=c.loc(r, prop)))
    if "SecurityGroupEgress" not in p:
        group.rules.append(m.Rule("egress", "-1", -1, -1, cidr="0.0.0.0/0", location=c.loc(r)))
    c.d.add(group)


def separate_rule(direction: str) -> Builder:
    def build(c: Context, r: ResolvedResource) -> None:
        p = props(r)
        group = c.d.get(m.SecurityGroup, key(p.get("GroupId") or p.get("GroupName")))
        if group is not None:
            new = rule(direction, p, c.loc(r))
            if isinstance(r.exists, Unknown):
                new.protocol = Unknown(f"whether rule {r.logical_id} exists: {r.exists.reason}", r.line)
            group.rules.append(new)

    return build


def network_acl(c: Context, r: ResolvedResource) -> None:
    c.d.add(m.NetworkAcl(r.logical_id, c.loc(r), vpc=key(props(r).get("VpcId")), exists=r.exists))


def network_acl_entry(c: Context, r: ResolvedResource) -> None:
    p = props(r)
    acl = c.d.get(m.NetworkAcl, key(p.get("NetworkAclId")))
    if acl is None:
        return
    ports = mapping(p.get("PortRange"), "PortRange")
    acl.entries.append(
        m.AclEntry(
            rule_number=number(p.get("RuleNumber")),
            egress=boolean(p.get("Egress")),
            action=scalar(p.get("RuleAction")),
            protocol=text(p.get("Protocol"), "Protocol"),
            cidr=cidr(p.get("CidrBlock"), 4),
            cidr_ipv6=cidr(p.get("Ipv6CidrBlock"), 6),
            from_port=number(dig(ports, "From")),
            to_port=number(dig(ports, "To")),
            location=c.loc(r),
        )
    )


def network_acl_association(c: Context, r: ResolvedResource) -> None:
    p = props(r)
    acl = c.d.get(m.NetworkAcl, key(p.get("NetworkAclId")))
    subnet_key = key(p.get("SubnetId"))
    if acl is not None and isinstance(subnet_key, str):
        acl.subnets.append(subnet_key)


def vpc_endpoint(c: Context, r: ResolvedResource) -> None:
    p = props(r)
    endpoint = m.VpcEndpoint(
        r.logical_id,
        c.loc(r),
        service=scalar(p.get("ServiceName")),
        endpoint_type=scalar(p.get("VpcEndpointType", "Gateway")),
        vpc=key(p.get("VpcId")),
        subnets=keys(p.get("SubnetIds")),
        route_tables=keys(p.get("RouteTableIds")),
        security_groups=keys(p.get("SecurityGroupIds")),
        exists=r.exists,
    )
    c.d.add(endpoint)
    for table_key in endpoint.route_tables:
        table = c.d.get(m.RouteTable, table_key)
        if table is not None and not isinstance(table.routes, Unknown):
            table.routes.append(m.Route(f"pl:{endpoint.service}", "endpoint", r.logical_id, c.loc(r)))


# ---------------------------------------------------------------------------- load balancing
def attributes(raw: Any, what: str) -> Any:
    """``[{Key, Value}]`` as a mapping; an unknown list or entry makes the whole mapping
    Unknown, since the unknown entry could set any key."""
    found: dict[str, Any] = {}
    for entry in entries(raw, what):
        if isinstance(entry, Unknown):
            return entry
        found[str(entry.get("Key"))] = entry.get("Value")
    return found


def load_balancer(c: Context, r: ResolvedResource) -> None:
    p = props(r)
    mappings = [key(dig(s, "SubnetId")) for s in entries(p.get("SubnetMappings"), "SubnetMappings")]
    c.d.add(
        m.LoadBalancer(
            r.logical_id,
            c.loc(r),
            lb_type=scalar(p.get("Type", "application")),
            scheme=scalar(p.get("Scheme", "internet-facing")),
            subnets=keys(p.get("Subnets")) + mappings,
            security_groups=keys(p.get("SecurityGroups")),
            attributes=attributes(p.get("LoadBalancerAttributes"), "LoadBalancerAttributes"),
            exists=r.exists,
        )
    )


def actions(raw: Any, paths: list[Any] | None = None) -> list[m.Action]:
    paths = paths or []
    result = []
    for action in entries(raw, "actions"):
        if isinstance(action, Unknown):
            result.append(m.Action(action))
            continue
        groups = [action["TargetGroupArn"]] if action.get("TargetGroupArn") else []
        groups += [
            dig(g, "TargetGroupArn")
            for g in entries(dig(action, "ForwardConfig", "TargetGroups"), "ForwardConfig.TargetGroups")
        ]
        redirect = mapping(action.get("RedirectConfig"), "RedirectConfig")
        result.append(
            m.Action(
                kind=scalar(action.get("Type")),
                target_groups=keys(groups),
                redirect_protocol=scalar(dig(redirect, "Protocol")),
                redirect_port=scalar(dig(redirect, "Port")),
                status_code=scalar(dig(redirect, "StatusCode")),
                paths=list(paths),
            )
        )
    return result


def rule_paths(conditions: Any) -> list[Any]:
    found: list[Any] = []
    for condition in entries(conditions, "Conditions"):
        if isinstance(condition, Unknown):
            found.append(condition)
        elif condition.get("Field") == "path-pattern":
            values = dig(condition, "PathPatternConfig", "Values") or condition.get("Values")
            found += items(values, "path-pattern Values")
    return found


def certificate_arns(raw: Any) -> list[Any]:
    return [dig(x, "CertificateArn") for x in entries(raw, "Certificates")]


def listener(c: Context, r: ResolvedResource) -> None:
    p = props(r)
    c.d.add(
        m.Listener(
            r.logical_id,
            c.loc(r),
            load_balancer=key(p.get("LoadBalancerArn")),
            port=number(p.get("Port")),
            protocol=scalar(p.get("Protocol")),
            ssl_policy=scalar(p.get("SslPolicy")),
            certificates=certificate_arns(p.get("Certificates")),
            actions=actions(p.get("DefaultActions")),
            exists=r.exists,
        )
    )


def listener_rule(c: Context, r: ResolvedResource) -> None:
    p = props(r)
    found = c.d.get(m.Listener, key(p.get("ListenerArn")))
    if found is not None:
        found.actions.extend(actions(p.get("Actions"), rule_paths(p.get("Conditions"))))


def listener_certificate(c: Context, r: ResolvedResource) -> None:
    p = props(r)
    found = c.d.get(m.Listener, key(p.get("ListenerArn")))
    if found is not None:
        found.certificates.extend(certificate_arns(p.get("Certificates")))


def ecs_service(c: Context, r: ResolvedResource) -> None:
    p = props(r)
    network = dig(p, "NetworkConfiguration", "AwsvpcConfiguration")
    assign_public_ip = dig(network, "AssignPublicIp")
    c.d.add(
        m.EcsService(
            r.logical_id,
            c.loc(r),
            cluster=key(p.get("Cluster")),
            task_definition=key(p.get("TaskDefinition")),
            launch_type=scalar(p.get("LaunchType")),
            subnets=keys(dig(network, "Subnets")),
            security_groups=keys(dig(network, "SecurityGroups")),
            assign_public_ip="DISABLED" if assign_public_ip is None else scalar(assign_public_ip),
            load_balancers=[
                m.ServiceLoadBalancer(
                    dig(b, "ContainerName"), number(dig(b, "ContainerPort")), key(dig(b, "TargetGroupArn"))
                )
                for b in entries(p.get("LoadBalancers"), "LoadBalancers")
            ],
            exists=r.exists,
        )
    )


def task_definition(c: Context, r: ResolvedResource) -> None:
    p = props(r)
    c.d.add(
        m.TaskDefinition(
            r.logical_id,
            c.loc(r),
            family=scalar(p.get("Family")),
            network_mode=scalar(p.get("NetworkMode")),
            compatibilities=items(p.get("RequiresCompatibilities"), "RequiresCompatibilities"),
            containers=[
                m.ContainerImage(dig(d, "Name"), dig(d, "Image"))
                for d in entries(p.get("ContainerDefinitions"), "ContainerDefinitions")
            ],
            execution_role=key(p.get("ExecutionRoleArn")),
            task_role=key(p.get("TaskRoleArn")),
            exists=r.exists,
        )
    )


def ecr_repository(c: Context, r: ResolvedResource) -> None:
    p = props(r)
    encryption = dig(p, "EncryptionConfiguration", "EncryptionType")
    c.d.add(
        m.EcrRepository(
            r.logical_id,
            c.loc(r),
            name=scalar(p.get("RepositoryName")),
            scan_on_push=boolean(dig(p, "ImageScanningConfiguration", "ScanOnPush")),
            tag_mutability=scalar(p.get("ImageTagMutability", "MUTABLE")),
            encryption="AES256" if encryption is None else encryption,
            exists=r.exists,
        )
    )


def target_group(c: Context, r: ResolvedResource) -> None:
    p = props(r)
    c.d.add(
        m.TargetGroup(
            r.logical_id,
            c.loc(r),
            protocol=scalar(p.get("Protocol")),
            port=number(p.get("Port")),
            target_type=scalar(p.get("TargetType", "instance")),
            health_check_path=scalar(p.get("HealthCheckPath")),
            exists=r.exists,
        )
    )


# ---------------------------------------------------------------------------- compute
BASE64 = re.compile(r"^[A-Za-z0-9+/]+={0,2}$")


def user_data_text(value: Any) -> Any:
    """The script instances boot with. ``Fn::Base64`` resolves to the script itself; a template
    that gives the encoded text literally (as launch configurations often do) is decoded."""
    if value is None or isinstance(value, Unknown):
        return value
    if not isinstance(value, str):
        return Unknown("user data is not text")
    compact = value.strip()
    if not isinstance(value, Symbolic) and len(compact) % 4 == 0 and BASE64.match(compact):
        try:
            return base64.b64decode(compact, validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            return value
    return value


def block_devices(mappings: Any) -> list[m.BlockDevice]:
    devices = []
    for d in entries(mappings, "BlockDeviceMappings"):
        if isinstance(d, Unknown):
            devices.append(m.BlockDevice(d, d))
        elif "Ebs" in d:
            ebs = mapping(d["Ebs"], "Ebs")
            devices.append(
                m.BlockDevice(
                    d.get("DeviceName"),
                    boolean(dig(ebs, "Encrypted")),
                    dig(ebs, "VolumeType"),
                    dig(ebs, "VolumeSize"),
                )
            )
    return devices


def http_tokens(metadata: Any) -> Any:
    """IMDS tokens; without MetadataOptions both kinds allow IMDSv1 ("optional")."""
    tokens = dig(mapping(metadata, "MetadataOptions"), "HttpTokens")
    return "optional" if tokens is None else scalar(tokens)


def launch_template(c: Context, r: ResolvedResource) -> None:
    data = mapping(props(r).get("LaunchTemplateData"), "LaunchTemplateData")
    interfaces = entries(dig(data, "NetworkInterfaces"), "NetworkInterfaces")
    public_ips = [boolean(dig(i, "AssociatePublicIpAddress"), None) for i in interfaces]
    sgs = keys(dig(data, "SecurityGroupIds")) + keys(dig(data, "SecurityGroups"))
    for interface in interfaces:
        sgs += keys(dig(interface, "Groups"))
    profile = mapping(dig(data, "IamInstanceProfile"), "IamInstanceProfile")
    c.d.add(
        m.LaunchTemplate(
            r.logical_id,
            c.loc(r),
            image=scalar(dig(data, "ImageId")),
            instance_type=scalar(dig(data, "InstanceType")),
            key_name=scalar(dig(data, "KeyName")),
            security_groups=sgs,
            http_tokens=http_tokens(dig(data, "MetadataOptions")),
            block_devices=block_devices(dig(data, "BlockDeviceMappings")),
            user_data=user_data_text(dig(data, "UserData")),
            instance_profile=key(dig(profile, "Arn") or dig(profile, "Name")),
            public_ip=next((v for v in public_ips if v is not None), None),
            exists=r.exists,
        )
    )


def launch_configuration(c: Context, r: ResolvedResource) -> None:
    """A launch configuration is modelled as the launch template it stands for."""
    p = props(r)
    profile = p.get("IamInstanceProfile")
    c.d.add(
        m.LaunchTemplate(
            r.logical_id,
            c.loc(r),
            image=scalar(p.get("ImageId")),
            instance_type=scalar(p.get("InstanceType")),
            key_name=scalar(p.get("KeyName")),
            security_groups=keys(p.get("SecurityGroups")),
            http_tokens=http_tokens(p.get("MetadataOptions")),
            block_devices=block_devices(p.get("BlockDeviceMappings")),
            user_data=user_data_text(p.get("UserData")),
            instance_profile=key(profile) if profile is not None else None,
            public_ip=boolean(p.get("AssociatePublicIpAddress"), None),
            exists=r.exists,
        )
    )


def instance_profile(c: Context, r: ResolvedResource) -> None:
    c.d.add(m.InstanceProfile(r.logical_id, c.loc(r), roles=keys(props(r).get("Roles")), exists=r.exists))


def auto_scaling_group(c: Context, r: ResolvedResource) -> None:
    p = props(r)
    template = p.get("LaunchTemplate") or dig(
        p, "MixedInstancesPolicy", "LaunchTemplate", "LaunchTemplateSpecification"
    )
    template = mapping(template, "LaunchTemplate")
    c.d.add(
        m.AutoScalingGroup(
            r.logical_id,
            c.loc(r),
            min_size=number(p.get("MinSize")),
            max_size=number(p.get("MaxSize")),
            desired=number(p.get("DesiredCapacity")),
            subnets=keys(p.get("VPCZoneIdentifier")),
            target_groups=keys(p.get("TargetGroupARNs")),
            load_balancer_names=keys(p.get("LoadBalancerNames")),
            health_check_type=scalar(p.get("HealthCheckType", "EC2")),
            launch_template=key(dig(template, "LaunchTemplateId") or dig(template, "LaunchTemplateName")),
            launch_configuration=key(p.get("LaunchConfigurationName")),
            cooldown=number(p.get("Cooldown"), 300),
            exists=r.exists,
        )
    )


def tracked_metric(tracking: Any) -> Any:
    if tracking is None or isinstance(tracking, Unknown):
        return tracking
    predefined = mapping(tracking.get("PredefinedMetricSpecification"), "PredefinedMetricSpecification")
    if predefined is not None:
        return dig(predefined, "PredefinedMetricType")
    return "custom" if tracking.get("CustomizedMetricSpecification") else None


def scaling_policy(c: Context, r: ResolvedResource) -> None:
    p = props(r)
    tracking = mapping(p.get("TargetTrackingConfiguration"), "TargetTrackingConfiguration")
    steps = [
        m.StepAdjustment(
            number(dig(s, "MetricIntervalLowerBound")),
            number(dig(s, "MetricIntervalUpperBound")),
            number(dig(s, "ScalingAdjustment")),
        )
        for s in entries(p.get("StepAdjustments"), "StepAdjustments")
    ]
    c.d.add(
        m.ScalingPolicy(
            r.logical_id,
            c.loc(r),
            group=key(p.get("AutoScalingGroupName")),
            policy_type=scalar(p.get("PolicyType", "SimpleScaling")),
            adjustment_type=scalar(p.get("AdjustmentType")),
            steps=steps,
            simple_adjustment=number(p.get("ScalingAdjustment")),
            warmup=number(p.get("EstimatedInstanceWarmup")),
            cooldown=number(p.get("Cooldown")),
            target_value=number(dig(tracking, "TargetValue")),
            target_metric=tracked_metric(tracking),
            disable_scale_in=boolean(dig(tracking, "DisableScaleIn")),
            exists=r.exists,
        )
    )


def alarm(c: Context, r: ResolvedResource) -> None:
    p = props(r)
    dimensions: Any = {}
    for d in entries(p.get("Dimensions"), "Dimensions"):
        if isinstance(d, Unknown):
            dimensions = d
            break
        dimensions[str(d.get("Name"))] = key(d.get("Value"))
    c.d.add(
        m.Alarm(
            r.logical_id,
            c.loc(r),
            namespace=scalar(p.get("Namespace")),
            metric=scalar(p.get("MetricName")),
            statistic=scalar(p.get("Statistic")),
            threshold=number(p.get("Threshold")),
            comparison=scalar(p.get("ComparisonOperator")),
            dimensions=dimensions,
            actions=keys(p.get("AlarmActions")),
            period=number(p.get("Period")),
            evaluation_periods=number(p.get("EvaluationPeriods")),
            datapoints_to_alarm=number(p.get("DatapointsToAlarm")),
            treat_missing_data=scalar(p.get("TreatMissingData", "missing")),
            exists=r.exists,
        )
    )


# ---------------------------------------------------------------------------- databases
def db_instance(c: Context, r: ResolvedResource) -> None:
    p = props(r)
    c.d.add(
        m.DbInstance(
            r.logical_id,
            c.loc(r),
            engine=scalar(p.get("Engine")),
            engine_version=scalar(p.get("EngineVersion")),
            instance_class=scalar(p.get("DBInstanceClass")),
            multi_az=boolean(p.get("MultiAZ")),
            publicly_accessible=boolean(p.get("PubliclyAccessible"), Unknown("PubliclyAccessible is not set")),
            storage_encrypted=boolean(p.get("StorageEncrypted")),
            subnet_group=key(p.get("DBSubnetGroupName")),
            security_groups=keys(p.get("VPCSecurityGroups")),
            parameter_group=key(p.get("DBParameterGroupName")),
            port=number(p.get("Port")),
            backup_retention=number(p.get("BackupRetentionPeriod"), 1),
            deletion_protection=boolean(p.get("DeletionProtection")),
            deletion_policy=r.deletion_policy or "Delete",
            update_replace_policy=r.update_replace_policy or "Delete",
            copy_tags_to_snapshot=boolean(p.get("CopyTagsToSnapshot")),
            log_exports=items(p.get("EnableCloudwatchLogsExports"), "EnableCloudwatchLogsExports"),
            master_password=scalar(p.get("MasterUserPassword")),
            manage_master_password=boolean(p.get("ManageMasterUserPassword")),
            exists=r.exists,
        )
    )


def db_subnet_group(service: str) -> Builder:
    def build(c: Context, r: ResolvedResource) -> None:
        c.d.add(
            m.DbSubnetGroup(
                r.logical_id, c.loc(r), subnets=keys(props(r).get("SubnetIds")), service=service, exists=r.exists
            )
        )

    return build


def db_parameter_group(c: Context, r: ResolvedResource) -> None:
    p = props(r)
    parameters = mapping(p.get("Parameters"), "Parameters")
    c.d.add(
        m.DbParameterGroup(
            r.logical_id,
            c.loc(r),
            family=scalar(p.get("Family")),
            parameters={} if parameters is None else parameters,
            exists=r.exists,
        )
    )


def redshift_cluster(c: Context, r: ResolvedResource) -> None:
    p = props(r)
    c.d.add(
        m.RedshiftCluster(
            r.logical_id,
            c.loc(r),
            subnet_group=key(p.get("ClusterSubnetGroupName")),
            publicly_accessible=boolean(p.get("PubliclyAccessible")),
            encrypted=boolean(p.get("Encrypted")),
            security_groups=keys(p.get("VpcSecurityGroupIds")),
            port=number(p.get("Port"), 5439),
            master_password=scalar(p.get("MasterUserPassword")),
            exists=r.exists,
        )
    )


# ---------------------------------------------------------------------------- storage
def file_system(c: Context, r: ResolvedResource) -> None:
    p = props(r)
    policy = parse_document(p.get("FileSystemPolicy"))
    c.d.add(m.FileSystem(r.logical_id, c.loc(r), encrypted=boolean(p.get("Encrypted")), policy=policy, exists=r.exists))
    if policy is not None:
        c.d.policies.append(
            m.PolicyDocument("FileSystemPolicy", policy, [r.logical_id], c.loc(r, "FileSystemPolicy"), "resource")
        )


def mount_target(c: Context, r: ResolvedResource) -> None:
    p = props(r)
    c.d.add(
        m.MountTarget(
            r.logical_id,
            c.loc(r),
            file_system=key(p.get("FileSystemId")),
            subnet=key(p.get("SubnetId")),
            security_groups=keys(p.get("SecurityGroups")),
            exists=r.exists,
        )
    )


def access_point(c: Context, r: ResolvedResource) -> None:
    p = props(r)
    root = dig(mapping(p.get("RootDirectory"), "RootDirectory"), "Path")
    c.d.add(
        m.AccessPoint(
            r.logical_id,
            c.loc(r),
            file_system=key(p.get("FileSystemId")),
            root_path="/" if root is None else root,
            exists=r.exists,
        )
    )


def notifications(config: Any) -> list[m.Notification]:
    """The bucket's Lambda notifications; an unknown one is a notification whose every part
    is that Unknown."""
    found = []
    for entry in entries(dig(config, "LambdaConfigurations"), "LambdaConfigurations"):
        if isinstance(entry, Unknown):
            found.append(m.Notification(entry, entry, entry, entry))
            continue
        filters: dict[str, Any] = {}
        for x in entries(dig(entry, "Filter", "S3Key", "Rules"), "S3Key Rules"):
            if isinstance(x, Unknown):
                filters = {"prefix": x, "suffix": x}
                break
            filters[str(x.get("Name", "")).lower()] = x.get("Value")
        found.append(
            m.Notification(entry.get("Event"), key(entry.get("Function")), filters.get("prefix"), filters.get("suffix"))
        )
    return found


def bucket(c: Context, r: ResolvedResource) -> None:
    """A bucket, also known by a written-out name: a policy may name it so (``Bucket: my-logs``)."""
    p = props(r)
    block = mapping(p.get("PublicAccessBlockConfiguration"), "PublicAccessBlockConfiguration")
    name = p.get("BucketName")
    literal = name if type(name) is str or isinstance(name, FromParameter) else ""
    c.d.add(
        m.Bucket(
            r.logical_id,
            c.loc(r),
            name=scalar(p.get("BucketName")),
            public_access_block={} if block is None else block,
            encryption=dig(p, "BucketEncryption", "ServerSideEncryptionConfiguration"),
            versioning=scalar(dig(p, "VersioningConfiguration", "Status")),
            notifications=notifications(mapping(p.get("NotificationConfiguration"), "NotificationConfiguration")),
            exists=r.exists,
        ),
        str(literal),
    )


def bucket_policy(c: Context, r: ResolvedResource) -> None:
    p = props(r)
    target = key(p.get("Bucket"))
    document = parse_document(p.get("PolicyDocument"))
    c.d.add(m.BucketPolicy(r.logical_id, c.loc(r), bucket=target, document=document, exists=r.exists))
    c.d.policies.append(m.PolicyDocument(r.logical_id, document, [target], c.loc(r), "resource"))


# ---------------------------------------------------------------------------- functions and IAM
def function(c: Context, r: ResolvedResource) -> None:
    p = props(r)
    vpc_config = mapping(p.get("VpcConfig"), "VpcConfig")
    c.d.add(
        m.Function(
            r.logical_id,
            c.loc(r),
            name=scalar(p.get("FunctionName", ResourceRef(r.logical_id))),
            runtime=scalar(p.get("Runtime")),
            timeout=number(p.get("Timeout"), 3),
            memory=number(p.get("MemorySize"), 128),
            ephemeral_storage=number(dig(p, "EphemeralStorage", "Size"), 512),
            subnets=keys(dig(vpc_config, "SubnetIds")),
            security_groups=keys(dig(vpc_config, "SecurityGroupIds")),
            file_systems=[key(dig(f, "Arn")) for f in entries(p.get("FileSystemConfigs"), "FileSystemConfigs")],
            role=key(p.get("Role")),
            reserved_concurrency=number(p.get("ReservedConcurrentExecutions")),
            exists=r.exists,
        )
    )


def inline_policies(c: Context, r: ResolvedResource) -> list[m.PolicyDocument]:
    """A role's, user's or group's ``Policies``, also kept among the deployment's policies."""
    documents = [
        m.PolicyDocument(
            dig(x, "PolicyName"), parse_document(dig(x, "PolicyDocument")), [r.logical_id], c.loc(r, "Policies")
        )
        for x in entries(props(r).get("Policies"), "Policies")
    ]
    c.d.policies.extend(documents)
    return documents


def role(c: Context, r: ResolvedResource) -> None:
    p = props(r)
    documents = inline_policies(c, r)
    c.d.add(
        m.Role(
            r.logical_id,
            c.loc(r),
            trust=parse_document(p.get("AssumeRolePolicyDocument")),
            managed_policies=items(p.get("ManagedPolicyArns"), "ManagedPolicyArns"),
            policies=documents,
            exists=r.exists,
        )
    )


def identity(kind: str) -> Builder:
    def build(c: Context, r: ResolvedResource) -> None:
        p = props(r)
        documents = inline_policies(c, r)
        c.d.add(
            m.IamIdentity(
                r.logical_id,
                c.loc(r),
                kind=kind,
                managed_policies=items(p.get("ManagedPolicyArns"), "ManagedPolicyArns"),
                policies=documents,
                exists=r.exists,
            )
        )

    return build


def policy(c: Context, r: ResolvedResource) -> None:
    p = props(r)
    roles = keys(p.get("Roles")) if "Roles" in p else [key(p.get("RoleName"))] if "RoleName" in p else []
    document = m.PolicyDocument(
        p.get("PolicyName", r.logical_id), parse_document(p.get("PolicyDocument")), roles, c.loc(r)
    )
    c.d.policies.append(document)
    for role_key in roles:
        target = c.d.get(m.Role, role_key)
        if target is not None:
            if r.type == "AWS::IAM::ManagedPolicy":
                target.managed_policies.append(ResourceRef(r.logical_id))
            target.policies.append(document)


def secret(c: Context, r: ResolvedResource) -> None:
    c.d.add(m.Secret(r.logical_id, c.loc(r), generated="GenerateSecretString" in props(r), exists=r.exists))


def certificate(c: Context, r: ResolvedResource) -> None:
    c.d.add(m.Certificate(r.logical_id, c.loc(r), domain=scalar(props(r).get("DomainName")), exists=r.exists))


def log_group(c: Context, r: ResolvedResource) -> None:
    p = props(r)
    c.d.add(
        m.LogGroup(
            r.logical_id,
            c.loc(r),
            name=scalar(p.get("LogGroupName", ResourceRef(r.logical_id))),
            retention_days=number(p.get("RetentionInDays")),
            exists=r.exists,
        )
    )


def backup_plan(c: Context, r: ResolvedResource) -> None:
    rules = items(dig(props(r), "BackupPlan", "BackupPlanRule"), "BackupPlanRule")
    c.d.add(m.BackupPlan(r.logical_id, c.loc(r), rules=rules, exists=r.exists))


def backup_selection(c: Context, r: ResolvedResource) -> None:
    p = props(r)
    c.d.add(
        m.BackupSelection(
            r.logical_id,
            c.loc(r),
            plan=key(p.get("BackupPlanId")),
            resources=items(dig(p, "BackupSelection", "Resources"), "BackupSelection Resources"),
            exists=r.exists,
        )
    )


def backup_vault(c: Context, r: ResolvedResource) -> None:
    policy_doc = parse_document(props(r).get("AccessPolicy"))
    c.d.add(m.BackupVault(r.logical_id, c.loc(r), policy=policy_doc, exists=r.exists))
    if policy_doc is not None:
        c.d.policies.append(m.PolicyDocument("AccessPolicy", policy_doc, [r.logical_id], c.loc(r), "resource"))


def other(c: Context, r: ResolvedResource) -> None:
    c.d.add(m.Other(r.logical_id, c.loc(r), resource_type=r.type, properties=r.properties, exists=r.exists))


BUILDERS: dict[str, Builder] = {
    "AWS::EC2::VPC": vpc,
    "AWS::EC2::Subnet": subnet,
    "AWS::EC2::RouteTable": route_table,
    "AWS::EC2::InternetGateway": gateway("igw"),
    "AWS::EC2::NatGateway": gateway("nat"),
    "AWS::EC2::EgressOnlyInternetGateway": gateway("egress-only-igw"),
    "AWS::EC2::VPNGateway": gateway("vgw"),
    "AWS::EC2::SecurityGroup": security_group,
    "AWS::EC2::NetworkAcl": network_acl,
    "AWS::ElasticLoadBalancingV2::LoadBalancer": load_balancer,
    "AWS::ElasticLoadBalancingV2::TargetGroup": target_group,
    "AWS::ECS::TaskDefinition": task_definition,
    "AWS::ECR::Repository": ecr_repository,
    "AWS::EC2::LaunchTemplate": launch_template,
    "AWS::AutoScaling::LaunchConfiguration": launch_configuration,
    "AWS::IAM::InstanceProfile": instance_profile,
    "AWS::AutoScaling::AutoScalingGroup": auto_scaling_group,
    "AWS::RDS::DBInstance": db_instance,
    "AWS::RDS::DBSubnetGroup": db_subnet_group("rds"),
    "AWS::RDS::DBParameterGroup": db_parameter_group,
    "AWS::Redshift::Cluster": redshift_cluster,
    "AWS::Redshift::ClusterSubnetGroup": db_subnet_group("redshift"),
    "AWS::EFS::FileSystem": file_system,
    "AWS::S3::Bucket": bucket,
    "AWS::Lambda::Function": function,
    "AWS::IAM::Role": role,
    "AWS::IAM::User": identity("user"),
    "AWS::IAM::Group": identity("group"),
    "AWS::SecretsManager::Secret": secret,
    "AWS::CertificateManager::Certificate": certificate,
    "AWS::Logs::LogGroup": log_group,
    "AWS::Backup::BackupPlan": backup_plan,
    "AWS::Backup::BackupVault": backup_vault,
}

# Second pass: these attach to objects the first pass built.
LINKS: dict[str, Builder] = {
    "AWS::EC2::VPCCidrBlock": vpc_cidr_block,
    "AWS::EC2::Route": route,
    "AWS::EC2::SubnetRouteTableAssociation": route_table_association,
    "AWS::EC2::VPCGatewayAttachment": gateway_attachment,
    "AWS::EC2::SecurityGroupIngress": separate_rule("ingress"),
    "AWS::EC2::SecurityGroupEgress": separate_rule("egress"),
    "AWS::EC2::NetworkAclEntry": network_acl_entry,
    "AWS::EC2::SubnetNetworkAclAssociation": network_acl_association,
    "AWS::EC2::VPCEndpoint": vpc_endpoint,
    "AWS::ElasticLoadBalancingV2::Listener": listener,
    "AWS::ElasticLoadBalancingV2::ListenerRule": listener_rule,
    "AWS::ECS::Service": ecs_service,
    "AWS::ElasticLoadBalancingV2::ListenerCertificate": listener_certificate,
    "AWS::AutoScaling::ScalingPolicy": scaling_policy,
    "AWS::CloudWatch::Alarm": alarm,
    "AWS::EFS::MountTarget": mount_target,
    "AWS::EFS::AccessPoint": access_point,
    "AWS::S3::BucketPolicy": bucket_policy,
    "AWS::IAM::Policy": policy,
    "AWS::IAM::ManagedPolicy": policy,
    "AWS::IAM::RolePolicy": policy,
    "AWS::Backup::BackupSelection": backup_selection,
}
# Listeners must exist before their rules and certificates attach.
_LATE = ("AWS::ElasticLoadBalancingV2::ListenerRule", "AWS::ElasticLoadBalancingV2::ListenerCertificate")


def declared(data: dict[str, Any]) -> dict[str, Any]:
    """The template's ``Metadata.stackproof``. CloudFormation accepts any Metadata, so one that
    is not a mapping is no declaration (the loader warns at its line) and the template is held
    to the default reference's promises, never refused and never excused."""
    metadata = data.get("Metadata")
    own = metadata.get("stackproof") if isinstance(metadata, dict) else None
    return dict(own) if isinstance(own, dict) else {}


def parameters_of(data: dict[str, Any], file: str, stack: str | None = None) -> list[m.Parameter]:
    """The template's parameters as the checks see them (DAT-03 reads NoEcho and defaults)."""
    params = data.get("Parameters") or LocatedDict()
    found = []
    for param_name, spec in params.items() if isinstance(params, dict) else ():
        spec = spec if isinstance(spec, dict) else {}
        line = params.line_of(param_name) if isinstance(params, LocatedDict) else None
        found.append(
            m.Parameter(
                name=param_name,
                no_echo=str(spec.get("NoEcho", "false")).lower() == "true",
                has_default="Default" in spec,
                location=m.Location(param_name, "Parameter", file, line, stack=stack),
            )
        )
    return found


SECTIONS = {"Output": "Outputs", "Parameter": "Parameters"}


def stack_facts(resolved: ResolvedTemplate, deployment: Deployment, stack: str | None = None) -> None:
    """What the stack's template as written shows: where secrets surface (DAT-07) and its
    size against CloudFormation's per-template limits (QTA-04)."""
    template = resolved.template
    data, file = template.data, str(template.path)

    def location(name: str, resource_type: str) -> m.Location:
        section = data.get(SECTIONS.get(resource_type, "Resources"))
        line = section.line_of(name) if isinstance(section, LocatedDict) and name in section else None
        return m.Location(name, resource_type, file, line, stack=stack)

    for surface in secret_surfaces(data, resolved.conditions, location, stack):
        deployment.add(surface)
    path = template.path
    body = path.read_bytes() if path.is_file() else Unknown(f"the template body of {path} is not at hand to measure")
    name = stack or deployment.name
    deployment.add(
        template_size(data, body, name, m.Location(name, "AWS::CloudFormation::Template", file, 1, stack=stack))
    )


def build(resolved: ResolvedTemplate, name: str | None = None) -> Deployment:
    deployment = Deployment(
        target="template",
        name=name or resolved.template.path.stem,
        region=resolved.region,
        source=str(resolved.template.path),
    )
    context = Context(resolved, deployment)
    deployment.parameter_values = dict(resolved.parameters)
    deployment.declared = declared(resolved.template.data)
    deployment.parameters += parameters_of(resolved.template.data, context.file)
    populate(context, resolved.resources.values())
    stack_facts(resolved, deployment)
    return deployment


def populate(context: Context, resources: Iterable[ResolvedResource]) -> None:
    """Build every resource's objects, then the relationships between them (listeners
    before their rules and certificates)."""
    resources = list(resources)
    for resource in resources:
        if resource.type not in LINKS:
            BUILDERS.get(resource.type, other)(context, resource)
    for resource in resources:
        if resource.type in LINKS and resource.type not in _LATE:
            LINKS[resource.type](context, resource)
    for resource in resources:
        if resource.type in _LATE:
            LINKS[resource.type](context, resource)
