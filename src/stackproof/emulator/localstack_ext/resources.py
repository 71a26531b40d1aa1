"""CloudFormation resource providers for the types LocalStack 4.13.1's free edition deploys as
``unknown`` placeholders, each backed by moto's own CloudFormation model for the type.

LocalStack's engine resolves the template (parameters, conditions, intrinsics) and hands a
provider the resolved properties; the provider creates the resource through moto's model in
the moto backends LocalStack's services answer from, and returns its physical ID and the
attributes ``Fn::GetAtt`` reads (the engine reads them from the returned model). A type moto
cannot create, or a resource moto gives no physical ID, fails the resource: never a placeholder.
"""

from __future__ import annotations

import threading
from typing import Any, ClassVar

from localstack.services.cloudformation.engine.quirks import PHYSICAL_RESOURCE_ID_SPECIAL_CASES
from localstack.services.cloudformation.resource_provider import (
    CloudFormationResourceProviderPlugin,
    OperationStatus,
    ProgressEvent,
    ResourceProvider,
    ResourceRequest,
)

PHYSICAL_ID = "StackproofPhysicalId"  # where the model keeps the ID (the schema's primary identifier)

# The attributes Fn::GetAtt can read, per type (those the references read, and their kin).
ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "AWS::AutoScaling::AutoScalingGroup": (),
    "AWS::AutoScaling::LaunchConfiguration": (),
    "AWS::AutoScaling::ScalingPolicy": ("Arn", "PolicyName"),
    "AWS::Backup::BackupPlan": ("BackupPlanArn", "BackupPlanId", "VersionId"),
    "AWS::Backup::BackupSelection": ("BackupPlanId", "Id", "SelectionId"),
    "AWS::Backup::BackupVault": ("BackupVaultArn", "BackupVaultName"),
    "AWS::EC2::EIP": ("AllocationId", "PublicIp"),
    "AWS::EC2::FlowLog": ("Id",),
    "AWS::EC2::LaunchTemplate": ("DefaultVersionNumber", "LatestVersionNumber", "LaunchTemplateId"),
    "AWS::EC2::NetworkAclEntry": (),
    "AWS::EC2::SecurityGroupEgress": (),
    "AWS::EC2::SecurityGroupIngress": (),
    "AWS::EC2::SubnetNetworkAclAssociation": ("AssociationId",),
    "AWS::ECR::Repository": ("Arn", "RepositoryUri"),
    "AWS::ECS::Cluster": ("Arn",),
    "AWS::ECS::Service": ("Name", "ServiceArn"),
    "AWS::ECS::TaskDefinition": ("TaskDefinitionArn",),
    "AWS::EFS::AccessPoint": ("AccessPointId", "Arn"),
    "AWS::EFS::FileSystem": ("Arn", "FileSystemId"),
    "AWS::EFS::MountTarget": ("IpAddress",),
    "AWS::ElasticLoadBalancingV2::Listener": ("ListenerArn",),
    "AWS::ElasticLoadBalancingV2::ListenerRule": ("RuleArn",),
    "AWS::ElasticLoadBalancingV2::LoadBalancer": (
        "CanonicalHostedZoneID",
        "DNSName",
        "LoadBalancerArn",
        "LoadBalancerFullName",
        "LoadBalancerName",
        "SecurityGroups",
    ),
    "AWS::ElasticLoadBalancingV2::TargetGroup": (
        "LoadBalancerArns",
        "TargetGroupArn",
        "TargetGroupFullName",
        "TargetGroupName",
    ),
    "AWS::RDS::DBInstance": ("DBInstanceArn", "Endpoint.Address", "Endpoint.Port"),
    "AWS::RDS::DBParameterGroup": (),
    "AWS::RDS::DBSubnetGroup": (),
    "AWS::Redshift::ClusterParameterGroup": (),
    "AWS::Redshift::ClusterSubnetGroup": (),
}

_created: dict[tuple[str, str, str, str], Any] = {}  # (account, region, type, physical ID) -> moto object
_lock = threading.Lock()  # moto's models are not written for concurrent creation


def _value(found: Any) -> Any:
    """GetAtt answers strings, lists or objects; moto answers numbers as numbers."""
    if isinstance(found, bool):
        return str(found).lower()
    if isinstance(found, int | float):
        return str(found)
    return found


def attributes(resource_type: str, created: Any) -> dict[str, Any]:
    """The GetAtt attributes moto's object answers, dotted names as nested objects."""
    found: dict[str, Any] = {}
    for name in ATTRIBUTES.get(resource_type, ()):
        try:
            value = created.get_cfn_attribute(name)
        except Exception:  # moto's model does not answer it: GetAtt on it fails in the engine
            continue
        if value is None:
            continue
        head, _, tail = name.partition(".")
        if tail:
            found.setdefault(head, {})[tail] = _value(value)
        else:
            found[head] = _value(value)
    return found


