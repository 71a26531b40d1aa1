"""Build the deployment model of one CloudFormation stack from describe calls.

Scoped to the stack: ``list_stack_resources`` gives the physical IDs, then one batched
describe per resource type (never one call per resource where the API can batch), plus
the network context the controls need (every route table of the VPC, the main one
included; its network ACLs and security groups). Facts only the template holds
(DeletionPolicy, the master password's source, declared quota increases) come from the
stack's own template, resolved with the stack's parameters.

Clients are passed in; this module never creates a session.
"""

from __future__ import annotations

import base64
import hashlib
import json
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stackproof.model import types as m
from stackproof.model.deployment import Deployment
from stackproof.model.exposures import secret_surfaces, template_size
from stackproof.model.from_stack_set import declared_of
from stackproof.model.outcomes import NotEmulated
from stackproof.template.cfn_yaml import load_text
from stackproof.template.loader import Template
from stackproof.template.resolver import ResolvedTemplate, resolve
from stackproof.template.stack_set import MISSING_EXPORT, AskedExports, SetProblem, unknowns
from stackproof.template.values import Unknown, refers_to

ClientFactory = Callable[[str], Any]
NESTED_STACK = "AWS::CloudFormation::Stack"

# Which model kinds a resource type feeds: when a target reports the type with physical ID
# "unknown" (LocalStack's free edition), those kinds are not emulated.
TYPE_KINDS: dict[str, tuple[type[m.Obj], ...]] = {
    "AWS::RDS::DBInstance": (m.DbInstance,),
    "AWS::RDS::DBSubnetGroup": (m.DbSubnetGroup,),
    "AWS::RDS::DBParameterGroup": (m.DbParameterGroup,),
    "AWS::ElasticLoadBalancingV2::LoadBalancer": (m.LoadBalancer,),
    "AWS::ElasticLoadBalancingV2::Listener": (m.Listener,),
    "AWS::ElasticLoadBalancingV2::TargetGroup": (m.TargetGroup,),
    "AWS::AutoScaling::AutoScalingGroup": (m.AutoScalingGroup,),
    "AWS::AutoScaling::ScalingPolicy": (m.ScalingPolicy,),
    "AWS::CloudWatch::Alarm": (m.Alarm,),
    "AWS::EC2::LaunchTemplate": (m.LaunchTemplate,),
    "AWS::AutoScaling::LaunchConfiguration": (m.LaunchTemplate,),
    "AWS::EFS::FileSystem": (m.FileSystem,),
    "AWS::EFS::MountTarget": (m.MountTarget,),
    "AWS::EFS::AccessPoint": (m.AccessPoint,),
    "AWS::Backup::BackupPlan": (m.BackupPlan,),
    "AWS::Backup::BackupSelection": (m.BackupSelection,),
    "AWS::Lambda::Function": (m.Function,),
    "AWS::S3::Bucket": (m.Bucket,),
    "AWS::EC2::NetworkAcl": (m.NetworkAcl,),
    "AWS::EC2::SecurityGroup": (m.SecurityGroup,),
    "AWS::EC2::Subnet": (m.Subnet,),
    "AWS::EC2::RouteTable": (m.RouteTable,),
    "AWS::EC2::SubnetRouteTableAssociation": (m.RouteTable,),
    "AWS::EC2::SubnetNetworkAclAssociation": (m.NetworkAcl,),
    "AWS::EC2::VPC": (m.Vpc,),
    "AWS::ECS::Service": (m.EcsService,),
    "AWS::ECS::TaskDefinition": (m.TaskDefinition,),
    "AWS::ECR::Repository": (m.EcrRepository,),
    "AWS::Redshift::Cluster": (m.RedshiftCluster,),
    "AWS::Redshift::ClusterSubnetGroup": (m.DbSubnetGroup,),
    # A role or policy the target did not create leaves the stack's permissions unknown: IAM-03
    # reads roles and their policies together, so either makes roles not shown, never "none".
    "AWS::IAM::Role": (m.Role,),
    "AWS::IAM::Policy": (m.Role,),
    "AWS::IAM::ManagedPolicy": (m.Role,),
    "AWS::IAM::User": (m.Role, m.IamIdentity),
    "AWS::IAM::Group": (m.Role, m.IamIdentity),
    "AWS::Logs::LogGroup": (m.LogGroup,),
}
# Kinds whose objects are keyed by the physical ID CloudFormation reports, so a resource the
# describes do not return can be noticed; associations are checked by their IDs.
VERIFIED_OBJECTS = frozenset(
    {
        "AWS::EC2::VPC",
        "AWS::EC2::Subnet",
        "AWS::EC2::RouteTable",
        "AWS::EC2::NetworkAcl",
        "AWS::EC2::SecurityGroup",
        "AWS::ElasticLoadBalancingV2::LoadBalancer",
        "AWS::ElasticLoadBalancingV2::Listener",
        "AWS::ElasticLoadBalancingV2::TargetGroup",
        "AWS::AutoScaling::AutoScalingGroup",
        "AWS::AutoScaling::LaunchConfiguration",
        "AWS::RDS::DBInstance",
        "AWS::EFS::FileSystem",
        "AWS::S3::Bucket",
        "AWS::AutoScaling::ScalingPolicy",
        "AWS::CloudWatch::Alarm",
        "AWS::EC2::LaunchTemplate",
        "AWS::EFS::AccessPoint",
        "AWS::EFS::MountTarget",
        "AWS::RDS::DBSubnetGroup",
        "AWS::RDS::DBParameterGroup",
        "AWS::Lambda::Function",
        "AWS::IAM::Role",
        "AWS::Logs::LogGroup",
    }
)
# What a resource feeds beyond TYPE_KINDS, for a resource the stack's template creates that the
# listing does not return: those kinds are then not known to be complete. A type in neither map
# could feed anything, so it makes every kind unknown (see kinds_fed_by).
LISTING_KINDS: dict[str, tuple[type[m.Obj], ...]] = {
    "AWS::EC2::InternetGateway": (m.Gateway, m.RouteTable),
    "AWS::EC2::VPCGatewayAttachment": (m.Gateway, m.RouteTable),
    "AWS::EC2::NatGateway": (m.Gateway, m.RouteTable),
    "AWS::EC2::EIP": (m.Gateway, m.Other),
    "AWS::EC2::Route": (m.RouteTable,),
    "AWS::EC2::SecurityGroupIngress": (m.SecurityGroup,),
    "AWS::EC2::SecurityGroupEgress": (m.SecurityGroup,),
    "AWS::EC2::NetworkAclEntry": (m.NetworkAcl,),
    "AWS::EC2::VPCEndpoint": (m.VpcEndpoint,),
    "AWS::ElasticLoadBalancingV2::ListenerRule": (m.Listener,),
    "AWS::ElasticLoadBalancingV2::ListenerCertificate": (m.Listener, m.Certificate),
    "AWS::CertificateManager::Certificate": (m.Certificate,),
    "AWS::IAM::InstanceProfile": (m.InstanceProfile, m.Role),
    "AWS::Logs::LogGroup": (m.LogGroup,),
    "AWS::SecretsManager::Secret": (m.Secret,),
    "AWS::SecretsManager::SecretTargetAttachment": (m.Secret,),
    "AWS::S3::BucketPolicy": (m.Bucket,),
    "AWS::Backup::BackupVault": (m.BackupPlan, m.BackupSelection),
}


def _kinds() -> tuple[type[m.Obj], ...]:
    found: list[type[m.Obj]] = []
    todo = list(m.Obj.__subclasses__())
    while todo:
        kind = todo.pop()
        found.append(kind)
        todo.extend(kind.__subclasses__())
    return tuple(found)


ALL_KINDS = _kinds()


def kinds_fed_by(resource_type: str) -> tuple[type[m.Obj], ...]:
    """The model kinds a resource of ``resource_type`` feeds; every kind for a type not mapped,
    since a resource nothing accounts for could change what any control reads."""
    return TYPE_KINDS.get(resource_type) or LISTING_KINDS.get(resource_type) or ALL_KINDS


# Targets that emulate AWS and declare what they did not create (physical ID "unknown", a failed
# creation): only there is a gap "not emulated" (SKIP). Any other target, aws above all, is live:
# a resource it does not show is a gap in what was read (ERROR).
EMULATORS = frozenset({"moto", "moto-server", "localstack"})

VERIFIED_ASSOCIATIONS = frozenset({"AWS::EC2::SubnetRouteTableAssociation", "AWS::EC2::SubnetNetworkAclAssociation"})


class StackNotFound(Exception):
    pass


class IncompleteAnswer(Exception):
    """An answer without the list it must carry: an error, never an empty list."""


