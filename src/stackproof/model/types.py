"""The normalized deployment model: what checks see, whatever the target.

A template builds these from resolved properties (keys are logical IDs); a deployed stack
builds them from describe calls (keys are physical IDs). Any field may hold an
:class:`~stackproof.template.values.Unknown` when the source could not tell; checks read
fields through :func:`stackproof.checking.known`, which turns that into ERROR.

Cross-references hold the key of the other object, or the raw value when it points outside
the deployment (a parameter-supplied ID, say).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

V = Any  # a field value, possibly Unknown


@dataclass(frozen=True)
class Location:
    """Where an object comes from: a template file and line, or a deployed resource."""

    resource: str
    resource_type: str
    file: str | None = None
    line: int | None = None
    physical_id: str | None = None
    stack: str | None = None  # the stack of a set (or nested stack) the resource belongs to

    def __str__(self) -> str:
        if self.file:
            return f"{self.resource} ({self.file}:{self.line})"
        return f"{self.resource} ({self.physical_id})" if self.physical_id else self.resource


@dataclass
class Obj:
    key: str
    location: Location
    exists: V = field(default=True, kw_only=True)  # Unknown when a condition cannot be decided

    def __str__(self) -> str:
        return str(self.location)


@dataclass
class Vpc(Obj):
    cidr: V = None
    ipv6_cidrs: list[V] = field(default_factory=list)


@dataclass
class Subnet(Obj):
    vpc: V = None
    az: V = None
    cidr: V = None
    map_public_ip: V = False


# Route properties naming a target beyond the local route, and the kind of each; the same
# names in CloudFormation's AWS::EC2::Route and in EC2's DescribeRouteTables.
ROUTE_TARGETS = (
    ("NatGatewayId", "nat"),
    ("EgressOnlyInternetGatewayId", "egress-only-igw"),
    ("TransitGatewayId", "tgw"),
    ("VpcPeeringConnectionId", "peering"),
    ("InstanceId", "instance"),
    ("NetworkInterfaceId", "eni"),
    ("VpcEndpointId", "endpoint"),
    ("CarrierGatewayId", "igw"),
    ("LocalGatewayId", "local-gateway"),
    ("CoreNetworkArn", "tgw"),
)


@dataclass
class Route:
    destination: V  # "0.0.0.0/0", "::/0", a CIDR, or "pl:<prefix list>" for gateway endpoints
    target_kind: str  # igw, nat, egress-only-igw, tgw, vgw, peering, instance, eni, endpoint, local, unknown
    target: V
    location: Location | None = None


@dataclass
class RouteTable(Obj):
    vpc: V = None
    main: bool = False
    routes: V = field(default_factory=list)  # list[Route], or Unknown for an unseen main table
    subnets: list[str] = field(default_factory=list)


@dataclass
class Gateway(Obj):
    kind: str = "igw"  # igw, nat, egress-only-igw, vgw
    vpc: V = None
    subnet: V = None  # NAT gateways


@dataclass
class Rule:
    direction: str  # ingress / egress
    protocol: V  # "-1", "tcp", "udp", "icmp", or a number as text
    from_port: V
    to_port: V
    cidr: V = None
    cidr_ipv6: V = None
    peer_group: V = None
    prefix_list: V = None
    location: Location | None = None

    def covers_port(self, port: int) -> bool:
        if str(self.protocol) in ("-1", "all"):
            return True
        if str(self.protocol).lower() not in ("tcp", "6"):
            return False
        try:
            return int(self.from_port) <= port <= int(self.to_port)
        except (TypeError, ValueError):
            return True  # unknown ports could cover anything; callers check known() first

    @property
    def from_anywhere(self) -> bool:
        return bool(self.cidr == "0.0.0.0/0" or self.cidr_ipv6 == "::/0")


@dataclass
class SecurityGroup(Obj):
    vpc: V = None
    rules: list[Rule] = field(default_factory=list)

    def ingress(self) -> list[Rule]:
        return [r for r in self.rules if r.direction == "ingress"]


@dataclass
class AclEntry:
    rule_number: V
    egress: V
    action: V
    protocol: V
    cidr: V = None
    cidr_ipv6: V = None
    from_port: V = None
    to_port: V = None
    location: Location | None = None


@dataclass
class NetworkAcl(Obj):
    vpc: V = None
    default: bool = False
    entries: list[AclEntry] = field(default_factory=list)
    subnets: list[str] = field(default_factory=list)


@dataclass
class VpcEndpoint(Obj):
    service: V = None
    endpoint_type: V = "Gateway"
    vpc: V = None
    subnets: list[V] = field(default_factory=list)
    route_tables: list[V] = field(default_factory=list)
    security_groups: list[V] = field(default_factory=list)


@dataclass
class LoadBalancer(Obj):
    lb_type: V = "application"
    scheme: V = "internet-facing"
    subnets: list[V] = field(default_factory=list)
    security_groups: list[V] = field(default_factory=list)
    attributes: V = field(default_factory=dict)  # a mapping, or Unknown when an entry is not known
    dns_name: V = None


@dataclass
class Action:
    kind: V  # forward, redirect, fixed-response, authenticate-*
    target_groups: list[V] = field(default_factory=list)
    redirect_protocol: V = None
    redirect_port: V = None
    status_code: V = None
    paths: list[V] = field(default_factory=list)  # a listener rule's path patterns (none: the default action)


@dataclass
class Listener(Obj):
    load_balancer: V = None
    port: V = None
    protocol: V = None
    ssl_policy: V = None
    certificates: list[V] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)  # default actions and rule actions


@dataclass
class TargetGroup(Obj):
    protocol: V = None
    port: V = None
    target_type: V = "instance"
    health_check_path: V = None


@dataclass
class BlockDevice:
    device: V
    encrypted: V
    volume_type: V = None
    size: V = None


LAUNCH_CONFIGURATION = "AWS::AutoScaling::LaunchConfiguration"


@dataclass
class LaunchTemplate(Obj):
    """How a group launches its instances: an ``AWS::EC2::LaunchTemplate`` or an
    ``AWS::AutoScaling::LaunchConfiguration``. Both carry the same instance settings (IMDS,
    volumes, user data, key pair, profile, security groups, type), and every control that
    reads them must see either, so they are one kind; :attr:`kind` says which it is."""

    image: V = None
    instance_type: V = None
    key_name: V = None
    security_groups: list[V] = field(default_factory=list)
    http_tokens: V = None
    block_devices: list[BlockDevice] = field(default_factory=list)
    user_data: V = None
    instance_profile: V = None
    public_ip: V = None  # AssociatePublicIpAddress of its network interfaces, if set

    @property
    def kind(self) -> str:
        """The words evidence uses for it."""
        if self.location.resource_type == LAUNCH_CONFIGURATION:
            return "launch configuration"
        return "launch template"


@dataclass
class InstanceProfile(Obj):
    roles: list[V] = field(default_factory=list)


@dataclass
class AutoScalingGroup(Obj):
    min_size: V = None
    max_size: V = None
    desired: V = None
    subnets: list[V] = field(default_factory=list)
    target_groups: list[V] = field(default_factory=list)
    load_balancer_names: list[V] = field(default_factory=list)
    health_check_type: V = "EC2"
    launch_template: V = None
    launch_configuration: V = None
    cooldown: V = 300  # seconds (Cooldown / DefaultCooldown)


@dataclass
class StepAdjustment:
    lower: V
    upper: V
    adjustment: V


@dataclass
class ScalingPolicy(Obj):
    """A step, simple or target-tracking policy. A simple policy (``PolicyType`` SimpleScaling
    or absent) changes capacity by ``simple_adjustment`` and then waits its ``cooldown`` (the
    group's default cooldown when unset); a target-tracking policy keeps ``target_metric`` near
    ``target_value`` through alarms AWS creates itself."""

    group: V = None
    policy_type: V = "SimpleScaling"
    adjustment_type: V = None
    steps: list[StepAdjustment] = field(default_factory=list)
    simple_adjustment: V = None
    warmup: V = None  # EstimatedInstanceWarmup, seconds
    cooldown: V = None  # Cooldown of a simple policy, seconds
    target_value: V = None  # TargetTrackingConfiguration.TargetValue
    target_metric: V = None  # its predefined metric type, or "custom"
    disable_scale_in: V = False


@dataclass
class Alarm(Obj):
    namespace: V = None
    metric: V = None
    statistic: V = None
    threshold: V = None
    comparison: V = None
    dimensions: V = field(default_factory=dict)  # a mapping, or Unknown when an entry is not known
    actions: list[V] = field(default_factory=list)
    period: V = None
    evaluation_periods: V = None
    datapoints_to_alarm: V = None
    treat_missing_data: V = None


@dataclass
class DbInstance(Obj):
    engine: V = None
    engine_version: V = None
    instance_class: V = None
    multi_az: V = False
    publicly_accessible: V = None
    storage_encrypted: V = False
    subnet_group: V = None
    security_groups: list[V] = field(default_factory=list)
    parameter_group: V = None
    port: V = None
    backup_retention: V = 1
    deletion_protection: V = False
    deletion_policy: V = None
    update_replace_policy: V = None
    copy_tags_to_snapshot: V = False
    log_exports: list[V] = field(default_factory=list)
    master_password: V = None
    manage_master_password: V = False


@dataclass
class DbSubnetGroup(Obj):
    subnets: list[V] = field(default_factory=list)
    service: str = "rds"  # or redshift


@dataclass
class DbParameterGroup(Obj):
    family: V = None
    parameters: V = field(default_factory=dict)  # a mapping, or Unknown


@dataclass
class RedshiftCluster(Obj):
    subnet_group: V = None
    publicly_accessible: V = None
    encrypted: V = False
    security_groups: list[V] = field(default_factory=list)
    port: V = 5439
    master_password: V = None


@dataclass
class FileSystem(Obj):
    encrypted: V = False
    policy: V = None


@dataclass
class MountTarget(Obj):
    file_system: V = None
    subnet: V = None
    security_groups: list[V] = field(default_factory=list)


@dataclass
class AccessPoint(Obj):
    file_system: V = None
    root_path: V = "/"


@dataclass
class Notification:
    event: V
    function: V
    prefix: V = None
    suffix: V = None


@dataclass
class Bucket(Obj):
    name: V = None
    public_access_block: V = field(default_factory=dict)  # a mapping, or Unknown
    encryption: V = None
    versioning: V = None
    notifications: list[Notification] = field(default_factory=list)


@dataclass
class PolicyDocument:
    """A policy and what it is attached to (a role, a bucket, a key, a file system)."""

    name: V
    document: V
    attached_to: list[V] = field(default_factory=list)
    location: Location | None = None
    kind: str = "identity"  # identity (IAM) or resource (bucket, file system, vault, key)


@dataclass
class BucketPolicy(Obj):
    bucket: V = None
    document: V = None


@dataclass
class Function(Obj):
    name: V = None
    runtime: V = None
    timeout: V = 3
    memory: V = 128
    ephemeral_storage: V = 512
    subnets: list[V] = field(default_factory=list)
    security_groups: list[V] = field(default_factory=list)
    file_systems: list[V] = field(default_factory=list)  # access point keys or ARNs
    role: V = None
    reserved_concurrency: V = None


@dataclass
class Role(Obj):
    trust: V = None
    managed_policies: list[V] = field(default_factory=list)
    policies: list[PolicyDocument] = field(default_factory=list)


@dataclass
class IamIdentity(Obj):
    """An IAM user or group the stack creates: its policies grant as a role's do (IAM-03,
    IAM-04 judge them), but nothing assumes it, so it is no :class:`Role`."""

    kind: str = "user"  # user or group
    managed_policies: list[V] = field(default_factory=list)
    policies: list[PolicyDocument] = field(default_factory=list)


@dataclass
class Secret(Obj):
    generated: V = False


@dataclass
class Certificate(Obj):
    domain: V = None
    alternative_names: list[V] = field(default_factory=list)
    status: V = None  # ISSUED, PENDING_VALIDATION, EXPIRED, ...
    not_after: V = None  # datetime, timezone-aware


@dataclass
class TlsProbe:
    """A live handshake to a load balancer with TLS capped at ``version``."""

    host: str
    version: str  # "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"
    accepted: V  # True, False, or Unknown when the probe could not run


@dataclass
class LogGroup(Obj):
    name: V = None
    retention_days: V = None


@dataclass
class BackupPlan(Obj):
    rules: list[V] = field(default_factory=list)


@dataclass
class BackupSelection(Obj):
    plan: V = None
    resources: list[V] = field(default_factory=list)


@dataclass
class BackupVault(Obj):
    policy: V = None


@dataclass
class Parameter:
    """A template parameter, for the controls about credentials (DAT-03)."""

    name: str
    no_echo: bool
    has_default: bool
    location: Location


@dataclass
class SecretSurface(Obj):
    """A place whose value anyone who can describe the stack reads (an output, user data,
    a tag, a parameter's default), and the secrets that reach it (DAT-07). ``surface`` is
    the kind of place; ``carries`` names each secret found there, or is Unknown when a
    condition that decides it is not known."""

    surface: str = ""
    name: str = ""
    carries: V = field(default_factory=list)


@dataclass
class StackTemplate(Obj):
    """One stack's template as CloudFormation receives it, counted against its per-template
    limits (QTA-04): the template file on the template target, GetTemplate's body when deployed."""

    resources: V = 0
    parameters: V = 0
    outputs: V = 0
    mappings: V = 0
    body_bytes: V = None


@dataclass
class Other(Obj):
    """A resource the model has no type for; kept so quotas and placement still see it."""

    resource_type: str = ""
    properties: dict[str, Any] = field(default_factory=dict)


@dataclass
class ServiceLoadBalancer:
    container: V
    port: V
    target_group: V


@dataclass
class EcsService(Obj):
    cluster: V = None
    task_definition: V = None
    launch_type: V = None
    subnets: list[V] = field(default_factory=list)
    security_groups: list[V] = field(default_factory=list)
    assign_public_ip: V = "DISABLED"
    load_balancers: list[ServiceLoadBalancer] = field(default_factory=list)


@dataclass
class ContainerImage:
    container: V
    image: V  # as resolved: a Symbolic ImageUri from an ECR repository, or a literal reference


@dataclass
class TaskDefinition(Obj):
    family: V = None
    network_mode: V = None
    compatibilities: list[V] = field(default_factory=list)
    containers: list[ContainerImage] = field(default_factory=list)
    execution_role: V = None
    task_role: V = None


@dataclass
class EcrRepository(Obj):
    name: V = None
    uri: V = None
    scan_on_push: V = False
    tag_mutability: V = "MUTABLE"
    encryption: V = "AES256"