class MotoBackedProvider(ResourceProvider[dict[str, Any]]):
    """Create, read and delete one type through moto's CloudFormation model for it."""

    TYPE: ClassVar[str]
    SCHEMA: ClassVar[dict[str, Any]]

    def create(self, request: ResourceRequest[dict[str, Any]]) -> ProgressEvent[dict[str, Any]]:
        from moto.cloudformation import parsing

        from stackproof.emulator.localstack_ext import moto_fixes

        moto_fixes.install()
        model_class = parsing.get_model_map().get(self.TYPE)
        if model_class is None:
            return self._failed(f"moto has no CloudFormation model for {self.TYPE}")
        properties = dict(request.desired_state or {})
        properties.pop(PHYSICAL_ID, None)
        name_property = parsing.resource_name_property_from_type(self.TYPE)
        name = properties.get(name_property) if name_property else None
        if not name:
            name = parsing.generate_resource_name(self.TYPE, request.stack_name, request.logical_resource_id)
        with _lock:
            created = model_class.create_from_cloudformation_json(
                name,
                {"Type": self.TYPE, "Properties": properties},
                request.account_id,
                request.region_name,
                LogicalId=request.logical_resource_id,
                StackId=request.stack_id,
                ResourceType=self.TYPE,
            )
        if created is None:
            return self._failed(f"moto did not create {self.TYPE} {request.logical_resource_id}")
        # moto keeps no ID for some rule-like types (security group rules, ACL entries); the
        # name it was created under identifies it, as CloudFormation's own generated IDs do.
        physical_id = getattr(created, "physical_resource_id", None) or name
        _created[(request.account_id, request.region_name, self.TYPE, str(physical_id))] = (created, name)
        model = {**properties, **attributes(self.TYPE, created), PHYSICAL_ID: str(physical_id)}
        special = PHYSICAL_RESOURCE_ID_SPECIAL_CASES.get(self.TYPE, "")
        if special.startswith("/properties/") and "<" not in special:  # the engine reads the ID there
            model.setdefault(special.removeprefix("/properties/"), str(physical_id))
        return ProgressEvent(status=OperationStatus.SUCCESS, resource_model=model)

    def read(self, request: ResourceRequest[dict[str, Any]]) -> ProgressEvent[dict[str, Any]]:
        return ProgressEvent(status=OperationStatus.SUCCESS, resource_model=request.desired_state)

    def delete(self, request: ResourceRequest[dict[str, Any]]) -> ProgressEvent[dict[str, Any]]:
        """moto's delete for the type; a type whose moto model cannot delete stays in moto,
        which LocalStack discards when it stops (stackproof never reuses a LocalStack)."""
        state = dict(request.desired_state or request.previous_state or {})
        physical_id = str(state.get(PHYSICAL_ID, ""))
        key = (request.account_id, request.region_name, self.TYPE, physical_id)
        created, name = _created.pop(key, (None, physical_id))
        if self.TYPE in OWN_DELETES:
            with _lock:
                OWN_DELETES[self.TYPE](physical_id, state, request.account_id, request.region_name)
            return ProgressEvent(status=OperationStatus.SUCCESS, resource_model={})
        model_class = type(created) if created is not None else None
        if model_class is not None and "delete_from_cloudformation_json" in _own_methods(model_class):
            properties = {k: v for k, v in state.items() if k != PHYSICAL_ID}
            with _lock:
                model_class.delete_from_cloudformation_json(
                    name, {"Type": self.TYPE, "Properties": properties}, request.account_id, request.region_name
                )
        return ProgressEvent(status=OperationStatus.SUCCESS, resource_model={})

    def update(self, request: ResourceRequest[dict[str, Any]]) -> ProgressEvent[dict[str, Any]]:
        """Not supported, and said so: LocalStack's engine turns a NotImplementedError into a
        success that keeps the old resource, which would make an update look applied."""
        return self._failed(f"{self.TYPE}: stackproof's LocalStack extension cannot update it in place")

    def _failed(self, message: str) -> ProgressEvent[dict[str, Any]]:
        return ProgressEvent(status=OperationStatus.FAILED, resource_model={}, message=message)


def _associations(acl: Any) -> list[tuple[str, Any]]:
    """An ACL's associations by ID (moto-ext 5.1 keeps them in a dict)."""
    return list(acl.associations.items())