def required(answer: Any, operation: str, key: str) -> list[Any]:
    """``answer[key]``, which must be a list: an answer that parses to nothing (``{}``, an
    empty or cut body) would otherwise read as "there are none" and let a control pass."""
    items = answer.get(key) if isinstance(answer, dict) else None
    if not isinstance(items, list):
        raise IncompleteAnswer(f"{operation} answered without its {key} list")
    return items


def every_one(found: Iterable[str], asked: Iterable[str], operation: str) -> None:
    """A describe by name must return every name asked: one left out would read as a resource
    that is not there, and a control looping over what was returned would pass."""
    returned = {name.casefold() for name in found}
    missing = sorted(name for name in set(asked) if name.casefold() not in returned)
    if missing:
        raise IncompleteAnswer(f"{operation} did not return {', '.join(missing)}, which it was asked for")


def pages(client: Any, operation: str, key: str, **kwargs: Any) -> Iterator[Any]:
    """Every item of a (possibly paginated) list operation; a page without ``key`` is an
    :class:`IncompleteAnswer`."""
    if client.can_paginate(operation):
        for page in client.get_paginator(operation).paginate(**kwargs):
            yield from required(page, operation, key)
    else:
        yield from required(getattr(client, operation)(**kwargs), operation, key)


NOT_CONFIGURED = frozenset(
    {
        "NoSuchPublicAccessBlockConfiguration",
        "ServerSideEncryptionConfigurationNotFoundError",
        "NoSuchBucketPolicy",
    }
)


def optional(s3: Any, operation: str, bucket: str, key: str) -> Any:
    """A bucket setting, or None when the bucket has none (not an error)."""
    try:
        return getattr(s3, operation)(Bucket=bucket).get(key)
    except s3.exceptions.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in NOT_CONFIGURED:
            return None
        raise


@dataclass
class StackRead:
    """One stack of the deployment as CloudFormation describes it: named by the run, or
    nested in one that was (found through its parent's ``AWS::CloudFormation::Stack``)."""

    name: str
    arn: str
    description: dict[str, Any]
    template: Template
    resources: list[tuple[str, str, str]]  # (logical ID, physical ID, type)
    parent: str | None = None
    logical_id: str | None = None  # the AWS::CloudFormation::Stack resource in the parent
    resolved: ResolvedTemplate | None = None
    asked: set[str] = field(default_factory=set)  # export names its template imports
    digest: str = ""  # sha256 of the template body CloudFormation holds for it (GetTemplate)
    body: bytes = b""  # that body, as CloudFormation returned it

    @property
    def outputs(self) -> dict[str, str]:
        return {o["OutputKey"]: o.get("OutputValue", "") for o in self.description.get("Outputs", [])}

    @property
    def parameters(self) -> dict[str, str]:
        """What the stack was created with; a NoEcho value (shown as ``****``) stays unknown."""
        return {
            p["ParameterKey"]: p.get("ResolvedValue") or p.get("ParameterValue", "")
            for p in self.description.get("Parameters", [])
            if p.get("ParameterValue") != "****"
        }


def _stack_name_of(arn: str) -> str:
    """``arn:aws:cloudformation:region:account:stack/NAME/id`` -> NAME (a name stays a name)."""
    parts = arn.split(":stack/", 1)
    return parts[1].split("/", 1)[0] if len(parts) == 2 else arn


def _imports(template: Template) -> bool:
    """Whether the template uses ``Fn::ImportValue`` anywhere (only then are exports listed)."""
    stack: list[Any] = [template.data]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if "Fn::ImportValue" in node:
                return True
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return False


