"""Fixes to moto's CloudFormation handling that the reference template needs.

Each fix names the moto behaviour it corrects. They are installed explicitly (never at
import time) and are idempotent, so a test session can install them once.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from types import SimpleNamespace
from typing import Any

from moto.utilities.utils import get_partition

_installed = False


def _rds_instance_properties(properties: dict[str, Any]) -> dict[str, Any]:
    """moto 5.2 passes a Ref'd DBParameterGroup through as the model object and ignores
    ``VPCSecurityGroups`` (it reads ``VpcSecurityGroupIds``), so the instance lost both."""
    fixed = dict(properties)
    group = fixed.get("DBParameterGroupName")
    if group is not None and not isinstance(group, str):
        fixed["DBParameterGroupName"] = group.name
    subnet_group = fixed.get("DBSubnetGroupName")
    if isinstance(subnet_group, str):  # moto reads .name; with a physical ID the Ref is the name
        fixed["DBSubnetGroupName"] = SimpleNamespace(name=subnet_group)
    if "VPCSecurityGroups" in fixed and "VpcSecurityGroupIds" not in fixed:
        fixed["VpcSecurityGroupIds"] = fixed["VPCSecurityGroups"]
    return fixed


def _efs_attributes() -> None:
    """moto 5.2's EFS models cannot answer ``Fn::GetAtt`` (no ``get_cfn_attribute``)."""
    from moto.efs.models import AccessPoint, FileSystem

    def file_system_attribute(self: FileSystem, name: str) -> str:
        values = {"Arn": self.file_system_arn, "FileSystemId": self.file_system_id}
        return _attribute(values, "AWS::EFS::FileSystem", name)

    def access_point_attribute(self: AccessPoint, name: str) -> str:
        values = {"Arn": self.access_point_arn, "AccessPointId": self.access_point_id}
        return _attribute(values, "AWS::EFS::AccessPoint", name)

    FileSystem.get_cfn_attribute = file_system_attribute  # type: ignore[attr-defined]
    AccessPoint.get_cfn_attribute = access_point_attribute  # type: ignore[attr-defined]


def _physical_ids() -> None:
    """moto 5.2 gives some models no physical ID, so describe_stack_resources cannot map
    their logical IDs to the real resources; these are the ones a deployed model reads."""
    from moto.efs.models import AccessPoint
    from moto.rds.models import DBParameterGroup, DBSubnetGroup
    from moto.redshift.models import Cluster, ParameterGroup, SubnetGroup

    DBSubnetGroup.physical_resource_id = property(lambda self: self.name)  # type: ignore[attr-defined]
    DBParameterGroup.physical_resource_id = property(lambda self: self.name)  # type: ignore[attr-defined]
    AccessPoint.physical_resource_id = property(lambda self: self.access_point_id)  # type: ignore[attr-defined]
    Cluster.physical_resource_id = property(lambda self: self.cluster_identifier)  # type: ignore[attr-defined]
    original_cluster = Cluster.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]

    def create_cluster(cls: Any, /, resource_name: str, cloudformation_json: Any, *args: Any, **kwargs: Any) -> Any:
        # With a physical ID a subnet group's Ref is its name; moto's model wanted the object.
        properties = dict(cloudformation_json["Properties"])
        if isinstance(properties.get("ClusterSubnetGroupName"), str):
            properties["ClusterSubnetGroupName"] = SimpleNamespace(
                cluster_subnet_group_name=properties["ClusterSubnetGroupName"]
            )
        return original_cluster(cls, resource_name, {**cloudformation_json, "Properties": properties}, *args, **kwargs)

    Cluster.create_from_cloudformation_json = classmethod(create_cluster)  # type: ignore[method-assign,assignment]
    SubnetGroup.physical_resource_id = property(lambda self: self.cluster_subnet_group_name)  # type: ignore[attr-defined]
    ParameterGroup.physical_resource_id = property(lambda self: self.cluster_parameter_group_name)  # type: ignore[attr-defined]