def _restore_default_acl(association_id: str, state: dict[str, Any], account: str, region: str) -> None:
    """Deleting the association gives the subnet back to its VPC's default ACL, as in AWS;
    otherwise the stack's own ACL stays associated and cannot be deleted."""
    from moto.ec2.models import ec2_backends

    backend = ec2_backends[account][region]
    subnet = backend.get_subnet(state["SubnetId"])
    default = next(
        a for a in backend.network_acls.values() if a.vpc_id == subnet.vpc_id and str(a.default).lower() == "true"
    )
    current = next(
        (aid for acl in backend.network_acls.values() for aid, a in _associations(acl) if a.subnet_id == subnet.id),
        association_id,
    )
    backend.replace_network_acl_association(current, default.id)


# Types whose moto model cannot delete them (stackproof's models for the types moto skips).
OWN_DELETES: dict[str, Any] = {"AWS::EC2::SubnetNetworkAclAssociation": _restore_default_acl}


def _own_methods(model_class: type) -> set[str]:
    """Methods defined below moto's CloudFormationModel base (its defaults do nothing)."""
    from moto.core.common_models import CloudFormationModel

    return {name for klass in model_class.__mro__ if klass is not CloudFormationModel for name in vars(klass)}


def provider_for(resource_type: str) -> type[MotoBackedProvider]:
    schema = {"typeName": resource_type, "primaryIdentifier": [f"/properties/{PHYSICAL_ID}"], "properties": {}}
    name = resource_type.replace("::", "") + "Provider"
    return type(name, (MotoBackedProvider,), {"TYPE": resource_type, "SCHEMA": schema})


def plugin_for(resource_type: str) -> type[CloudFormationResourceProviderPlugin]:
    """The plux plugin LocalStack's engine loads by the type's name."""

    def __init__(self: Any) -> None:
        self.factory = None

    def load(self: Any) -> None:
        self.factory = provider_for(resource_type)

    name = resource_type.replace("::", "") + "Plugin"
    return type(
        name, (CloudFormationResourceProviderPlugin,), {"name": resource_type, "__init__": __init__, "load": load}
    )


AutoScalingGroupPlugin = plugin_for("AWS::AutoScaling::AutoScalingGroup")
LaunchConfigurationPlugin = plugin_for("AWS::AutoScaling::LaunchConfiguration")
ScalingPolicyPlugin = plugin_for("AWS::AutoScaling::ScalingPolicy")
BackupPlanPlugin = plugin_for("AWS::Backup::BackupPlan")
BackupSelectionPlugin = plugin_for("AWS::Backup::BackupSelection")
BackupVaultPlugin = plugin_for("AWS::Backup::BackupVault")
EipPlugin = plugin_for("AWS::EC2::EIP")
FlowLogPlugin = plugin_for("AWS::EC2::FlowLog")
LaunchTemplatePlugin = plugin_for("AWS::EC2::LaunchTemplate")
NetworkAclEntryPlugin = plugin_for("AWS::EC2::NetworkAclEntry")
SecurityGroupEgressPlugin = plugin_for("AWS::EC2::SecurityGroupEgress")
SecurityGroupIngressPlugin = plugin_for("AWS::EC2::SecurityGroupIngress")
SubnetNetworkAclAssociationPlugin = plugin_for("AWS::EC2::SubnetNetworkAclAssociation")
EcsClusterPlugin = plugin_for("AWS::ECS::Cluster")
EcsServicePlugin = plugin_for("AWS::ECS::Service")
EcsTaskDefinitionPlugin = plugin_for("AWS::ECS::TaskDefinition")
EfsAccessPointPlugin = plugin_for("AWS::EFS::AccessPoint")
EfsFileSystemPlugin = plugin_for("AWS::EFS::FileSystem")
EfsMountTargetPlugin = plugin_for("AWS::EFS::MountTarget")
ListenerPlugin = plugin_for("AWS::ElasticLoadBalancingV2::Listener")
ListenerRulePlugin = plugin_for("AWS::ElasticLoadBalancingV2::ListenerRule")
LoadBalancerPlugin = plugin_for("AWS::ElasticLoadBalancingV2::LoadBalancer")
TargetGroupPlugin = plugin_for("AWS::ElasticLoadBalancingV2::TargetGroup")
DbInstancePlugin = plugin_for("AWS::RDS::DBInstance")
DbParameterGroupPlugin = plugin_for("AWS::RDS::DBParameterGroup")
DbSubnetGroupPlugin = plugin_for("AWS::RDS::DBSubnetGroup")
ClusterParameterGroupPlugin = plugin_for("AWS::Redshift::ClusterParameterGroup")
ClusterSubnetGroupPlugin = plugin_for("AWS::Redshift::ClusterSubnetGroup")