class Builder:
    def __init__(self, client: ClientFactory, stack_names: Sequence[str], region: str, target: str) -> None:
        self.client = client
        self.stack_names = list(stack_names)
        self.region = region
        self.target = target
        self.physical: dict[str, tuple[str, str]] = {}  # model logical ID -> (physical ID, type)
        self.logical: dict[str, str] = {}  # physical ID -> model logical ID
        self.origin: dict[str, tuple[StackRead, str]] = {}  # model logical ID -> (stack, its own logical ID)
        self.stacks: list[StackRead] = []
        self.seen: set[str] = set()  # association IDs the describes returned
        self.outside: dict[str, str] = {}  # export name -> the stack outside the deployment exporting it

    # ------------------------------------------------------------------ helpers
    def ids(self, resource_type: str) -> list[str]:
        return [pid for pid, rtype in self.physical.values() if rtype == resource_type and pid and pid != "unknown"]

    def loc(self, physical_id: str, resource_type: str) -> m.Location:
        logical = self.logical.get(physical_id, physical_id)
        stack = self.origin.get(logical)
        return m.Location(logical, resource_type, physical_id=physical_id, stack=stack[0].name if stack else None)

    def template_resource(self, physical_id: str) -> Any:
        """The resource as its own stack's template declares it (resolved with the stack's
        parameters): the facts only a template holds."""
        logical = self.logical.get(physical_id)
        origin = self.origin.get(logical) if logical is not None else None
        if origin is None or origin[0].resolved is None:
            return None
        return origin[0].resolved.resources.get(origin[1])

    @property
    def resolved(self) -> ResolvedTemplate | None:
        """The first stack's resolved template."""
        return self.stacks[0].resolved if self.stacks else None

    def unseen(self, d: Deployment) -> dict[str, list[str]]:
        """Resources CloudFormation reports created that the describes did not return: the
        target did not really create them (an emulator's gap), by type."""
        missing: dict[str, list[str]] = {}
        for logical, (pid, rtype) in self.physical.items():
            if not pid or pid == "unknown":
                continue
            if rtype in VERIFIED_ASSOCIATIONS:
                present = pid in self.seen
            elif rtype in TYPE_KINDS and rtype in VERIFIED_OBJECTS:
                present = any(d.lookup(kind, pid) is not None for kind in TYPE_KINDS[rtype] if kind not in d.gaps)
                present = present or any(kind in d.gaps for kind in TYPE_KINDS[rtype])
            else:
                continue
            if not present:
                missing.setdefault(rtype, []).append(logical)
        return missing

    def unlisted(self) -> dict[str, list[str]]:
        """Resources a stack's own template creates (its condition true or not known to be false)
        that ``ListStackResources`` did not return, by type. The listing is complete only when it
        holds every one of them: an emptied or cut listing would otherwise read as a stack with
        fewer resources, and controls looping over them would pass."""
        missing: dict[str, list[str]] = {}
        for stack in self.stacks:
            if stack.resolved is None:
                continue
            listed = {logical_id for logical_id, _, _ in stack.resources}
            for logical_id, resource in stack.resolved.resources.items():
                if resource.exists is False or logical_id in listed:
                    continue
                name = logical_id if len(self.stacks) == 1 else f"{stack.name}/{logical_id}"
                missing.setdefault(resource.type, []).append(name)
        return missing

    def not_created(self) -> list[str]:
        """Types CloudFormation reports created whose physical ID is missing or "unknown"."""
        return sorted({rtype for pid, rtype in self.physical.values() if not pid or pid == "unknown"} & set(TYPE_KINDS))

    # ------------------------------------------------------------------ the stacks
    MAX_DEPTH = 10  # nested stacks deeper than CloudFormation's own limit are not followed

    def read_stack(self, name: str, parent: StackRead | None, logical_id: str | None) -> StackRead | None:
        """The stack ``name`` (a name or an ARN), or None when it was read already."""
        cloudformation = self.client("cloudformation")
        try:
            stack = cloudformation.describe_stacks(StackName=name)["Stacks"][0]
        except Exception as exc:  # botocore ClientError: the message names the stack
            raise StackNotFound(f"stack {name}: {exc}") from None
        if any(s.arn == stack["StackId"] for s in self.stacks):
            return None
        resources = [
            (s["LogicalResourceId"], s.get("PhysicalResourceId") or "", s.get("ResourceType", ""))
            for s in pages(cloudformation, "list_stack_resources", "StackResourceSummaries", StackName=stack["StackId"])
            if s.get("LogicalResourceId")
        ]
        body = cloudformation.get_template(StackName=stack["StackId"], TemplateStage="Original")["TemplateBody"]
        text = body if isinstance(body, str) else json.dumps(body)
        template = Template(Path(f"{stack['StackName']}.template"), load_text(text))
        read = StackRead(
            stack["StackName"],
            stack["StackId"],
            stack,
            template,
            resources,
            parent=parent.name if parent else None,
            logical_id=logical_id,
            digest=hashlib.sha256(text.encode("utf-8")).hexdigest(),
            body=text.encode("utf-8"),
        )
        self.stacks.append(read)
        return read

    def stack(self, d: Deployment) -> None:
        """Read every stack named and every stack nested in them (recursively), each once;
        resolve each stack's own template with its parameters, its children's outputs and
        the exports the deployment's stacks provide."""
        queue: list[tuple[str, StackRead | None, str | None, int]] = [(n, None, None, 0) for n in self.stack_names]
        while queue:
            name, parent, logical_id, depth = queue.pop(0)
            try:
                stack = self.read_stack(name, parent, logical_id)
            except StackNotFound as exc:
                if parent is None:
                    raise
                self.problem(d, parent, logical_id, f"nested stack {logical_id} cannot be read: {exc}")
                continue
            if stack is None:
                continue
            for child_id, physical, rtype in stack.resources:
                if rtype != NESTED_STACK:
                    continue
                if not physical or physical == "unknown":
                    self.problem(d, stack, child_id, f"nested stack {child_id} was not created: no stack to read")
                elif depth + 1 > self.MAX_DEPTH:
                    self.problem(d, stack, child_id, f"nested stack {child_id} is deeper than {self.MAX_DEPTH} stacks")
                else:
                    queue.append((physical, stack, child_id, depth + 1))
                    d.links += 1
        self.index()
        exports = self.exports() if any(_imports(s.template) for s in self.stacks) else {}
        for stack in reversed(self.stacks):  # children (read after their parents) first
            children = {s.logical_id: s.outputs for s in self.stacks if s.parent == stack.name and s.logical_id}
            recording = AskedExports(exports)
            stack.resolved = resolve(
                stack.template,
                stack.parameters,
                self.region,
                imports=recording if _imports(stack.template) else None,
                nested_outputs=children,
            )
            stack.asked = recording.asked
            self.missing_imports(d, stack)
        d.links += len({name for s in self.stacks for name in s.asked if name in exports})
        first = self.stacks[0]
        d.source = ", ".join(s.arn for s in self.stacks) if len(self.stacks) > 1 else first.arn
        d.stacks = {s.name: s.arn for s in self.stacks}
        d.template_digests = {s.name: s.digest for s in self.stacks}
        d.declared = declared_of(s.template for s in self.stacks)
        for stack in self.stacks:
            assert stack.resolved is not None
            self.template_facts(d, stack, stack.resolved)
            for key, value in stack.resolved.parameters.items():
                d.parameter_values.setdefault(key, value)
            for name, spec in (stack.template.data.get("Parameters") or {}).items():
                spec = spec or {}
                d.parameters.append(
                    m.Parameter(
                        name,
                        str(spec.get("NoEcho", "false")).lower() == "true",
                        "Default" in spec,
                        m.Location(name, "Parameter", physical_id=stack.name, stack=stack.name),
                    )
                )

    def template_facts(self, d: Deployment, stack: StackRead, resolved: ResolvedTemplate) -> None:
        """DAT-07 and QTA-04 read the stack's template as CloudFormation holds it (GetTemplate),
        its conditions decided by the parameters the stack was created with: what it outputs,
        tags and boots with, and how big it is, is what that template says. A body that does not
        declare what ListStackResources lists is not the deployed template (an emptied or cut
        answer): the facts are then unknown, never those of a smaller template. A transformed
        template's resources are counted as CloudFormation processed them."""
        data = stack.template.data
        resources = data.get("Resources") if isinstance(data, dict) else None
        declared = set(resources) if isinstance(resources, dict) else set()
        missing = sorted({logical_id for logical_id, _, _ in stack.resources} - declared)
        transformed = isinstance(data, dict) and "Transform" in data
        if missing and not transformed:
            gap = Unknown(
                f"GetTemplate's body for stack {stack.name} does not declare {', '.join(missing[:5])}, which "
                "ListStackResources lists: it is not the template deployed"
            )
            for kind in (m.SecretSurface, m.StackTemplate):
                d.gaps.setdefault(kind, gap)
            return

        def location(name: str, resource_type: str) -> m.Location:
            return m.Location(name, resource_type, physical_id=stack.name, stack=stack.name)

        for surface in secret_surfaces(data, resolved.conditions, location, stack.name):
            d.add(surface)
        counted: Any = data
        if transformed:
            try:
                body = self.client("cloudformation").get_template(StackName=stack.arn, TemplateStage="Processed")
                processed = body["TemplateBody"]
                counted = processed if isinstance(processed, dict) else load_text(processed)
            except Exception as exc:  # the processed template is what the limits count
                d.gaps.setdefault(m.StackTemplate, Unknown(f"the processed template of {stack.name}: {exc}"))
                return
        where = m.Location(stack.name, "AWS::CloudFormation::Stack", physical_id=stack.arn, stack=stack.name)
        d.add(template_size(counted, stack.body, stack.name, where))

    def index(self) -> None:
        """Every resource of every stack by a logical ID unique in the deployment: its own, or
        ``<stack>/<LogicalId>`` where two stacks use the same one (as the template side does)."""
        count: dict[str, int] = {}
        for stack in self.stacks:
            for logical_id, _, _ in stack.resources:
                count[logical_id] = count.get(logical_id, 0) + 1
        for stack in self.stacks:
            for logical_id, physical, rtype in stack.resources:
                key = logical_id if count[logical_id] == 1 else f"{stack.name}/{logical_id}"
                self.physical[key] = (physical, rtype)
                self.origin[key] = (stack, logical_id)
                if physical and self.names_physically(physical, rtype):
                    self.logical[physical] = key

    def names_physically(self, physical: str, resource_type: str) -> bool:
        """Whether ``physical`` should name this resource: a physical ID two resources share (a
        bucket policy's is its bucket's name on some targets) names the one the model holds."""
        earlier = self.logical.get(physical)
        if earlier is None:
            return True
        return resource_type in TYPE_KINDS or self.physical[earlier][1] not in TYPE_KINDS

    def exports(self) -> dict[str, str]:
        """Export name -> value, for the exports a stack of this deployment provides. Every
        page of ``ListExports`` is read (an incomplete listing would make a present export
        look missing)."""
        ours = {s.arn for s in self.stacks}
        found: dict[str, str] = {}
        for export in pages(self.client("cloudformation"), "list_exports", "Exports"):
            if export.get("ExportingStackId") in ours:
                found[export["Name"]] = export.get("Value", "")
            else:
                self.outside[export["Name"]] = _stack_name_of(export.get("ExportingStackId", "another stack"))
        return found

    def missing_imports(self, d: Deployment, stack: StackRead) -> None:
        """An import no stack of the deployment answers: a link problem naming the export
        and the importing resource (DEP-01 ERROR), never a guessed value."""
        assert stack.resolved is not None
        for resource in stack.resolved.resources.values():
            if resource.exists is False:
                continue
            reported: set[str] = set()
            for unknown in unknowns(resource.properties):
                if not unknown.reason.startswith(MISSING_EXPORT) or unknown.reason in reported:
                    continue
                reported.add(unknown.reason)
                export = unknown.reason.removeprefix(MISSING_EXPORT)
                outside = self.outside.get(export)
                message = f"{resource.logical_id} imports {export}, which no stack of the set exports"
                if outside:
                    message += f" (stack {outside} does, outside this deployment: add it to --stack-name)"
                self.problem(d, stack, resource.logical_id, message, unknown.line or resource.line)

    @staticmethod
    def problem(d: Deployment, stack: StackRead, resource: str | None, message: str, line: int | None = None) -> None:
        d.link_problems.append(SetProblem(stack.name, str(stack.template.path), line, resource, message))

    # ------------------------------------------------------------------ network
    def network(self, d: Deployment) -> None:
        vpc_ids = self.ids("AWS::EC2::VPC")
        if not vpc_ids:
            return
        ec2 = self.client("ec2")
        in_vpc = [{"Name": "vpc-id", "Values": vpc_ids}]
        for vpc in pages(ec2, "describe_vpcs", "Vpcs", VpcIds=vpc_ids):
            ipv6 = [a.get("Ipv6CidrBlock") for a in vpc.get("Ipv6CidrBlockAssociationSet", [])]
            d.add(m.Vpc(vpc["VpcId"], self.loc(vpc["VpcId"], "AWS::EC2::VPC"), cidr=vpc["CidrBlock"], ipv6_cidrs=ipv6))
        for subnet in pages(ec2, "describe_subnets", "Subnets", Filters=in_vpc):
            sid = subnet["SubnetId"]
            d.add(
                m.Subnet(
                    sid,
                    self.loc(sid, "AWS::EC2::Subnet"),
                    vpc=subnet["VpcId"],
                    az=subnet["AvailabilityZone"],
                    cidr=subnet["CidrBlock"],
                    map_public_ip=bool(subnet.get("MapPublicIpOnLaunch")),
                )
            )
        for table in pages(ec2, "describe_route_tables", "RouteTables", Filters=in_vpc):
            associations = table.get("Associations", [])
            routes = [self.route(r) for r in table.get("Routes", []) if r.get("GatewayId") != "local"]
            self.seen.update(a["RouteTableAssociationId"] for a in associations if a.get("RouteTableAssociationId"))
            d.add(
                m.RouteTable(
                    table["RouteTableId"],
                    self.loc(table["RouteTableId"], "AWS::EC2::RouteTable"),
                    vpc=table["VpcId"],
                    main=any(a.get("Main") for a in associations),
                    routes=routes,
                    subnets=[a["SubnetId"] for a in associations if a.get("SubnetId")],
                )
            )
        for igw in self.ids("AWS::EC2::InternetGateway"):  # routes already name it; no describe needed
            d.add(m.Gateway(igw, self.loc(igw, "AWS::EC2::InternetGateway"), kind="igw"))
        for nat in pages(ec2, "describe_nat_gateways", "NatGateways", Filters=in_vpc):
            d.add(
                m.Gateway(
                    nat["NatGatewayId"],
                    self.loc(nat["NatGatewayId"], "AWS::EC2::NatGateway"),
                    kind="nat",
                    vpc=nat.get("VpcId"),
                    subnet=nat.get("SubnetId"),
                )
            )
        for group in pages(ec2, "describe_security_groups", "SecurityGroups", Filters=in_vpc):
            d.add(self.security_group(group))
        for acl in pages(ec2, "describe_network_acls", "NetworkAcls", Filters=in_vpc):
            d.add(self.network_acl(acl))
        for endpoint in pages(ec2, "describe_vpc_endpoints", "VpcEndpoints", Filters=in_vpc):
            eid = endpoint["VpcEndpointId"]
            d.add(
                m.VpcEndpoint(
                    eid,
                    self.loc(eid, "AWS::EC2::VPCEndpoint"),
                    service=endpoint.get("ServiceName"),
                    endpoint_type=endpoint.get("VpcEndpointType"),
                    vpc=endpoint.get("VpcId"),
                    subnets=list(endpoint.get("SubnetIds", [])),
                    route_tables=list(endpoint.get("RouteTableIds", [])),
                    security_groups=[g["GroupId"] for g in endpoint.get("Groups", [])],
                )
            )
        for eip in self.ids("AWS::EC2::EIP"):
            d.add(m.Other(eip, self.loc(eip, "AWS::EC2::EIP"), resource_type="AWS::EC2::EIP"))

    @staticmethod
    def route(route: dict[str, Any]) -> m.Route:
        destination = route.get("DestinationCidrBlock") or route.get("DestinationIpv6CidrBlock")
        if destination is None and route.get("DestinationPrefixListId"):
            destination = f"pl:{route['DestinationPrefixListId']}"
        gateway = route.get("GatewayId", "")
        for key, kind in m.ROUTE_TARGETS:
            if route.get(key):
                return m.Route(destination, kind, route[key])
        if gateway.startswith("igw-"):
            return m.Route(destination, "igw", gateway)
        if gateway.startswith("vgw-"):
            return m.Route(destination, "vgw", gateway)
        if gateway.startswith("vpce-"):
            return m.Route(destination, "endpoint", gateway)
        return m.Route(destination, "unknown", gateway or Unknown(f"route to {destination} has no target"))

    def security_group(self, group: dict[str, Any]) -> m.SecurityGroup:
        gid = group["GroupId"]
        location = self.loc(gid, "AWS::EC2::SecurityGroup")
        rules = []
        for direction, key in (("ingress", "IpPermissions"), ("egress", "IpPermissionsEgress")):
            for permission in group.get(key, []):
                protocol = str(permission.get("IpProtocol"))
                low, high = permission.get("FromPort", -1), permission.get("ToPort", -1)
                base = {
                    "direction": direction,
                    "protocol": protocol,
                    "from_port": low,
                    "to_port": high,
                    "location": location,
                }
                rules += [m.Rule(**base, cidr=r["CidrIp"]) for r in permission.get("IpRanges", [])]
                rules += [m.Rule(**base, cidr_ipv6=r["CidrIpv6"]) for r in permission.get("Ipv6Ranges", [])]
                rules += [m.Rule(**base, peer_group=p["GroupId"]) for p in permission.get("UserIdGroupPairs", [])]
                rules += [m.Rule(**base, prefix_list=p["PrefixListId"]) for p in permission.get("PrefixListIds", [])]
        return m.SecurityGroup(gid, location, vpc=group.get("VpcId"), rules=rules)

    def network_acl(self, acl: dict[str, Any]) -> m.NetworkAcl:
        aid = acl["NetworkAclId"]
        self.seen.update(
            a["NetworkAclAssociationId"] for a in acl.get("Associations", []) if a.get("NetworkAclAssociationId")
        )
        location = self.loc(aid, "AWS::EC2::NetworkAcl")
        entries = [
            m.AclEntry(
                rule_number=e["RuleNumber"],
                egress=bool(e["Egress"]),
                action=e["RuleAction"],
                protocol=str(e["Protocol"]),
                cidr=e.get("CidrBlock"),
                cidr_ipv6=e.get("Ipv6CidrBlock"),
                from_port=(e.get("PortRange") or {}).get("From"),
                to_port=(e.get("PortRange") or {}).get("To"),
                location=location,
            )
            for e in acl.get("Entries", [])
            if e["RuleNumber"] != 32767  # the implicit deny-all every ACL ends with
        ]
        return m.NetworkAcl(
            aid,
            location,
            vpc=acl.get("VpcId"),
            default=bool(acl.get("IsDefault")),
            entries=entries,
            subnets=[a["SubnetId"] for a in acl.get("Associations", [])],
        )

    # ------------------------------------------------------------------ load balancing
    def load_balancing(self, d: Deployment) -> None:
        arns = self.ids("AWS::ElasticLoadBalancingV2::LoadBalancer")
        if not arns:
            return
        elbv2 = self.client("elbv2")
        for lb in pages(elbv2, "describe_load_balancers", "LoadBalancers", LoadBalancerArns=arns):
            arn = lb["LoadBalancerArn"]
            d.add(
                m.LoadBalancer(
                    arn,
                    self.loc(arn, "AWS::ElasticLoadBalancingV2::LoadBalancer"),
                    lb_type=lb.get("Type"),
                    scheme=lb.get("Scheme"),
                    dns_name=lb.get("DNSName"),
                    subnets=[z["SubnetId"] for z in lb.get("AvailabilityZones", [])],
                    security_groups=list(lb.get("SecurityGroups", [])),
                )
            )
            for listener in pages(elbv2, "describe_listeners", "Listeners", LoadBalancerArn=arn):
                actions = self.actions(listener.get("DefaultActions", []))
                # TLS-02 reads what plain-HTTP rules do; ANL-02 where rules route (only stacks with rules).
                if listener.get("Protocol") == "HTTP" or self.ids("AWS::ElasticLoadBalancingV2::ListenerRule"):
                    for rule in pages(elbv2, "describe_rules", "Rules", ListenerArn=listener["ListenerArn"]):
                        if not rule.get("IsDefault"):
                            paths = [
                                v
                                for c in rule.get("Conditions", [])
                                if c.get("Field") == "path-pattern"
                                for v in (c.get("PathPatternConfig") or {}).get("Values") or c.get("Values") or []
                            ]
                            actions += self.actions(rule.get("Actions", []), paths)
                d.add(
                    m.Listener(
                        listener["ListenerArn"],
                        self.loc(listener["ListenerArn"], "AWS::ElasticLoadBalancingV2::Listener"),
                        load_balancer=arn,
                        port=listener.get("Port"),
                        protocol=listener.get("Protocol"),
                        ssl_policy=listener.get("SslPolicy"),
                        certificates=[c["CertificateArn"] for c in listener.get("Certificates", [])],
                        actions=actions,
                    )
                )
        groups = self.ids("AWS::ElasticLoadBalancingV2::TargetGroup")
        for group in pages(elbv2, "describe_target_groups", "TargetGroups", TargetGroupArns=groups) if groups else []:
            arn = group["TargetGroupArn"]
            d.add(
                m.TargetGroup(
                    arn,
                    self.loc(arn, "AWS::ElasticLoadBalancingV2::TargetGroup"),
                    protocol=group.get("Protocol"),
                    port=group.get("Port"),
                    target_type=group.get("TargetType"),
                    health_check_path=group.get("HealthCheckPath"),
                )
            )

    def certificates(self, d: Deployment) -> None:
        arns = sorted({str(c) for listener in d.all(m.Listener) for c in listener.certificates})
        if not arns:
            return
        acm = self.client("acm")
        for arn in arns:
            certificate = acm.describe_certificate(CertificateArn=arn)["Certificate"]
            d.add(
                m.Certificate(
                    arn,
                    m.Location(arn, "AWS::CertificateManager::Certificate", physical_id=arn),
                    domain=certificate.get("DomainName"),
                    alternative_names=list(certificate.get("SubjectAlternativeNames", [])),
                    status=certificate.get("Status"),
                    not_after=certificate.get("NotAfter"),
                )
            )

    @staticmethod
    def actions(raw: list[dict[str, Any]], paths: list[str] | None = None) -> list[m.Action]:
        result = []
        for action in raw:
            groups = [action["TargetGroupArn"]] if action.get("TargetGroupArn") else []
            groups += [g["TargetGroupArn"] for g in (action.get("ForwardConfig") or {}).get("TargetGroups", [])]
            redirect = action.get("RedirectConfig") or {}
            result.append(
                m.Action(
                    kind=action.get("Type"),
                    target_groups=list(dict.fromkeys(groups)),
                    redirect_protocol=redirect.get("Protocol"),
                    redirect_port=redirect.get("Port"),
                    status_code=redirect.get("StatusCode"),
                    paths=list(paths or []),
                )
            )
        return result

    # ------------------------------------------------------------------ containers and the analytics database
    def containers(self, d: Deployment) -> None:
        services, repositories = self.ids("AWS::ECS::Service"), self.ids("AWS::ECR::Repository")
        if services:
            ecs = self.client("ecs")
            clusters = self.ids("AWS::ECS::Cluster") or ["default"]
            definitions: set[str] = set()
            described: set[str] = set()
            for cluster in clusters:
                answer = ecs.describe_services(cluster=cluster, services=services)
                for service in required(answer, "ecs.DescribeServices", "services"):
                    described |= {service.get("serviceArn", ""), service.get("serviceName", "")}
                    arn = service["serviceArn"]
                    network = (service.get("networkConfiguration") or {}).get("awsvpcConfiguration") or {}
                    d.add(
                        m.EcsService(
                            arn,
                            self.loc(arn, "AWS::ECS::Service"),
                            cluster=cluster,
                            task_definition=service.get("taskDefinition"),
                            launch_type=service.get("launchType"),
                            subnets=list(network.get("subnets", [])),
                            security_groups=list(network.get("securityGroups", [])),
                            assign_public_ip=network.get("assignPublicIp", "DISABLED"),
                            load_balancers=[
                                m.ServiceLoadBalancer(
                                    b.get("containerName"), b.get("containerPort"), b.get("targetGroupArn")
                                )
                                for b in service.get("loadBalancers", [])
                            ],
                        ),
                        service.get("serviceName", ""),
                    )
                    definitions.add(service["taskDefinition"])
            every_one(described, services, "ecs.DescribeServices")
            for arn in sorted(definitions | set(self.ids("AWS::ECS::TaskDefinition"))):
                task = ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]
                d.add(
                    m.TaskDefinition(
                        task["taskDefinitionArn"],
                        self.loc(task["taskDefinitionArn"], "AWS::ECS::TaskDefinition"),
                        family=task.get("family"),
                        network_mode=task.get("networkMode"),
                        compatibilities=list(task.get("requiresCompatibilities", [])),
                        containers=[
                            m.ContainerImage(c.get("name"), c.get("image"))
                            for c in task.get("containerDefinitions", [])
                        ],
                        execution_role=task.get("executionRoleArn"),
                        task_role=task.get("taskRoleArn"),
                    ),
                    arn,
                )
        if repositories:
            ecr = self.client("ecr")
            answer = required(
                ecr.describe_repositories(repositoryNames=repositories), "ecr.DescribeRepositories", "repositories"
            )
            every_one([r.get("repositoryName", "") for r in answer], repositories, "ecr.DescribeRepositories")
            for repo in answer:
                name = repo["repositoryName"]
                d.add(
                    m.EcrRepository(
                        name,
                        self.loc(name, "AWS::ECR::Repository"),
                        name=name,
                        uri=repo.get("repositoryUri"),
                        scan_on_push=(repo.get("imageScanningConfiguration") or {}).get("scanOnPush", False),
                        tag_mutability=repo.get("imageTagMutability", "MUTABLE"),
                        encryption=(repo.get("encryptionConfiguration") or {}).get("encryptionType", "AES256"),
                    ),
                    repo.get("repositoryArn", ""),
                )

    def analytics_database(self, d: Deployment) -> None:
        clusters, groups = self.ids("AWS::Redshift::Cluster"), self.ids("AWS::Redshift::ClusterSubnetGroup")
        if not (clusters or groups):
            return
        redshift = self.client("redshift")
        for identifier in clusters:
            answer = required(
                redshift.describe_clusters(ClusterIdentifier=identifier), "redshift.DescribeClusters", "Clusters"
            )
            every_one([c.get("ClusterIdentifier", "") for c in answer], [identifier], "redshift.DescribeClusters")
            for cluster in answer:
                d.add(
                    m.RedshiftCluster(
                        identifier,
                        self.loc(identifier, "AWS::Redshift::Cluster"),
                        subnet_group=cluster.get("ClusterSubnetGroupName"),
                        publicly_accessible=bool(cluster.get("PubliclyAccessible")),
                        encrypted=bool(cluster.get("Encrypted")),
                        security_groups=[g["VpcSecurityGroupId"] for g in cluster.get("VpcSecurityGroups", [])],
                        port=(cluster.get("Endpoint") or {}).get("Port", 5439),
                    )
                )
        for name in groups:
            answer = required(
                redshift.describe_cluster_subnet_groups(ClusterSubnetGroupName=name),
                "redshift.DescribeClusterSubnetGroups",
                "ClusterSubnetGroups",
            )
            every_one(
                [g.get("ClusterSubnetGroupName", "") for g in answer], [name], "redshift.DescribeClusterSubnetGroups"
            )
            for group in answer:
                d.add(
                    m.DbSubnetGroup(
                        name,
                        self.loc(name, "AWS::Redshift::ClusterSubnetGroup"),
                        subnets=[s["SubnetIdentifier"] for s in group.get("Subnets", [])],
                        service="redshift",
                    )
                )

    # ------------------------------------------------------------------ compute
    def compute(self, d: Deployment) -> None:
        ec2 = self.client("ec2")
        for template_id in self.ids("AWS::EC2::LaunchTemplate"):
            version = ec2.describe_launch_template_versions(LaunchTemplateId=template_id, Versions=["$Latest"])[
                "LaunchTemplateVersions"
            ][0]
            data = version.get("LaunchTemplateData", {})
            user_data = data.get("UserData")
            devices = [
                m.BlockDevice(
                    b.get("DeviceName"),
                    bool(b["Ebs"].get("Encrypted")),
                    b["Ebs"].get("VolumeType"),
                    b["Ebs"].get("VolumeSize"),
                )
                for b in data.get("BlockDeviceMappings", [])
                if "Ebs" in b
            ]
            interfaces = data.get("NetworkInterfaces", [])
            profile = data.get("IamInstanceProfile") or {}
            d.add(
                m.LaunchTemplate(
                    template_id,
                    self.loc(template_id, "AWS::EC2::LaunchTemplate"),
                    image=data.get("ImageId"),
                    instance_type=data.get("InstanceType"),
                    key_name=data.get("KeyName"),
                    security_groups=list(data.get("SecurityGroupIds", []))
                    + [g for i in interfaces for g in i.get("Groups", [])],
                    http_tokens=(data.get("MetadataOptions") or {}).get("HttpTokens", "optional"),
                    block_devices=devices,
                    user_data=base64.b64decode(user_data).decode("utf-8", "replace") if user_data else None,
                    instance_profile=profile.get("Arn") or profile.get("Name"),
                    public_ip=next(
                        (i["AssociatePublicIpAddress"] for i in interfaces if "AssociatePublicIpAddress" in i), None
                    ),
                )
            )
        names = self.ids("AWS::AutoScaling::AutoScalingGroup")
        configurations = self.ids("AWS::AutoScaling::LaunchConfiguration")
        if not (names or configurations):
            return
        autoscaling = self.client("autoscaling")
        for group in pages(
            autoscaling, "describe_auto_scaling_groups", "AutoScalingGroups", AutoScalingGroupNames=names
        ):
            name = group["AutoScalingGroupName"]
            template = group.get("LaunchTemplate") or {}
            d.add(
                m.AutoScalingGroup(
                    name,
                    self.loc(name, "AWS::AutoScaling::AutoScalingGroup"),
                    min_size=group["MinSize"],
                    max_size=group["MaxSize"],
                    desired=group.get("DesiredCapacity"),
                    subnets=[s for s in group.get("VPCZoneIdentifier", "").split(",") if s],
                    target_groups=list(group.get("TargetGroupARNs", [])),
                    load_balancer_names=list(group.get("LoadBalancerNames", [])),
                    health_check_type=group.get("HealthCheckType"),
                    launch_template=template.get("LaunchTemplateId"),
                    launch_configuration=group.get("LaunchConfigurationName"),
                    cooldown=group.get("DefaultCooldown", 300),
                ),
                group.get("AutoScalingGroupARN", ""),
            )
        used = {g.launch_configuration for g in d.all(m.AutoScalingGroup) if g.launch_configuration}
        wanted = sorted(set(configurations) | {str(n) for n in used})
        for configuration in (
            pages(
                autoscaling,
                "describe_launch_configurations",
                "LaunchConfigurations",
                LaunchConfigurationNames=wanted,
            )
            if wanted
            else []
        ):
            self.launch_configuration(d, configuration)
        for policy in (
            p
            for name in names
            for p in pages(autoscaling, "describe_policies", "ScalingPolicies", AutoScalingGroupName=name)
        ):
            arn = policy["PolicyARN"]
            tracking = policy.get("TargetTrackingConfiguration") or {}
            predefined = tracking.get("PredefinedMetricSpecification") or {}
            d.add(
                m.ScalingPolicy(
                    arn,
                    self.loc(arn, "AWS::AutoScaling::ScalingPolicy"),
                    group=policy["AutoScalingGroupName"],
                    policy_type=policy.get("PolicyType"),
                    adjustment_type=policy.get("AdjustmentType"),
                    steps=[
                        m.StepAdjustment(
                            s.get("MetricIntervalLowerBound"),
                            s.get("MetricIntervalUpperBound"),
                            s.get("ScalingAdjustment"),
                        )
                        for s in policy.get("StepAdjustments", [])
                    ],
                    simple_adjustment=policy.get("ScalingAdjustment"),
                    warmup=policy.get("EstimatedInstanceWarmup"),
                    cooldown=policy.get("Cooldown"),
                    target_value=tracking.get("TargetValue"),
                    target_metric=predefined.get("PredefinedMetricType")
                    or ("custom" if tracking.get("CustomizedMetricSpecification") else None),
                    disable_scale_in=bool(tracking.get("DisableScaleIn")),
                ),
                policy.get("PolicyName", ""),
            )
        alarm_names = self.ids("AWS::CloudWatch::Alarm")
        cloudwatch = self.client("cloudwatch")
        for alarm in (
            pages(cloudwatch, "describe_alarms", "MetricAlarms", AlarmNames=alarm_names) if alarm_names else []
        ):
            name = alarm["AlarmName"]
            d.add(
                m.Alarm(
                    name,
                    self.loc(name, "AWS::CloudWatch::Alarm"),
                    namespace=alarm.get("Namespace"),
                    metric=alarm.get("MetricName"),
                    statistic=alarm.get("Statistic"),
                    threshold=alarm.get("Threshold"),
                    comparison=alarm.get("ComparisonOperator"),
                    dimensions={x["Name"]: x["Value"] for x in alarm.get("Dimensions", [])},
                    actions=list(alarm.get("AlarmActions", [])),
                    period=alarm.get("Period"),
                    evaluation_periods=alarm.get("EvaluationPeriods"),
                    datapoints_to_alarm=alarm.get("DatapointsToAlarm"),
                    treat_missing_data=alarm.get("TreatMissingData"),
                ),
                alarm.get("AlarmArn", ""),
            )

    def launch_configuration(self, d: Deployment, configuration: dict[str, Any]) -> None:
        """A launch configuration, modelled as the launch template it stands for (as the
        template model does)."""
        name = configuration["LaunchConfigurationName"]
        user_data = configuration.get("UserData")
        devices = [
            m.BlockDevice(
                b.get("DeviceName"),
                bool(b["Ebs"].get("Encrypted")),
                b["Ebs"].get("VolumeType"),
                b["Ebs"].get("VolumeSize"),
            )
            for b in configuration.get("BlockDeviceMappings", [])
            if b.get("Ebs")
        ]
        d.add(
            m.LaunchTemplate(
                name,
                self.loc(name, m.LAUNCH_CONFIGURATION),
                image=configuration.get("ImageId"),
                instance_type=configuration.get("InstanceType"),
                key_name=configuration.get("KeyName") or None,
                security_groups=list(configuration.get("SecurityGroups", [])),
                http_tokens=(configuration.get("MetadataOptions") or {}).get("HttpTokens", "optional"),
                block_devices=devices,
                user_data=base64.b64decode(user_data).decode("utf-8", "replace") if user_data else None,
                instance_profile=configuration.get("IamInstanceProfile"),
                public_ip=configuration.get("AssociatePublicIpAddress"),
            ),
            configuration.get("LaunchConfigurationARN", ""),
        )

    # ------------------------------------------------------------------ databases
    def databases(self, d: Deployment) -> None:
        identifiers = self.ids("AWS::RDS::DBInstance")
        groups = self.ids("AWS::RDS::DBSubnetGroup")
        parameter_groups = self.ids("AWS::RDS::DBParameterGroup")
        if not (identifiers or groups or parameter_groups):
            return
        rds = self.client("rds")
        filters = [{"Name": "db-instance-id", "Values": identifiers}]
        for db in pages(rds, "describe_db_instances", "DBInstances", Filters=filters) if identifiers else []:
            ident = db["DBInstanceIdentifier"]
            spec = self.template_resource(ident)
            properties = spec.properties if spec else {}
            d.add(
                m.DbInstance(
                    ident,
                    self.loc(ident, "AWS::RDS::DBInstance"),
                    engine=db.get("Engine"),
                    engine_version=db.get("EngineVersion"),
                    instance_class=db.get("DBInstanceClass"),
                    multi_az=bool(db.get("MultiAZ")),
                    publicly_accessible=bool(db.get("PubliclyAccessible")),
                    storage_encrypted=bool(db.get("StorageEncrypted")),
                    subnet_group=(db.get("DBSubnetGroup") or {}).get("DBSubnetGroupName"),
                    security_groups=[g["VpcSecurityGroupId"] for g in db.get("VpcSecurityGroups", [])],
                    parameter_group=next((g["DBParameterGroupName"] for g in db.get("DBParameterGroups", [])), None),
                    port=(db.get("Endpoint") or {}).get("Port") or db.get("DbInstancePort"),
                    backup_retention=db.get("BackupRetentionPeriod"),
                    deletion_protection=bool(db.get("DeletionProtection")),
                    deletion_policy=(spec.deletion_policy or "Delete")
                    if spec
                    else Unknown("not created by this stack's template"),
                    update_replace_policy=(spec.update_replace_policy or "Delete")
                    if spec
                    else Unknown("not created by this stack's template"),
                    copy_tags_to_snapshot=bool(db.get("CopyTagsToSnapshot")),
                    log_exports=list(db.get("EnabledCloudwatchLogsExports", [])),
                    master_password=properties.get("MasterUserPassword"),
                    manage_master_password=bool(db.get("MasterUserSecret")),
                ),
                db.get("DBInstanceArn", ""),
            )
            group = db.get("DBSubnetGroup") or {}
            if group.get("DBSubnetGroupName"):  # the instance description carries its subnet group
                name = group["DBSubnetGroupName"]
                subnets = [s["SubnetIdentifier"] for s in group.get("Subnets", [])]
                d.add(m.DbSubnetGroup(name, self.loc(name, "AWS::RDS::DBSubnetGroup"), subnets=subnets))
        seen = {g.key for g in d.all(m.DbSubnetGroup)}
        for name in (g for g in groups if g not in seen):
            group = rds.describe_db_subnet_groups(DBSubnetGroupName=name)["DBSubnetGroups"][0]
            d.add(
                m.DbSubnetGroup(
                    name,
                    self.loc(name, "AWS::RDS::DBSubnetGroup"),
                    subnets=[s["SubnetIdentifier"] for s in group.get("Subnets", [])],
                )
            )
        for name in parameter_groups:
            values = {
                p["ParameterName"]: p.get("ParameterValue")
                for p in pages(rds, "describe_db_parameters", "Parameters", DBParameterGroupName=name, Source="user")
            }
            d.add(
                m.DbParameterGroup(
                    name,
                    self.loc(name, "AWS::RDS::DBParameterGroup"),
                    parameters=values,
                )
            )

    # ------------------------------------------------------------------ storage
    def file_systems(self, d: Deployment) -> None:
        fs_ids = self.ids("AWS::EFS::FileSystem")
        mounted = {pid for pid in self.ids("AWS::EFS::MountTarget")}
        points = self.ids("AWS::EFS::AccessPoint")
        if not (fs_ids or mounted or points):
            return
        efs = self.client("efs")
        described = (
            f for i in sorted(set(fs_ids)) for f in pages(efs, "describe_file_systems", "FileSystems", FileSystemId=i)
        )
        for fs in described:
            fid = fs["FileSystemId"]
            if fid not in fs_ids:
                continue
            try:
                policy = json.loads(efs.describe_file_system_policy(FileSystemId=fid)["Policy"])
            except efs.exceptions.PolicyNotFound:
                policy = None
            d.add(
                m.FileSystem(
                    fid, self.loc(fid, "AWS::EFS::FileSystem"), encrypted=bool(fs.get("Encrypted")), policy=policy
                ),
                fs.get("FileSystemArn", ""),
            )
            if policy is not None:
                d.policies.append(
                    m.PolicyDocument(
                        "FileSystemPolicy", policy, [fid], self.loc(fid, "AWS::EFS::FileSystem"), "resource"
                    )
                )
        systems = {p for p in fs_ids}
        listed = (
            p
            for i in sorted(set(points))
            for p in pages(efs, "describe_access_points", "AccessPoints", AccessPointId=i)
        )
        for point in listed:
            if point["AccessPointId"] not in points:
                continue
            systems.add(point["FileSystemId"])
            d.add(
                m.AccessPoint(
                    point["AccessPointId"],
                    self.loc(point["AccessPointId"], "AWS::EFS::AccessPoint"),
                    file_system=point["FileSystemId"],
                    root_path=(point.get("RootDirectory") or {}).get("Path", "/"),
                ),
                point.get("AccessPointArn", ""),
            )
        for fid in sorted(systems):
            for target in pages(efs, "describe_mount_targets", "MountTargets", FileSystemId=fid):
                tid = target["MountTargetId"]
                groups = required(
                    efs.describe_mount_target_security_groups(MountTargetId=tid),
                    "efs.DescribeMountTargetSecurityGroups",
                    "SecurityGroups",
                )
                if not groups:  # EFS keeps one to five on every mount target
                    raise IncompleteAnswer(f"efs.DescribeMountTargetSecurityGroups answered no group for {tid}")
                d.add(
                    m.MountTarget(
                        tid,
                        self.loc(tid, "AWS::EFS::MountTarget"),
                        file_system=fid,
                        subnet=target["SubnetId"],
                        security_groups=groups,
                    )
                )

    def buckets(self, d: Deployment) -> None:
        names = self.ids("AWS::S3::Bucket")
        if not names:
            return
        s3 = self.client("s3")
        for name in names:
            block = optional(s3, "get_public_access_block", name, "PublicAccessBlockConfiguration")
            encryption = optional(s3, "get_bucket_encryption", name, "ServerSideEncryptionConfiguration")
            versioning = s3.get_bucket_versioning(Bucket=name).get("Status")
            configuration = s3.get_bucket_notification_configuration(Bucket=name)
            notifications = []
            for entry in configuration.get("LambdaFunctionConfigurations", []):
                rules = ((entry.get("Filter") or {}).get("Key") or {}).get("FilterRules", [])
                filters = {r["Name"].lower(): r["Value"] for r in rules}
                notifications += [
                    m.Notification(event, entry["LambdaFunctionArn"], filters.get("prefix"), filters.get("suffix"))
                    for event in entry.get("Events", [])
                ]
            d.add(
                m.Bucket(
                    name,
                    self.loc(name, "AWS::S3::Bucket"),
                    name=name,
                    public_access_block=dict(block or {}),
                    encryption=(encryption or {}).get("Rules"),
                    versioning=versioning,
                    notifications=notifications,
                ),
                f"arn:aws:s3:::{name}",
            )
            policy = optional(s3, "get_bucket_policy", name, "Policy")
            if policy:
                d.policies.append(
                    m.PolicyDocument(
                        f"{name} bucket policy",
                        json.loads(policy),
                        [name],
                        self.loc(name, "AWS::S3::Bucket"),
                        "resource",
                    )
                )

    # ------------------------------------------------------------------ functions, IAM, secrets, logs, backup
    def functions(self, d: Deployment) -> None:
        names = self.ids("AWS::Lambda::Function")
        if not names:
            return
        awslambda = self.client("lambda")
        for name in names:
            described = awslambda.get_function(FunctionName=name)
            config = described["Configuration"]
            vpc = config.get("VpcConfig") or {}
            arn = config["FunctionArn"]
            d.add(
                m.Function(
                    config["FunctionName"],
                    self.loc(name, "AWS::Lambda::Function"),
                    name=config["FunctionName"],
                    runtime=config.get("Runtime"),
                    timeout=config.get("Timeout"),
                    memory=config.get("MemorySize"),
                    ephemeral_storage=(config.get("EphemeralStorage") or {}).get("Size", 512),
                    subnets=list(vpc.get("SubnetIds", [])),
                    security_groups=list(vpc.get("SecurityGroupIds", [])),
                    file_systems=[f["Arn"] for f in config.get("FileSystemConfigs", [])],
                    role=config.get("Role"),
                    reserved_concurrency=(described.get("Concurrency") or {}).get("ReservedConcurrentExecutions"),
                ),
                arn,
            )

    def names(self, values: Any, physical_id: str) -> bool:
        """Whether a template's list ``values`` names the resource ``physical_id``: by that name
        or by a Ref/GetAtt of its logical ID."""
        return isinstance(values, list) and any(
            v == physical_id or refers_to(v) == self.logical.get(physical_id) for v in values
        )

    def declared_attachments(self, role: str) -> tuple[set[str], set[str]]:
        """The inline policy names and managed policy ARNs the templates attach to ``role``
        (its own ``Policies`` and ``ManagedPolicyArns``, and the stack's ``AWS::IAM::Policy``
        and ``AWS::IAM::ManagedPolicy`` naming it), where they are plain text: what the IAM
        listings must return for them to be complete."""
        inline: set[Any] = set()
        managed: set[Any] = set()
        spec = self.template_resource(role)
        if spec is not None:
            inline |= {p.get("PolicyName") for p in spec.properties.get("Policies") or [] if isinstance(p, dict)}
            managed |= set(spec.properties.get("ManagedPolicyArns") or [])
        for pid, rtype in self.physical.values():
            if rtype not in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
                continue
            other = self.template_resource(pid)
            if other is None or not self.names(other.properties.get("Roles"), role):
                continue
            if rtype == "AWS::IAM::Policy":
                inline.add(other.properties.get("PolicyName"))
            else:
                managed.add(pid)
        return {n for n in inline if type(n) is str}, {a for a in managed if type(a) is str}

    def iam(self, d: Deployment) -> None:
        """The stack's roles and instance profiles, each read by name: the calls grow with the
        stack, not with the account (GetAccountAuthorizationDetails would read every role)."""
        roles = sorted(set(self.ids("AWS::IAM::Role")))
        profiles = sorted(set(self.ids("AWS::IAM::InstanceProfile")))
        managed_policies = sorted(set(self.ids("AWS::IAM::ManagedPolicy")))
        users, groups = sorted(set(self.ids("AWS::IAM::User"))), sorted(set(self.ids("AWS::IAM::Group")))
        if not (roles or profiles or managed_policies or users or groups):
            return
        iam = self.client("iam")
        for arn in managed_policies:
            d.policies.append(self.managed_policy(iam, arn))
        for kind, names in (("user", users), ("group", groups)):
            for name in names:
                d.add(self.identity(d, iam, kind, name))
        for name in roles:
            role = iam.get_role(RoleName=name)["Role"]
            location = self.loc(name, "AWS::IAM::Role")
            documents = [
                m.PolicyDocument(
                    policy,
                    iam.get_role_policy(RoleName=name, PolicyName=policy)["PolicyDocument"],
                    [name],
                    location,
                )
                for policy in pages(iam, "list_role_policies", "PolicyNames", RoleName=name)
            ]
            attached = [
                p["PolicyArn"] for p in pages(iam, "list_attached_role_policies", "AttachedPolicies", RoleName=name)
            ]
            inline, managed = self.declared_attachments(name)
            unlisted = sorted((inline - {doc.name for doc in documents}) | (managed - set(attached)))
            if unlisted:
                raise IncompleteAnswer(
                    f"the IAM listings of role {name} leave out {', '.join(unlisted)}, which its stack attaches"
                )
            d.policies.extend(documents)
            d.add(
                m.Role(
                    name,
                    location,
                    trust=role.get("AssumeRolePolicyDocument"),
                    managed_policies=attached,
                    policies=documents,
                ),
                role["Arn"],
            )
        for name in profiles:
            profile = iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"]
            found = m.InstanceProfile(name, self.loc(name, "AWS::IAM::InstanceProfile"))
            found.roles.extend(r["RoleName"] for r in required(profile, "iam.GetInstanceProfile", "Roles"))
            spec = self.template_resource(name)
            declared = spec.properties.get("Roles") if spec is not None else None
            unlisted = sorted(r for r in self.ids("AWS::IAM::Role") if self.names(declared, r) and r not in found.roles)
            if unlisted:
                raise IncompleteAnswer(
                    f"GetInstanceProfile of {name} leaves out role {', '.join(unlisted)}, which its stack gives it"
                )
            d.add(found, profile["Arn"])

    def identity(self, d: Deployment, iam: Any, kind: str, name: str) -> m.IamIdentity:
        """A user or group of the stack, read by name as roles are: its inline policies and the
        managed policies attached to it; one its template gives it that the listings leave out
        makes the answer incomplete."""
        title = kind.capitalize()
        key = {f"{title}Name": name}
        location = self.loc(name, f"AWS::IAM::{title}")
        documents = [
            m.PolicyDocument(
                policy, getattr(iam, f"get_{kind}_policy")(**key, PolicyName=policy)["PolicyDocument"], [name], location
            )
            for policy in pages(iam, f"list_{kind}_policies", "PolicyNames", **key)
        ]
        attached = [p["PolicyArn"] for p in pages(iam, f"list_attached_{kind}_policies", "AttachedPolicies", **key)]
        spec = self.template_resource(name)
        declared = spec.properties.get("Policies") if spec is not None else None
        inline = {p.get("PolicyName") for p in declared or [] if isinstance(p, dict)}
        unlisted = sorted(n for n in inline if type(n) is str and n not in {doc.name for doc in documents})
        if unlisted:
            raise IncompleteAnswer(f"the IAM listings of {kind} {name} leave out {', '.join(unlisted)}")
        d.policies.extend(documents)
        return m.IamIdentity(name, location, kind=kind, managed_policies=attached, policies=documents)

    def managed_policy(self, iam: Any, arn: str) -> m.PolicyDocument:
        """A customer managed policy the stack creates, its default version's document (IAM-03
        and IAM-04 judge what it allows); an answer without a document is incomplete, never an
        empty policy."""
        policy = iam.get_policy(PolicyArn=arn)["Policy"]
        version = iam.get_policy_version(PolicyArn=arn, VersionId=policy["DefaultVersionId"])["PolicyVersion"]
        document = version.get("Document")
        if isinstance(document, str):
            document = json.loads(urllib.parse.unquote(document))
        if not isinstance(document, dict):
            raise IncompleteAnswer(f"iam.GetPolicyVersion answered no document for {arn}")
        return m.PolicyDocument(policy.get("PolicyName", arn), document, [], self.loc(arn, "AWS::IAM::ManagedPolicy"))

    def secrets(self, d: Deployment) -> None:
        for arn in self.ids("AWS::SecretsManager::Secret"):
            d.add(
                m.Secret(
                    arn, self.loc(arn, "AWS::SecretsManager::Secret"), generated=Unknown("not visible after creation")
                )
            )

    def logs(self, d: Deployment) -> None:
        names = set(self.ids("AWS::Logs::LogGroup"))
        if not names:
            return
        logs = self.client("logs")
        for name in sorted(names):  # by prefix, one name at a time: not every group in the region
            for group in pages(logs, "describe_log_groups", "logGroups", logGroupNamePrefix=name):
                if group["logGroupName"] == name:
                    d.add(
                        m.LogGroup(
                            name,
                            self.loc(name, "AWS::Logs::LogGroup"),
                            name=name,
                            retention_days=group.get("retentionInDays"),
                        ),
                        group.get("arn", ""),
                    )

    def backup(self, d: Deployment, selections: Callable[[str], list[dict[str, Any]]] | None) -> None:
        plans = self.ids("AWS::Backup::BackupPlan")
        if not plans:
            return
        backup = self.client("backup")
        for plan_id in plans:  # no control reads the plan's rules; its selections matter
            d.add(m.BackupPlan(plan_id, self.loc(plan_id, "AWS::Backup::BackupPlan")))
            found = (
                selections(plan_id)
                if selections
                else [
                    backup.get_backup_selection(BackupPlanId=plan_id, SelectionId=s["SelectionId"])
                    for s in pages(backup, "list_backup_selections", "BackupSelectionsList", BackupPlanId=plan_id)
                ]
            )
            for selection in found:
                sid = selection["SelectionId"]
                d.add(
                    m.BackupSelection(
                        sid,
                        self.loc(sid, "AWS::Backup::BackupSelection"),
                        plan=plan_id,
                        resources=list(selection["BackupSelection"].get("Resources", [])),
                    )
                )


