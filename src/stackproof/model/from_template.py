"""Build the deployment model from a resolved template.

One small builder per resource type (registered in ``BUILDERS``); relationship resources
(routes, associations, separate rules, listeners, policies) run in a second pass, once every
object they attach to exists.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterable
from typing import Any

from stackproof.model import types as m
from stackproof.model.deployment import Deployment
from stackproof.model.documents import parse_document
from stackproof.template.cfn_yaml import LocatedDict
from stackproof.template.resolver import ResolvedResource, ResolvedTemplate
from stackproof.template.values import ResourceRef, Symbolic, Unknown, refers_to

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
    """The model key a reference points to: a logical ID, or the raw value when external."""
    lid = refers_to(value)
    return lid if lid is not None else value


def keys(values: Any) -> list[Any]:
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
    text = str(value).lower()
    if text in ("true", "false"):
        return text == "true"
    return Unknown(f"{value!r} is not a boolean")


def number(value: Any, default: Any = None) -> Any:
    if value is None:
        return default
    if isinstance(value, (Unknown, bool)):
        return value
    try:
        as_float = float(str(value))
    except ValueError:
        return Unknown(f"{value!r} is not a number")
    return int(as_float) if as_float.is_integer() else as_float


# ---------------------------------------------------------------------------- network
def vpc(c: Context, r: ResolvedResource) -> None:
    c.d.add(m.Vpc(r.logical_id, c.loc(r), cidr=r.properties.get("CidrBlock"), exists=r.exists))


def vpc_cidr_block(c: Context, r: ResolvedResource) -> None:
    target = c.d.get(m.Vpc, key(r.properties.get("VpcId")))
    if target is not None:
        p = r.properties
        target.ipv6_cidrs.append(
            p.get("Ipv6CidrBlock")
            or ("amazon-provided" if p.get("AmazonProvidedIpv6CidrBlock") else p.get("CidrBlock"))
        )


def subnet(c: Context, r: ResolvedResource) -> None:
    p = r.properties
    c.d.add(
        m.Subnet(
            r.logical_id,
            c.loc(r),
            vpc=key(p.get("VpcId")),
            az=p.get("AvailabilityZone", Unknown(f"{r.logical_id} has no AvailabilityZone", r.line)),
            cidr=p.get("CidrBlock"),
            map_public_ip=boolean(p.get("MapPublicIpOnLaunch")),
            exists=r.exists,
        )
    )


def route_table(c: Context, r: ResolvedResource) -> None:
    c.d.add(m.RouteTable(r.logical_id, c.loc(r), vpc=key(r.properties.get("VpcId")), exists=r.exists))


def route_target(c: Context, props: dict[str, Any]) -> tuple[str, Any]:
    gateway = props.get("GatewayId")
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
        if prop in props:
            value = props[prop]
            return ("unknown" if isinstance(value, Unknown) else kind), key(value)
    return "unknown", Unknown("route without a target")


def route(c: Context, r: ResolvedResource) -> None:
    p = r.properties
    table = c.d.get(m.RouteTable, key(p.get("RouteTableId")))
    if table is None or isinstance(table.routes, Unknown):
        return
    destination = p.get("DestinationCidrBlock") or p.get("DestinationIpv6CidrBlock")
    if destination is None and "DestinationPrefixListId" in p:
        destination = f"pl:{p['DestinationPrefixListId']}"
    kind, target = route_target(c, p)
    if isinstance(r.exists, Unknown):
        destination = Unknown(f"whether route {r.logical_id} exists: {r.exists.reason}", r.line)
    table.routes.append(m.Route(destination, kind, target, c.loc(r)))


def route_table_association(c: Context, r: ResolvedResource) -> None:
    p = r.properties
    table = c.d.get(m.RouteTable, key(p.get("RouteTableId")))
    subnet_key = key(p.get("SubnetId"))
    if table is not None and isinstance(subnet_key, str):
        table.subnets.append(subnet_key)


def gateway(kind: str) -> Builder:
    def build(c: Context, r: ResolvedResource) -> None:
        p = r.properties
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
    p = r.properties
    for prop in ("InternetGatewayId", "VpnGatewayId"):
        found = c.d.get(m.Gateway, key(p.get(prop)))
        if found is not None:
            found.vpc = key(p.get("VpcId"))


def rule(direction: str, p: dict[str, Any], location: m.Location) -> m.Rule:
    peer = p.get("SourceSecurityGroupId") if direction == "ingress" else p.get("DestinationSecurityGroupId")
    if peer is None and direction == "ingress":
        peer = p.get("SourceSecurityGroupName")
    protocol = p.get("IpProtocol")
    return m.Rule(
        direction=direction,
        protocol=str(protocol) if isinstance(protocol, (int, str)) else protocol,
        from_port=number(p.get("FromPort"), -1),
        to_port=number(p.get("ToPort"), -1),
        cidr=p.get("CidrIp"),
        cidr_ipv6=p.get("CidrIpv6"),
        peer_group=key(peer) if peer is not None else None,
        prefix_list=p.get("SourcePrefixListId") or p.get("DestinationPrefixListId"),
        location=location,
    )


def security_group(c: Context, r: ResolvedResource) -> None:
    p = r.properties
    group = m.SecurityGroup(r.logical_id, c.loc(r), vpc=key(p.get("VpcId")), exists=r.exists)
    for direction, prop in (("ingress", "SecurityGroupIngress"), ("egress", "SecurityGroupEgress")):
        entries = p.get(prop) or []
        if isinstance(entries, Unknown):
            group.rules.append(m.Rule(direction, entries, entries, entries, location=c.loc(r, prop)))
            continue
        for entry in entries:
            if isinstance(entry, dict):
                group.rules.append(rule(direction, entry, c.loc(r, prop)))
            else:
                group.rules.append(m.Rule(direction, entry, entry, entry, location=c.loc(r, prop)))
    if "SecurityGroupEgress" not in p:
        group.rules.append(m.Rule("egress", "-1", -1, -1, cidr="0.0.0.0/0", location=c.loc(r)))
    c.d.add(group)


def separate_rule(direction: str) -> Builder:
    def build(c: Context, r: ResolvedResource) -> None:
        p = r.properties
        group = c.d.get(m.SecurityGroup, key(p.get("GroupId") or p.get("GroupName")))
        if group is not None:
            new = rule(direction, p, c.loc(r))
            if isinstance(r.exists, Unknown):
                new.protocol = Unknown(f"whether rule {r.logical_id} exists: {r.exists.reason}", r.line)
            group.rules.append(new)

    return build


def network_acl(c: Context, r: ResolvedResource) -> None:
    c.d.add(m.NetworkAcl(r.logical_id, c.loc(r), vpc=key(r.properties.get("VpcId")), exists=r.exists))


def network_acl_entry(c: Context, r: ResolvedResource) -> None:
    p = r.properties
    acl = c.d.get(m.NetworkAcl, key(p.get("NetworkAclId")))
    if acl is None:
        return
    ports = p.get("PortRange") or {}
    acl.entries.append(
        m.AclEntry(
            rule_number=number(p.get("RuleNumber")),
            egress=boolean(p.get("Egress")),
            action=p.get("RuleAction"),
            protocol=str(p.get("Protocol")),
            cidr=p.get("CidrBlock"),
            cidr_ipv6=p.get("Ipv6CidrBlock"),
            from_port=number(ports.get("From")) if isinstance(ports, dict) else ports,
            to_port=number(ports.get("To")) if isinstance(ports, dict) else ports,
            location=c.loc(r),
        )
    )


def network_acl_association(c: Context, r: ResolvedResource) -> None:
    p = r.properties
    acl = c.d.get(m.NetworkAcl, key(p.get("NetworkAclId")))
    subnet_key = key(p.get("SubnetId"))
    if acl is not None and isinstance(subnet_key, str):
        acl.subnets.append(subnet_key)


def vpc_endpoint(c: Context, r: ResolvedResource) -> None:
    p = r.properties
    endpoint = m.VpcEndpoint(
        r.logical_id,
        c.loc(r),
        service=p.get("ServiceName"),
        endpoint_type=p.get("VpcEndpointType", "Gateway"),
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
def load_balancer(c: Context, r: ResolvedResource) -> None:
    p = r.properties
    attributes = {
        str(a.get("Key")): a.get("Value") for a in p.get("LoadBalancerAttributes") or [] if isinstance(a, dict)
    }
    mappings = [key(s.get("SubnetId")) for s in p.get("SubnetMappings") or [] if isinstance(s, dict)]
    c.d.add(
        m.LoadBalancer(
            r.logical_id,
            c.loc(r),
            lb_type=p.get("Type", "application"),
            scheme=p.get("Scheme", "internet-facing"),
            subnets=keys(p.get("Subnets")) + mappings,
            security_groups=keys(p.get("SecurityGroups")),
            attributes=attributes,
            exists=r.exists,
        )
    )


def actions(raw: Any, paths: list[Any] | None = None) -> list[m.Action]:
    paths = paths or []
    if isinstance(raw, Unknown):
        return [m.Action(raw)]
    result = []
    for action in raw or []:
        if not isinstance(action, dict):
            result.append(m.Action(Unknown(f"action {action!r}")))
            continue
        groups = [action["TargetGroupArn"]] if action.get("TargetGroupArn") else []
        forward = action.get("ForwardConfig") or {}
        groups += [g.get("TargetGroupArn") for g in forward.get("TargetGroups") or [] if isinstance(g, dict)]
        redirect = action.get("RedirectConfig") or {}
        result.append(
            m.Action(
                kind=action.get("Type"),
                target_groups=keys(groups),
                redirect_protocol=redirect.get("Protocol"),
                redirect_port=redirect.get("Port"),
                status_code=redirect.get("StatusCode"),
                paths=list(paths),
            )
        )
    return result


def rule_paths(conditions: Any) -> list[Any]:
    found: list[Any] = []
    for condition in conditions or []:
        if isinstance(condition, dict) and condition.get("Field") == "path-pattern":
            config = condition.get("PathPatternConfig") or {}
            found += list(config.get("Values") or condition.get("Values") or [])
    return found


def listener(c: Context, r: ResolvedResource) -> None:
    p = r.properties
    certificates = [x.get("CertificateArn") for x in p.get("Certificates") or [] if isinstance(x, dict)]
    c.d.add(
        m.Listener(
            r.logical_id,
            c.loc(r),
            load_balancer=key(p.get("LoadBalancerArn")),
            port=number(p.get("Port")),
            protocol=p.get("Protocol"),
            ssl_policy=p.get("SslPolicy"),
            certificates=certificates,
            actions=actions(p.get("DefaultActions")),
            exists=r.exists,
        )
    )


def listener_rule(c: Context, r: ResolvedResource) -> None:
    found = c.d.get(m.Listener, key(r.properties.get("ListenerArn")))
    if found is not None:
        found.actions.extend(actions(r.properties.get("Actions"), rule_paths(r.properties.get("Conditions"))))


def listener_certificate(c: Context, r: ResolvedResource) -> None:
    found = c.d.get(m.Listener, key(r.properties.get("ListenerArn")))
    if found is not None:
        found.certificates.extend(x.get("CertificateArn") for x in r.properties.get("Certificates") or [])


def ecs_service(c: Context, r: ResolvedResource) -> None:
    p = r.properties
    network = (p.get("NetworkConfiguration") or {}).get("AwsvpcConfiguration") or {}
    c.d.add(
        m.EcsService(
            r.logical_id,
            c.loc(r),
            cluster=key(p.get("Cluster")),
            task_definition=key(p.get("TaskDefinition")),
            launch_type=p.get("LaunchType"),
            subnets=keys(network.get("Subnets")),
            security_groups=keys(network.get("SecurityGroups")),
            assign_public_ip=network.get("AssignPublicIp", "DISABLED"),
            load_balancers=[
                m.ServiceLoadBalancer(
                    b.get("ContainerName"), number(b.get("ContainerPort")), key(b.get("TargetGroupArn"))
                )
                for b in p.get("LoadBalancers") or []
                if isinstance(b, dict)
            ],
            exists=r.exists,
        )
    )


def task_definition(c: Context, r: ResolvedResource) -> None:
    p = r.properties
    c.d.add(
        m.TaskDefinition(
            r.logical_id,
            c.loc(r),
            family=p.get("Family"),
            network_mode=p.get("NetworkMode"),
            compatibilities=list(p.get("RequiresCompatibilities") or []),
            containers=[
                m.ContainerImage(d.get("Name"), d.get("Image"))
                for d in p.get("ContainerDefinitions") or []
                if isinstance(d, dict)
            ],
            execution_role=key(p.get("ExecutionRoleArn")),
            task_role=key(p.get("TaskRoleArn")),
            exists=r.exists,
        )
    )


def ecr_repository(c: Context, r: ResolvedResource) -> None:
    p = r.properties
    c.d.add(
        m.EcrRepository(
            r.logical_id,
            c.loc(r),
            name=p.get("RepositoryName"),
            scan_on_push=(p.get("ImageScanningConfiguration") or {}).get("ScanOnPush", False),
            tag_mutability=p.get("ImageTagMutability", "MUTABLE"),
            encryption=(p.get("EncryptionConfiguration") or {}).get("EncryptionType", "AES256"),
            exists=r.exists,
        )
    )


def target_group(c: Context, r: ResolvedResource) -> None:
    p = r.properties
    c.d.add(
        m.TargetGroup(
            r.logical_id,
            c.loc(r),
            protocol=p.get("Protocol"),
            port=number(p.get("Port")),
            target_type=p.get("TargetType", "instance"),
            health_check_path=p.get("HealthCheckPath"),
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
    if isinstance(mappings, Unknown):
        return [m.BlockDevice(mappings, mappings)]
    return [
        m.BlockDevice(
            d.get("DeviceName"),
            boolean((d.get("Ebs") or {}).get("Encrypted")),
            (d.get("Ebs") or {}).get("VolumeType"),
            (d.get("Ebs") or {}).get("VolumeSize"),
        )
        for d in mappings or []
        if isinstance(d, dict) and "Ebs" in d
    ]


def http_tokens(metadata: Any) -> Any:
    """IMDS tokens; without MetadataOptions both kinds allow IMDSv1 ("optional")."""
    if metadata is None:
        return "optional"
    return metadata.get("HttpTokens", "optional") if isinstance(metadata, dict) else metadata


def launch_template(c: Context, r: ResolvedResource) -> None:
    data = r.properties.get("LaunchTemplateData") or {}
    if isinstance(data, Unknown):
        data = {}
    metadata = data.get("MetadataOptions") or {}
    devices = block_devices(data.get("BlockDeviceMappings"))
    interfaces = [i for i in data.get("NetworkInterfaces") or [] if isinstance(i, dict)]
    public_ips = [boolean(i.get("AssociatePublicIpAddress"), None) for i in interfaces]
    sgs = keys(data.get("SecurityGroupIds")) + keys(data.get("SecurityGroups"))
    for interface in interfaces:
        sgs += keys(interface.get("Groups"))
    profile = data.get("IamInstanceProfile") or {}
    c.d.add(
        m.LaunchTemplate(
            r.logical_id,
            c.loc(r),
            image=data.get("ImageId"),
            instance_type=data.get("InstanceType"),
            key_name=data.get("KeyName"),
            security_groups=sgs,
            http_tokens=http_tokens(metadata),
            block_devices=devices,
            user_data=user_data_text(data.get("UserData")),
            instance_profile=key(profile.get("Arn") or profile.get("Name")) if isinstance(profile, dict) else profile,
            public_ip=next((v for v in public_ips if v is not None), None),
            exists=r.exists,
        )
    )


def launch_configuration(c: Context, r: ResolvedResource) -> None:
    """A launch configuration is modelled as the launch template it stands for."""
    p = r.properties
    profile = p.get("IamInstanceProfile")
    c.d.add(
        m.LaunchTemplate(
            r.logical_id,
            c.loc(r),
            image=p.get("ImageId"),
            instance_type=p.get("InstanceType"),
            key_name=p.get("KeyName"),
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
    c.d.add(m.InstanceProfile(r.logical_id, c.loc(r), roles=keys(r.properties.get("Roles")), exists=r.exists))


def auto_scaling_group(c: Context, r: ResolvedResource) -> None:
    p = r.properties
    template = p.get("LaunchTemplate") or (p.get("MixedInstancesPolicy") or {}).get("LaunchTemplate", {}).get(
        "LaunchTemplateSpecification"
    )
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
            health_check_type=p.get("HealthCheckType", "EC2"),
            launch_template=key(template.get("LaunchTemplateId") or template.get("LaunchTemplateName"))
            if isinstance(template, dict)
            else None,
            launch_configuration=key(p.get("LaunchConfigurationName")),
            cooldown=number(p.get("Cooldown", 300)),
            exists=r.exists,
        )
    )


def tracked_metric(tracking: Any) -> Any:
    if tracking is None or isinstance(tracking, Unknown):
        return tracking
    predefined = tracking.get("PredefinedMetricSpecification") if isinstance(tracking, dict) else None
    if isinstance(predefined, dict):
        return predefined.get("PredefinedMetricType")
    return "custom" if isinstance(tracking, dict) and tracking.get("CustomizedMetricSpecification") else None


def scaling_policy(c: Context, r: ResolvedResource) -> None:
    p = r.properties
    tracking = p.get("TargetTrackingConfiguration") or {}
    steps = [
        m.StepAdjustment(
            number(s.get("MetricIntervalLowerBound")),
            number(s.get("MetricIntervalUpperBound")),
            number(s.get("ScalingAdjustment")),
        )
        for s in p.get("StepAdjustments") or []
        if isinstance(s, dict)
    ]
    c.d.add(
        m.ScalingPolicy(
            r.logical_id,
            c.loc(r),
            group=key(p.get("AutoScalingGroupName")),
            policy_type=p.get("PolicyType", "SimpleScaling"),
            adjustment_type=p.get("AdjustmentType"),
            steps=steps,
            simple_adjustment=number(p.get("ScalingAdjustment")),
            warmup=number(p.get("EstimatedInstanceWarmup")),
            cooldown=number(p.get("Cooldown")),
            target_value=number(tracking.get("TargetValue")) if isinstance(tracking, dict) else tracking,
            target_metric=tracked_metric(tracking),
            disable_scale_in=boolean(tracking.get("DisableScaleIn")) if isinstance(tracking, dict) else False,
            exists=r.exists,
        )
    )


def alarm(c: Context, r: ResolvedResource) -> None:
    p = r.properties
    dimensions = {str(d.get("Name")): key(d.get("Value")) for d in p.get("Dimensions") or [] if isinstance(d, dict)}
    c.d.add(
        m.Alarm(
            r.logical_id,
            c.loc(r),
            namespace=p.get("Namespace"),
            metric=p.get("MetricName"),
            statistic=p.get("Statistic"),
            threshold=number(p.get("Threshold")),
            comparison=p.get("ComparisonOperator"),
            dimensions=dimensions,
            actions=keys(p.get("AlarmActions")),
            period=number(p.get("Period")),
            evaluation_periods=number(p.get("EvaluationPeriods")),
            datapoints_to_alarm=number(p.get("DatapointsToAlarm")),
            treat_missing_data=p.get("TreatMissingData", "missing"),
            exists=r.exists,
        )
    )


# ---------------------------------------------------------------------------- databases
def db_instance(c: Context, r: ResolvedResource) -> None:
    p = r.properties
    c.d.add(
        m.DbInstance(
            r.logical_id,
            c.loc(r),
            engine=p.get("Engine"),
            engine_version=p.get("EngineVersion"),
            instance_class=p.get("DBInstanceClass"),
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
            log_exports=list(p.get("EnableCloudwatchLogsExports") or []),
            master_password=p.get("MasterUserPassword"),
            manage_master_password=boolean(p.get("ManageMasterUserPassword")),
            exists=r.exists,
        )
    )


def db_subnet_group(service: str) -> Builder:
    def build(c: Context, r: ResolvedResource) -> None:
        c.d.add(
            m.DbSubnetGroup(
                r.logical_id, c.loc(r), subnets=keys(r.properties.get("SubnetIds")), service=service, exists=r.exists
            )
        )

    return build


def db_parameter_group(c: Context, r: ResolvedResource) -> None:
    p = r.properties
    params = p.get("Parameters") or {}
    c.d.add(
        m.DbParameterGroup(
            r.logical_id,
            c.loc(r),
            family=p.get("Family"),
            parameters=dict(params) if isinstance(params, dict) else {},
            exists=r.exists,
        )
    )


def redshift_cluster(c: Context, r: ResolvedResource) -> None:
    p = r.properties
    c.d.add(
        m.RedshiftCluster(
            r.logical_id,
            c.loc(r),
            subnet_group=key(p.get("ClusterSubnetGroupName")),
            publicly_accessible=boolean(p.get("PubliclyAccessible")),
            encrypted=boolean(p.get("Encrypted")),
            security_groups=keys(p.get("VpcSecurityGroupIds")),
            port=number(p.get("Port"), 5439),
            master_password=p.get("MasterUserPassword"),
            exists=r.exists,
        )
    )


# ---------------------------------------------------------------------------- storage
def file_system(c: Context, r: ResolvedResource) -> None:
    p = r.properties
    policy = parse_document(p.get("FileSystemPolicy"))
    c.d.add(m.FileSystem(r.logical_id, c.loc(r), encrypted=boolean(p.get("Encrypted")), policy=policy, exists=r.exists))
    if policy is not None:
        c.d.policies.append(
            m.PolicyDocument("FileSystemPolicy", policy, [r.logical_id], c.loc(r, "FileSystemPolicy"), "resource")
        )


def mount_target(c: Context, r: ResolvedResource) -> None:
    p = r.properties
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
    p = r.properties
    root = p.get("RootDirectory") or {}
    c.d.add(
        m.AccessPoint(
            r.logical_id,
            c.loc(r),
            file_system=key(p.get("FileSystemId")),
            root_path=root.get("Path", "/") if isinstance(root, dict) else root,
            exists=r.exists,
        )
    )


def bucket(c: Context, r: ResolvedResource) -> None:
    p = r.properties
    notifications = []
    config = p.get("NotificationConfiguration") or {}
    for entry in config.get("LambdaConfigurations") or [] if isinstance(config, dict) else []:
        rules = ((entry.get("Filter") or {}).get("S3Key") or {}).get("Rules") or []
        filters = {str(x.get("Name", "")).lower(): x.get("Value") for x in rules if isinstance(x, dict)}
        notifications.append(
            m.Notification(entry.get("Event"), key(entry.get("Function")), filters.get("prefix"), filters.get("suffix"))
        )
    encryption = p.get("BucketEncryption")
    c.d.add(
        m.Bucket(
            r.logical_id,
            c.loc(r),
            name=p.get("BucketName"),
            public_access_block=dict(p.get("PublicAccessBlockConfiguration") or {}),
            encryption=(encryption or {}).get("ServerSideEncryptionConfiguration")
            if isinstance(encryption, dict)
            else encryption,
            versioning=(p.get("VersioningConfiguration") or {}).get("Status"),
            notifications=notifications,
            exists=r.exists,
        )
    )


def bucket_policy(c: Context, r: ResolvedResource) -> None:
    p = r.properties
    target = key(p.get("Bucket"))
    document = parse_document(p.get("PolicyDocument"))
    c.d.add(m.BucketPolicy(r.logical_id, c.loc(r), bucket=target, document=document, exists=r.exists))
    c.d.policies.append(m.PolicyDocument(r.logical_id, document, [target], c.loc(r), "resource"))


# ---------------------------------------------------------------------------- functions and IAM
def function(c: Context, r: ResolvedResource) -> None:
    p = r.properties
    vpc_config = p.get("VpcConfig") or {}
    c.d.add(
        m.Function(
            r.logical_id,
            c.loc(r),
            name=p.get("FunctionName", ResourceRef(r.logical_id)),
            runtime=p.get("Runtime"),
            timeout=number(p.get("Timeout"), 3),
            memory=number(p.get("MemorySize"), 128),
            ephemeral_storage=number((p.get("EphemeralStorage") or {}).get("Size"), 512),
            subnets=keys(vpc_config.get("SubnetIds")) if isinstance(vpc_config, dict) else [vpc_config],
            security_groups=keys(vpc_config.get("SecurityGroupIds")) if isinstance(vpc_config, dict) else [],
            file_systems=[key(f.get("Arn")) for f in p.get("FileSystemConfigs") or [] if isinstance(f, dict)],
            role=key(p.get("Role")),
            reserved_concurrency=number(p.get("ReservedConcurrentExecutions")),
            exists=r.exists,
        )
    )


def role(c: Context, r: ResolvedResource) -> None:
    p = r.properties
    documents = [
        m.PolicyDocument(
            x.get("PolicyName"), parse_document(x.get("PolicyDocument")), [r.logical_id], c.loc(r, "Policies")
        )
        for x in p.get("Policies") or []
        if isinstance(x, dict)
    ]
    c.d.policies.extend(documents)
    c.d.add(
        m.Role(
            r.logical_id,
            c.loc(r),
            trust=parse_document(p.get("AssumeRolePolicyDocument")),
            managed_policies=list(p.get("ManagedPolicyArns") or []),
            policies=documents,
            exists=r.exists,
        )
    )


def policy(c: Context, r: ResolvedResource) -> None:
    p = r.properties
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
    c.d.add(m.Secret(r.logical_id, c.loc(r), generated="GenerateSecretString" in r.properties, exists=r.exists))


def certificate(c: Context, r: ResolvedResource) -> None:
    c.d.add(m.Certificate(r.logical_id, c.loc(r), domain=r.properties.get("DomainName"), exists=r.exists))


def log_group(c: Context, r: ResolvedResource) -> None:
    p = r.properties
    c.d.add(
        m.LogGroup(
            r.logical_id,
            c.loc(r),
            name=p.get("LogGroupName", ResourceRef(r.logical_id)),
            retention_days=number(p.get("RetentionInDays")),
            exists=r.exists,
        )
    )


def backup_plan(c: Context, r: ResolvedResource) -> None:
    plan = r.properties.get("BackupPlan") or {}
    c.d.add(m.BackupPlan(r.logical_id, c.loc(r), rules=list(plan.get("BackupPlanRule") or []), exists=r.exists))


def backup_selection(c: Context, r: ResolvedResource) -> None:
    p = r.properties
    selection = p.get("BackupSelection") or {}
    c.d.add(
        m.BackupSelection(
            r.logical_id,
            c.loc(r),
            plan=key(p.get("BackupPlanId")),
            resources=list(selection.get("Resources") or []),
            exists=r.exists,
        )
    )


def backup_vault(c: Context, r: ResolvedResource) -> None:
    policy_doc = parse_document(r.properties.get("AccessPolicy"))
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


def build(resolved: ResolvedTemplate, name: str | None = None) -> Deployment:
    deployment = Deployment(
        target="template",
        name=name or resolved.template.path.stem,
        region=resolved.region,
        source=str(resolved.template.path),
    )
    context = Context(resolved, deployment)
    deployment.parameter_values = dict(resolved.parameters)
    metadata = resolved.template.data.get("Metadata") or {}
    deployment.declared = dict(metadata.get("stackproof") or {}) if isinstance(metadata, dict) else {}
    params = resolved.template.data.get("Parameters") or LocatedDict()
    for param_name, spec in params.items():
        spec = spec or {}
        deployment.parameters.append(
            m.Parameter(
                name=param_name,
                no_echo=str(spec.get("NoEcho", "false")).lower() == "true",
                has_default="Default" in spec,
                location=m.Location(param_name, "Parameter", context.file, params.line_of(param_name)),
            )
        )
    populate(context, resolved.resources.values())
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