def _role_policy_documents() -> None:
    """Roles created by moto's CloudFormation keep inline policies as dicts, and
    GetRolePolicy then answers their Python ``repr`` as the document; answer JSON, as IAM
    does for a policy put through its API."""
    import json

    from moto.iam.models import IAMBackend

    original = IAMBackend.get_role_policy

    def get_role_policy(self: IAMBackend, role_name: str, policy_name: str) -> tuple[str, str]:
        name, document = original(self, role_name, policy_name)
        return name, document if isinstance(document, str) else json.dumps(document)

    IAMBackend.get_role_policy = get_role_policy  # type: ignore[method-assign]


def _lambda_account_settings() -> None:
    """moto 5.2 has no Lambda ``GetAccountSettings``; answer it from the functions' reserved
    concurrency under AWS's default account limit of 1000."""
    import json

    from moto.awslambda import urls
    from moto.awslambda.responses import LambdaResponse

    def get_account_settings(self: LambdaResponse) -> tuple[int, dict[str, str], str]:
        functions = list(self.backend.list_functions())
        reserved = sum(int(f.reserved_concurrency or 0) for f in functions)
        limit = {"ConcurrentExecutions": 1000, "UnreservedConcurrentExecutions": 1000 - reserved}
        usage = {"FunctionCount": len(functions), "TotalCodeSize": sum(int(f.code_size or 0) for f in functions)}
        return 200, {}, json.dumps({"AccountLimit": limit, "AccountUsage": usage})

    LambdaResponse.get_account_settings = get_account_settings  # type: ignore[attr-defined]
    urls.url_paths.setdefault(r"{0}/(?P<api_version>[^/]+)/account-settings/?$", LambdaResponse.dispatch)


AfterCreate = Callable[[Any, dict[str, Any], str, str], Any]