def build(
    client: ClientFactory,
    stack_name: str | Sequence[str],
    region: str,
    target: str,
    selections: Callable[[str], list[dict[str, Any]]] | None = None,
) -> Deployment:
    """The model of ``stack_name`` (one stack, or several that are one deployment) as
    ``client`` (service name -> boto3 client) sees it, nested stacks included.
    ``selections`` stands in for the Backup selection API on emulators that lack it."""
    names = [stack_name] if isinstance(stack_name, str) else list(stack_name)
    if not names:
        raise StackNotFound("no stack named: give --stack-name")
    builder = Builder(client, names, region, target)
    name = ",".join(names)
    deployment = Deployment(target=target, name=name, region=region, source=name)
    builder.stack(deployment)
    steps: list[tuple[Callable[[Deployment], None], tuple[type[m.Obj], ...]]] = [
        (builder.network, (m.Vpc, m.Subnet, m.RouteTable, m.Gateway, m.SecurityGroup, m.NetworkAcl, m.VpcEndpoint)),
        (builder.load_balancing, (m.LoadBalancer, m.Listener, m.TargetGroup)),
        (builder.certificates, (m.Certificate,)),
        (builder.compute, (m.LaunchTemplate, m.AutoScalingGroup, m.ScalingPolicy, m.Alarm)),
        (builder.databases, (m.DbInstance, m.DbSubnetGroup, m.DbParameterGroup)),
        (builder.file_systems, (m.FileSystem, m.AccessPoint, m.MountTarget)),
        (builder.buckets, (m.Bucket,)),
        (builder.functions, (m.Function,)),
        (builder.iam, (m.Role, m.InstanceProfile, m.IamIdentity)),
        (builder.secrets, (m.Secret,)),
        (builder.logs, (m.LogGroup,)),
        (builder.containers, (m.EcsService, m.TaskDefinition, m.EcrRepository)),
        (builder.analytics_database, (m.RedshiftCluster,)),
        (lambda d: builder.backup(d, selections), (m.BackupPlan, m.BackupSelection)),
    ]
    emulated = target in EMULATORS

    def missing(kinds: Iterable[type[m.Obj]], reason: str) -> None:
        """Kinds something is missing from: SKIP on an emulator, ERROR on a live account."""
        for kind in kinds:
            if emulated:
                deployment.not_emulated.setdefault(kind, reason)
            else:
                deployment.gaps.setdefault(kind, Unknown(reason))

    for resource_type in builder.not_created():
        reason = (
            f"the {target} target does not emulate {resource_type} (CloudFormation gave it no physical ID)"
            if emulated
            else f"CloudFormation gave {resource_type} no physical ID on {target}: it was not created or not read"
        )
        missing(TYPE_KINDS.get(resource_type, ()), reason)
    for step, kinds in steps:
        try:
            step(deployment)
        except NotEmulated as exc:  # the step reads a kind the emulator does not create: so are these
            for kind in kinds:
                deployment.not_emulated.setdefault(kind, str(exc.msg))
        except Exception as exc:  # an API the target lacks or refused: those kinds are unknown, never empty
            gap = Unknown(f"the {target} target could not read them: {type(exc).__name__}: {exc}")
            for kind in kinds:
                deployment.gaps.setdefault(kind, gap)
    for resource_type, logical_ids in builder.unseen(deployment).items():
        missing(
            TYPE_KINDS[resource_type],
            f"CloudFormation reports {resource_type} {', '.join(sorted(logical_ids))} created, "
            f"but the {target} target's describe calls do not return it",
        )
    for resource_type, logical_ids in builder.unlisted().items():
        gap = Unknown(
            f"the stack's template creates {resource_type} {', '.join(sorted(logical_ids))}, but "
            f"ListStackResources on {target} did not return it: the listing is not complete"
        )
        for kind in kinds_fed_by(resource_type):
            deployment.gaps.setdefault(kind, gap)
    return deployment