def _after_create(model: Any, fix: AfterCreate) -> None:
    """Wrap a moto model's CloudFormation create so ``fix`` can finish what moto skips;
    ``fix`` may return a replacement for the created object."""
    original = model.create_from_cloudformation_json.__func__

    def create(
        cls: Any,
        /,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Any:
        created = original(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        replaced = fix(created, cloudformation_json.get("Properties") or {}, account_id, region_name)
        return created if replaced is None else replaced

    model.create_from_cloudformation_json = classmethod(create)


def _route_table_association(created: Any, props: dict[str, Any], account: str, region: str) -> Any:
    """moto records a CloudFormation association where describe_route_tables never looks."""
    from moto.ec2.models import ec2_backends

    association_id = ec2_backends[account][region].associate_route_table(
        props["RouteTableId"], subnet_id=props["SubnetId"]
    )
    created.physical_resource_id_value = association_id
    return SimpleNamespace(physical_resource_id=association_id, is_created=lambda: True)


def _subnet_settings(created: Any, props: dict[str, Any], account: str, region: str) -> None:
    """moto ignores MapPublicIpOnLaunch from CloudFormation (AWS's default is false)."""
    created.map_public_ip_on_launch = str(props.get("MapPublicIpOnLaunch", False)).lower() == "true"


def _database_settings(created: Any, props: dict[str, Any], account: str, region: str) -> None:
    """moto ignores DeletionProtection and EnableCloudwatchLogsExports from CloudFormation."""
    created.deletion_protection = str(props.get("DeletionProtection", False)).lower() == "true"
    created.enabled_cloudwatch_logs_exports = list(props.get("EnableCloudwatchLogsExports") or [])


def _file_system_policy(created: Any, props: dict[str, Any], account: str, region: str) -> None:
    """moto ignores FileSystemPolicy from CloudFormation."""
    import json

    from moto.efs.models import efs_backends

    if props.get("FileSystemPolicy") is not None:
        efs_backends[account][region].put_file_system_policy(
            created.file_system_id, json.dumps(props["FileSystemPolicy"]), False
        )


def _bucket_notifications(created: Any, props: dict[str, Any], account: str, region: str) -> None:
    """moto ignores NotificationConfiguration, versioning and the public access block from
    CloudFormation; set them through the backend as the S3 API would."""
    from moto.s3.models import s3_backends

    backend = s3_backends[account]["global"]
    functions = (props.get("NotificationConfiguration") or {}).get("LambdaConfigurations") or []
    if functions:
        config = [
            {
                "CloudFunction": f["Function"],
                "Event": [f["Event"]],
                **({"Filter": {"S3Key": {"FilterRule": f["Filter"]["S3Key"]["Rules"]}}} if f.get("Filter") else {}),
            }
            for f in functions
        ]
        backend.put_bucket_notification_configuration(created.name, {"CloudFunctionConfiguration": config})
    status = (props.get("VersioningConfiguration") or {}).get("Status")
    if status:
        backend.put_bucket_versioning(created.name, status)
    block = props.get("PublicAccessBlockConfiguration")
    if block:
        backend.put_public_access_block(created.name, {k: str(v).lower() for k, v in block.items()})


def _role_managed_policies(created: Any, props: dict[str, Any], account: str, region: str) -> None:
    """moto ignores ManagedPolicyArns on roles from CloudFormation; attach them, loading the
    AWS managed policy from moto's own data when it is not loaded yet."""
    from moto.iam.models import AWSManagedPolicy, iam_backends

    backend = iam_backends[account][get_partition(region)]
    for arn in props.get("ManagedPolicyArns") or []:
        if arn not in {p.arn for p in backend.managed_policies.values()}:
            data = _aws_managed_policies().get(arn.rsplit("/", 1)[-1])
            if data is None:
                continue
            policy = AWSManagedPolicy.from_data(arn.rsplit("/", 1)[-1], account, region, data)
            backend.managed_policies[policy.arn] = policy
        backend.attach_role_policy(arn, created.name)


def _user_policies(created: Any, props: dict[str, Any], account: str, region: str) -> None:
    """moto creates a CloudFormation user without its inline Policies and ManagedPolicyArns;
    give it them, as CloudFormation does (IAM-03 and IAM-04 read what a user may do)."""
    from moto.iam.models import iam_backends

    backend = iam_backends[account][get_partition(region)]
    for policy in props.get("Policies") or []:
        document = policy.get("PolicyDocument")
        text = document if isinstance(document, str) else json.dumps(document)
        backend.put_user_policy(created.name, policy.get("PolicyName"), text)
    for arn in props.get("ManagedPolicyArns") or []:
        if arn in {p.arn for p in backend.managed_policies.values()}:
            backend.attach_user_policy(arn, created.name)


def _role_deletion() -> None:
    """CloudFormation detaches the managed policies it attached when it deletes a role;
    moto's role deletion refuses a role with attached policies (DeleteConflict), and
    :func:`_role_managed_policies` attaches them, so a stack with such a role could not be
    deleted."""
    from moto.iam.models import Role, iam_backends

    original = Role.delete_from_cloudformation_json.__func__  # type: ignore[attr-defined]

    def delete(cls: Any, /, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str) -> None:
        backend = iam_backends[account_id][get_partition(region_name)]
        role = next((r for r in backend.roles.values() if r.name == resource_name), None)
        for arn in list(role.managed_policies) if role is not None else []:
            backend.detach_role_policy(arn, resource_name)
        original(cls, resource_name, cloudformation_json, account_id, region_name)

    Role.delete_from_cloudformation_json = classmethod(delete)  # type: ignore[method-assign,assignment]


def _short_form_mappings() -> None:
    """moto's YAML reader turns a short-form tag over a mapping (``!ImportValue {Fn::Sub: ...}``,
    ``!Base64 {Fn::Join: ...}``) into the raw YAML nodes, so CloudFormation's own short forms
    broke: an import named ``[(ScalarNode(...), ...)]`` was "not found". Mappings are
    constructed as the intrinsic function they spell."""
    import yaml
    from moto.cloudformation import models, responses, utils

    original = utils.yaml_tag_constructor

    def constructor(loader: Any, tag: Any, node: Any) -> Any:
        if isinstance(node, yaml.MappingNode):
            key = "Ref" if tag == "!Ref" else f"Fn::{tag[1:]}"
            return {key: loader.construct_mapping(node, deep=True)}
        return original(loader, tag, node)

    models.yaml_tag_constructor = constructor  # type: ignore[attr-defined]
    responses.yaml_tag_constructor = constructor  # type: ignore[attr-defined]


def _function_file_systems(created: Any, props: dict[str, Any], account: str, region: str) -> None:
    """moto's Lambda has no FileSystemConfigs, and its CloudFormation ignores EphemeralStorage;
    keep both and report them in the configuration."""
    created.stackproof_file_system_configs = list(props.get("FileSystemConfigs") or [])
    if props.get("EphemeralStorage"):
        created.ephemeral_storage = int(props["EphemeralStorage"]["Size"])


def _lambda_configuration() -> None:
    from moto.awslambda.models import LambdaFunction

    original = LambdaFunction.get_configuration

    def get_configuration(self: LambdaFunction, on_create: bool = False) -> dict[str, Any]:
        config: dict[str, Any] = original(self, on_create)
        configs = getattr(self, "stackproof_file_system_configs", None)
        if configs:
            config["FileSystemConfigs"] = configs
        return config

    LambdaFunction.get_configuration = get_configuration  # type: ignore[method-assign]
    _after_create(LambdaFunction, _function_file_systems)


@cache
def _aws_managed_policies() -> dict[str, Any]:
    import json

    from moto.iam.aws_managed_policies import aws_managed_policies_data

    data: dict[str, Any] = json.loads(aws_managed_policies_data)
    return data


def _previous_values() -> None:
    """moto 5.2 looks ``UsePreviousValue`` up among the parameters the stack was given, so a
    parameter on its default raises KeyError; CloudFormation keeps it on its default, which is
    what leaving it out does in moto (an SSM-typed one is looked up again either way)."""
    from moto.cloudformation.models import CloudFormationBackend

    original = CloudFormationBackend._resolve_update_parameters

    def resolve(self: CloudFormationBackend, instance: Any, incoming_params: list[dict[str, str]]) -> dict[str, str]:
        given = instance.parameters if isinstance(instance.parameters, dict) else {}
        kept = [p for p in incoming_params if not (p.get("UsePreviousValue", False) and p["ParameterKey"] not in given)]
        resolved: dict[str, str] = original(self, instance, kept)
        return resolved

    CloudFormationBackend._resolve_update_parameters = resolve  # type: ignore[method-assign]


def _stack_updates() -> None:
    """Stack updates that change what changed: a mount target or access point whose file system
    changed is replaced (moto raises or drops them); a resource removed from the stack keeps
    DeletionPolicy Retain and takes its final snapshot under Snapshot, as CloudFormation does,
    and a protected database refuses to go."""
    from moto.cloudformation import parsing
    from moto.cloudformation.parsing import ResourceMap
    from moto.efs.models import AccessPoint, MountTarget, efs_backends
    from moto.rds.models import rds_backends

    def replace(kind: str) -> Any:
        def update(
            cls: Any,
            original_resource: Any,
            new_resource_name: str,
            cloudformation_json: Any,
            account_id: str,
            region_name: str,
        ) -> Any:
            backend = efs_backends[account_id][region_name]
            if kind == "mount target":
                backend.delete_mount_target(original_resource.mount_target_id)
            else:
                backend.delete_access_point(original_resource.access_point_id)
            return cls.create_from_cloudformation_json(new_resource_name, cloudformation_json, account_id, region_name)

        return classmethod(update)

    MountTarget.update_from_cloudformation_json = replace("mount target")  # type: ignore[method-assign]
    AccessPoint.update_from_cloudformation_json = replace("access point")  # type: ignore[method-assign]
    original_delete = ResourceMap._delete_resource

    def delete_resource(self: ResourceMap, parsed_resource: Any, resource_json: dict[str, Any]) -> None:
        policy = resource_json.get("DeletionPolicy")
        if policy == "Retain":
            return
        if policy == "Snapshot" and resource_json.get("Type") == "AWS::RDS::DBInstance":
            identifier = parsed_resource.db_instance_identifier
            rds_backends[self._account_id][self._region_name].delete_db_instance(
                identifier, final_db_snapshot_identifier=f"{identifier}-final"
            )
            return
        original_delete(self, parsed_resource, resource_json)

    ResourceMap._delete_resource = delete_resource  # type: ignore[method-assign]
    original_update = ResourceMap.update
    original_parse_update = parsing.parse_and_update_resource

    def parse_and_update_resource(
        logical_id: str, resource_json: Any, resources_map: Any, account_id: str, region_name: str
    ) -> Any:
        if resources_map._parsed_resources.get(logical_id, ...) is None:
            return None  # it did not exist: created after the update, if its condition now holds
        return original_parse_update(
            logical_id, resource_json, resources_map, account_id=account_id, region_name=region_name
        )

    parsing.parse_and_update_resource = parse_and_update_resource

    def update(self: ResourceMap, template: dict[str, Any], parameters: dict[str, Any] | None = None) -> None:
        """After the update, what refers to a resource the update replaced or versioned follows it,
        as CloudFormation re-reads the attributes (moto compared them before the change): a group
        whose launch template version is ``GetAtt LatestVersionNumber``, a function mounting a
        replaced access point."""
        from moto.autoscaling.models import autoscaling_backends
        from moto.cloudformation.parsing import clean_json

        before = dict(self._parsed_resources)
        original_update(self, template, parameters)
        # A resource whose condition changed is removed or created (moto only re-parsed the ones
        # whose parameters changed, leaving None for a condition gone false and nothing new).
        for logical_id, resource in self._resource_json_map.items():
            condition = resource.get("Condition")
            if condition is None:
                continue
            if not self.lazy_condition_map[condition]:
                gone = before.get(logical_id)
                if gone is not None:
                    self._delete_resource(gone, resource)
                self._parsed_resources.pop(logical_id, None)
            elif self._parsed_resources.get(logical_id) is None:
                self._parsed_resources.pop(logical_id, None)
                _ = self[logical_id]
        # A function that mounts an access point the update replaced follows the new one.
        for logical_id, resource in self._resource_json_map.items():
            if resource.get("Type") == "AWS::Lambda::Function" and logical_id in self._parsed_resources:
                configs = clean_json(resource.get("Properties", {}).get("FileSystemConfigs"), self)
                if configs:
                    self._parsed_resources[logical_id].stackproof_file_system_configs = list(configs)
        backend = autoscaling_backends[self._account_id][self._region_name]
        for logical_id, resource in self._resource_json_map.items():
            if resource.get("Type") != "AWS::AutoScaling::AutoScalingGroup" or logical_id not in self._parsed_resources:
                continue
            spec = clean_json(resource.get("Properties", {}).get("LaunchTemplate"), self)
            group = self._parsed_resources[logical_id]
            if isinstance(spec, dict) and str(spec.get("Version")) != str(group.launch_template_version):
                group.launch_template_version = str(spec["Version"])
                group.provided_launch_template_version = str(spec["Version"])
                backend.autoscaling_groups[group.name] = group

    ResourceMap.update = update  # type: ignore[method-assign]
    _launched_versions()
    _replacements_register()


def _replacements_register() -> None:
    """An instance the group launches to replace a terminated one registers with the group's
    target groups, as with every other launch (moto updated classic load balancers only)."""
    from moto.autoscaling.models import AutoScalingBackend

    original = AutoScalingBackend.notify_terminate_instances

    def notify_terminate_instances(self: AutoScalingBackend, instance_ids: list[str]) -> None:
        original(self, instance_ids)
        for name in list(self.autoscaling_groups):
            self.update_attached_target_groups(name)

    AutoScalingBackend.notify_terminate_instances = notify_terminate_instances  # type: ignore[method-assign]


def _launched_versions() -> None:
    """An instance of a group remembers the launch template version it was launched from
    (moto reported the template's default version for every instance, old and new)."""
    from moto.autoscaling.models import InstanceState

    original_init = InstanceState.__init__

    def init(self: InstanceState, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        group = self.auto_scaling_group
        template = getattr(group, "ec2_launch_template", None)
        self.launched_version = (  # type: ignore[attr-defined]
            str(template.get_version(group.launch_template_version).number) if template is not None else None
        )

    def launch_template(self: InstanceState) -> dict[str, Any] | None:
        template = getattr(self.auto_scaling_group, "ec2_launch_template", None)
        if template is None:
            return None
        return {"LaunchTemplateId": template.id, "LaunchTemplateName": template.name, "Version": self.launched_version}  # type: ignore[attr-defined]

    InstanceState.__init__ = init  # type: ignore[method-assign]
    InstanceState.launch_template = property(launch_template)  # type: ignore[method-assign,assignment]


def _secure_transport() -> None:
    """moto evaluates a bucket policy with no request context and ignores ``Bool`` conditions,
    so the reference's deny of ``aws:SecureTransport = false`` refused every object request.
    The emulator stands in for AWS's HTTPS endpoints (requests arrive over TLS), so a statement
    conditioned on insecure transport never applies; the rest moto evaluates as before."""
    import json as _json

    from moto.iam.access_control import IAMPolicy
    from moto.s3.models import FakeBucket

    def insecure_only(statement: Any) -> bool:
        condition = statement.get("Condition") if isinstance(statement, dict) else None
        if not isinstance(condition, dict) or list(condition) != ["Bool"]:
            return False
        return {k.lower(): str(v).lower() for k, v in condition["Bool"].items()} == {"aws:securetransport": "false"}

    def get_permission(self: FakeBucket, action: str, resource: str) -> Any:
        from moto.iam.access_control import PermissionResult

        if self.policy is None:
            return PermissionResult.NEUTRAL
        document = _json.loads(self.policy.decode())
        statements = document.get("Statement", [])
        statements = statements if isinstance(statements, list) else [statements]
        kept = [s for s in statements if not insecure_only(s)]
        if not kept:
            return PermissionResult.NEUTRAL
        return IAMPolicy(_json.dumps({**document, "Statement": kept})).is_action_permitted(action, resource)

    FakeBucket.get_permission = get_permission  # type: ignore[method-assign]


def _cloudformation_gaps() -> None:
    from moto.ec2.models.subnets import Subnet, SubnetRouteTableAssociation
    from moto.efs.models import FileSystem
    from moto.iam.models import Role
    from moto.rds.models import DBInstance
    from moto.s3.models import FakeBucket

    _after_create(SubnetRouteTableAssociation, _route_table_association)
    _after_create(Subnet, _subnet_settings)
    _after_create(DBInstance, _database_settings)
    _after_create(FileSystem, _file_system_policy)
    _after_create(FakeBucket, _bucket_notifications)
    _after_create(Role, _role_managed_policies)
    from moto.iam.models import User

    _after_create(User, _user_policies)
    _lambda_configuration()
    _load_balancer_types()
    from moto.ecr.models import Repository
    from moto.ecs.models import Service

    _after_create(Service, _service_networking)
    _after_create(Repository, _repository_settings)
    from moto.autoscaling.models import FakeLaunchConfiguration

    _after_create(FakeLaunchConfiguration, _launch_configuration_settings)


def _launch_configuration_settings(created: Any, props: dict[str, Any], account: str, region: str) -> None:
    """moto 5.2's CloudFormation launch configuration reads its volumes from
    ``BlockDeviceMapping.member`` (an API spelling) and drops ``MetadataOptions``, so every
    launch configuration read as IMDSv1 with no volumes; keep both as CloudFormation gives them."""
    mappings = props.get("BlockDeviceMappings")
    if mappings:
        created.block_device_mapping_dict = [
            {
                **mapping,
                "Ebs": {
                    k: (str(v).lower() if isinstance(v, bool) else v) for k, v in (mapping.get("Ebs") or {}).items()
                },
            }
            for mapping in mappings
            if isinstance(mapping, dict)
        ]
    if props.get("MetadataOptions"):
        created.metadata_options = dict(props["MetadataOptions"])


def _repository_settings(repository: Any, properties: dict[str, Any], account_id: str, region_name: str) -> None:
    """moto kept an ECR repository's scanning and encryption settings in CloudFormation's
    spelling (ScanOnPush), which its API then did not find (scanOnPush): every repository
    read as not scanning."""
    scanning = properties.get("ImageScanningConfiguration") or {}
    repository.image_scanning_configuration = {"scanOnPush": str(scanning.get("ScanOnPush", False)).lower() == "true"}
    encryption = properties.get("EncryptionConfiguration") or {}
    if encryption:
        repository.encryption_configuration = {
            "encryptionType": encryption.get("EncryptionType", "AES256"),
            **({"kmsKey": encryption["KmsKey"]} if encryption.get("KmsKey") else {}),
        }


def _service_networking(service: Any, properties: dict[str, Any], account_id: str, region_name: str) -> None:
    """moto's CloudFormation dropped an ECS service's load balancers and awsvpc configuration,
    which say how the service is reached (ANL-01/02)."""
    service.load_balancers = [
        {
            "targetGroupArn": b.get("TargetGroupArn"),
            "containerName": b.get("ContainerName"),
            "containerPort": int(b["ContainerPort"]) if b.get("ContainerPort") is not None else None,
        }
        for b in properties.get("LoadBalancers") or []
    ]
    network = (properties.get("NetworkConfiguration") or {}).get("AwsvpcConfiguration")
    if network:
        service.network_configuration = {
            "awsvpcConfiguration": {
                "subnets": list(network.get("Subnets") or []),
                "securityGroups": list(network.get("SecurityGroups") or []),
                "assignPublicIp": network.get("AssignPublicIp", "DISABLED"),
            }
        }


def _load_balancer_types() -> None:
    """moto's CloudFormation made every load balancer an Application Load Balancer, so a
    Network Load Balancer's TLS listener was refused; it now gets the Type the template gives."""
    from moto.elbv2.models import FakeLoadBalancer, elbv2_backends

    def create(
        cls: type[FakeLoadBalancer],
        resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> FakeLoadBalancer:
        p = cloudformation_json["Properties"]
        return elbv2_backends[account_id][region_name].create_load_balancer(
            resource_name,
            p.get("SecurityGroups") or [],
            p.get("Subnets"),
            scheme=p.get("Scheme", "internet-facing"),
            loadbalancer_type=p.get("Type", "application"),
            ip_address_type=p.get("IpAddressType", "ipv4"),
        )

    FakeLoadBalancer.create_from_cloudformation_json = classmethod(create)  # type: ignore[method-assign,assignment,arg-type]


# Applied quota values the emulated account answers with, by quota code: the AWS defaults of
# reference/policy.yaml, plus whatever a target applies (the increases a template declares).
applied_quotas: dict[str, float] = {}


def _service_quotas() -> None:
    """moto answers Service Quotas only for vpc; answer every code of the policy data."""
    from moto.servicequotas.models import ServiceQuotasBackend

    from stackproof.domain import policy

    defaults = {q["code"]: q for q in policy.load()["quotas"]}
    original = ServiceQuotasBackend.get_service_quota

    def get_service_quota(self: ServiceQuotasBackend, service_code: str, quota_code: str) -> dict[str, Any]:
        if quota_code in defaults:
            quota = defaults[quota_code]
            return {
                "ServiceCode": service_code,
                "QuotaCode": quota_code,
                "QuotaName": quota["name"],
                "Value": applied_quotas.get(quota_code, float(quota["default"])),
                "Adjustable": True,
                "GlobalQuota": False,
                "Unit": "None",
            }
        result: dict[str, Any] = original(self, service_code, quota_code)
        return result

    ServiceQuotasBackend.get_service_quota = get_service_quota  # type: ignore[method-assign]


def _attribute(values: dict[str, str], resource_type: str, name: str) -> str:
    from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

    if name not in values:
        raise UnformattedGetAttTemplateException()
    return values[name]


def install() -> None:
    global _installed
    if _installed:
        return
    from moto.rds.models import DBInstance

    original = DBInstance.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]

    def create_db_instance(
        cls: type[DBInstance],
        /,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> DBInstance:
        fixed = {
            **cloudformation_json,
            "Properties": _rds_instance_properties(cloudformation_json["Properties"]),
        }
        instance: DBInstance = original(cls, resource_name, fixed, account_id, region_name, **kwargs)
        return instance

    DBInstance.create_from_cloudformation_json = classmethod(create_db_instance)  # type: ignore[method-assign,assignment]
    _efs_attributes()
    _physical_ids()
    _role_policy_documents()
    _lambda_account_settings()
    _role_deletion()
    _short_form_mappings()
    _cloudformation_gaps()
    _stack_updates()
    _previous_values()
    _secure_transport()
    _service_quotas()
    from stackproof.emulator import (
        az_faults,
        backup_api,
        efs_data,
        fis_actions,
        lambda_local,
        mariadb_data,
        nested_stacks,
        ssm_sandbox,
    )
    from stackproof.emulator.moto_models import register

    register()
    backup_api.install()
    efs_data.install()
    lambda_local.install()
    mariadb_data.install()
    az_faults.install()
    fis_actions.install()
    nested_stacks.install()
    ssm_sandbox.install()
    _installed = True
