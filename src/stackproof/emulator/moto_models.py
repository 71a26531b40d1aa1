"""CloudFormation models for resource types moto 5.2 silently skips.

moto reports CREATE_COMPLETE for a type it has no model for and creates nothing, so a
deployed check would see a stack without alarms, scaling policies or network ACLs. Each
model here creates the resource through moto's own backend, so the describe APIs return
it exactly as they would after an API call. Registered by :func:`register` (never at
import time).
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from moto.core.common_models import CloudFormationModel


class _Created:
    """Mixin: a created resource, its physical ID and the attributes Fn::GetAtt may read.
    (moto finds models through CloudFormationModel.__subclasses__(), so each model
    names CloudFormationModel as a direct base.)"""

    def __init__(self, physical_id: str, attributes: dict[str, Any] | None = None, **state: Any) -> None:
        self._physical_id = physical_id
        self._attributes = attributes or {}
        self.state = state

    @property
    def physical_resource_id(self) -> str:
        return self._physical_id

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return True

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

        if attribute_name not in self._attributes:
            raise UnformattedGetAttTemplateException()
        return self._attributes[attribute_name]

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


class ScalingPolicy(_Created, CloudFormationModel):
    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::AutoScaling::ScalingPolicy"

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
    ) -> ScalingPolicy:
        from moto.autoscaling.models import autoscaling_backends

        p = cloudformation_json["Properties"]
        steps = [
            {k: (float(v) if k != "ScalingAdjustment" else int(v)) for k, v in step.items()}
            for step in p.get("StepAdjustments", [])
        ]
        policy = autoscaling_backends[account_id][region_name].put_scaling_policy(
            name=resource_name,
            policy_type=p.get("PolicyType", "SimpleScaling"),
            metric_aggregation_type=p.get("MetricAggregationType"),
            adjustment_type=p.get("AdjustmentType"),
            as_name=p["AutoScalingGroupName"],
            min_adjustment_magnitude=p.get("MinAdjustmentMagnitude"),
            scaling_adjustment=_int(p.get("ScalingAdjustment")),
            cooldown=_int(p.get("Cooldown")),
            target_tracking_config=p.get("TargetTrackingConfiguration"),
            step_adjustments=steps,  # type: ignore[arg-type]
            estimated_instance_warmup=p.get("EstimatedInstanceWarmup"),
            predictive_scaling_configuration=p.get("PredictiveScalingConfiguration"),
        )
        return cls(policy.arn, {"Arn": policy.arn, "PolicyName": resource_name}, group=p["AutoScalingGroupName"])

    @classmethod
    def delete_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
    ) -> None:
        from moto.autoscaling.models import autoscaling_backends

        backend = autoscaling_backends[account_id][region_name]
        for name, policy in list(backend.policies.items()):
            if policy.arn == resource_name or name == resource_name:
                backend.delete_policy(name)


class Alarm(_Created, CloudFormationModel):
    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::CloudWatch::Alarm"

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
    ) -> Alarm:
        from moto.cloudwatch.models import cloudwatch_backends

        p = cloudformation_json["Properties"]
        name = p.get("AlarmName", resource_name)
        alarm = cloudwatch_backends[account_id][region_name].put_metric_alarm(
            name=name,
            namespace=p.get("Namespace"),
            metric_name=p.get("MetricName"),
            comparison_operator=p["ComparisonOperator"],
            evaluation_periods=int(p["EvaluationPeriods"]),
            period=int(p.get("Period", 60)),
            threshold=float(p["Threshold"]),
            statistic=p.get("Statistic"),
            description=p.get("AlarmDescription"),
            dimensions=[{"Name": d["Name"], "Value": d["Value"]} for d in p.get("Dimensions", [])],
            alarm_actions=[a for a in p.get("AlarmActions", []) if a is not None],  # !Ref AWS::NoValue
            datapoints_to_alarm=_int(p.get("DatapointsToAlarm")),
            ok_actions=list(p.get("OKActions", [])),
            insufficient_data_actions=list(p.get("InsufficientDataActions", [])),
            unit=p.get("Unit"),
            actions_enabled=str(p.get("ActionsEnabled", "true")).lower() == "true",
            treat_missing_data=p.get("TreatMissingData"),
        )
        return cls(name, {"Arn": alarm.alarm_arn})

    @classmethod
    def delete_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
    ) -> None:
        from moto.cloudwatch.models import cloudwatch_backends

        cloudwatch_backends[account_id][region_name].delete_alarms([resource_name])


class Secret(_Created, CloudFormationModel):
    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::SecretsManager::Secret"

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
    ) -> Secret:
        from moto.secretsmanager.models import secretsmanager_backends

        backend = secretsmanager_backends[account_id][region_name]
        p = cloudformation_json["Properties"]
        secret_string = p.get("SecretString")
        generate = p.get("GenerateSecretString")
        if generate is not None:
            password = backend.get_random_password(
                password_length=int(generate.get("PasswordLength", 32)),
                exclude_characters=generate.get("ExcludeCharacters", ""),
                exclude_numbers=bool(generate.get("ExcludeNumbers", False)),
                exclude_punctuation=bool(generate.get("ExcludePunctuation", False)),
                exclude_uppercase=bool(generate.get("ExcludeUppercase", False)),
                exclude_lowercase=bool(generate.get("ExcludeLowercase", False)),
                include_space=bool(generate.get("IncludeSpace", False)),
                require_each_included_type=bool(generate.get("RequireEachIncludedType", True)),
            )
            password = json.loads(password)["RandomPassword"] if password.startswith("{") else password
            template = generate.get("SecretStringTemplate")
            if template:
                document = json.loads(template)
                document[generate["GenerateStringKey"]] = password
                secret_string = json.dumps(document)
            else:
                secret_string = password
        name = p.get("Name", resource_name)
        created = json.loads(
            backend.create_secret(
                name=name,
                secret_string=secret_string,
                secret_binary=None,
                description=p.get("Description"),
                tags=p.get("Tags"),
                kms_key_id=p.get("KmsKeyId"),
                client_request_token=None,
                replica_regions=[],
                force_overwrite=False,
            )
        )
        return cls(created["ARN"], {"Id": created["ARN"]}, name=name)


class SecretTargetAttachment(_Created, CloudFormationModel):
    """Adds the database's connection details to the secret, as AWS does."""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::SecretsManager::SecretTargetAttachment"

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
    ) -> SecretTargetAttachment:
        from moto.rds.models import rds_backends
        from moto.secretsmanager.models import secretsmanager_backends

        p = cloudformation_json["Properties"]
        backend = secretsmanager_backends[account_id][region_name]
        secret = backend.get_secret_value(p["SecretId"], None, "AWSCURRENT")  # type: ignore[arg-type]
        document = json.loads(secret["SecretString"])
        database = rds_backends[account_id][region_name].describe_db_instances(p["TargetId"])[0]
        document.update(
            engine=database.engine,
            host=database.address,
            port=database.port,
            dbInstanceIdentifier=database.db_instance_identifier,
        )
        backend.put_secret_value(p["SecretId"], json.dumps(document), None, None, ["AWSCURRENT"])  # type: ignore[arg-type]
        return cls(p["SecretId"])


class BucketPolicy(_Created, CloudFormationModel):
    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::S3::BucketPolicy"

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
    ) -> BucketPolicy:
        from moto.s3.models import s3_backends

        p = cloudformation_json["Properties"]
        document = p["PolicyDocument"]
        text = document if isinstance(document, str) else json.dumps(document)
        s3_backends[account_id]["global"].put_bucket_policy(p["Bucket"], text.encode())
        return cls(p["Bucket"])

    @classmethod
    def delete_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
    ) -> None:
        from moto.s3.models import s3_backends

        s3_backends[account_id]["global"].delete_bucket_policy(resource_name)


class Certificate(_Created, CloudFormationModel):
    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::CertificateManager::Certificate"

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
    ) -> Certificate:
        from moto.acm.models import acm_backends

        p = cloudformation_json["Properties"]
        arn = acm_backends[account_id][region_name].request_certificate(
            domain_name=p["DomainName"],
            idempotency_token=resource_name,
            subject_alt_names=list(p.get("SubjectAlternativeNames", [])),
            tags=list(p.get("Tags", [])),
        )
        return cls(arn)


class NetworkAcl(_Created, CloudFormationModel):
    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::EC2::NetworkAcl"

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
    ) -> NetworkAcl:
        from moto.ec2.models import ec2_backends

        p = cloudformation_json["Properties"]
        acl = ec2_backends[account_id][region_name].create_network_acl(p["VpcId"], tags=p.get("Tags"))
        return cls(acl.id, {"Id": acl.id})


class NetworkAclEntry(_Created, CloudFormationModel):
    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::EC2::NetworkAclEntry"

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
    ) -> NetworkAclEntry:
        from moto.ec2.models import ec2_backends

        p = cloudformation_json["Properties"]
        ports = p.get("PortRange") or {}
        icmp = p.get("Icmp") or {}
        ec2_backends[account_id][region_name].create_network_acl_entry(
            network_acl_id=p["NetworkAclId"],
            rule_number=int(p["RuleNumber"]),
            protocol=str(p["Protocol"]),
            rule_action=p["RuleAction"],
            egress=str(p.get("Egress", False)).lower() == "true",
            cidr_block=p.get("CidrBlock"),
            icmp_code=_int(icmp.get("Code")),
            icmp_type=_int(icmp.get("Type")),
            port_range_from=_int(ports.get("From")),
            port_range_to=_int(ports.get("To")),
            ipv6_cidr_block=p.get("Ipv6CidrBlock"),
        )
        return cls(f"{p['NetworkAclId']}|{p['RuleNumber']}|{p.get('Egress', False)}")


class SubnetNetworkAclAssociation(_Created, CloudFormationModel):
    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::EC2::SubnetNetworkAclAssociation"

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
    ) -> SubnetNetworkAclAssociation:
        from moto.ec2.models import ec2_backends

        p = cloudformation_json["Properties"]
        backend = ec2_backends[account_id][region_name]
        current = next(
            association_id
            for acl in backend.network_acls.values()
            for association_id, association in acl._associations.items()
            if association.subnet_id == p["SubnetId"]
        )
        association = backend.replace_network_acl_association(current, p["NetworkAclId"])
        return cls(association.new_association_id, {"AssociationId": association.new_association_id})


class SecurityGroupEgress(_Created, CloudFormationModel):
    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::EC2::SecurityGroupEgress"

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
    ) -> SecurityGroupEgress:
        from moto.ec2.models import ec2_backends

        p = cloudformation_json["Properties"]
        ranges = [{"CidrIp": p["CidrIp"], "Description": p.get("Description", "")}] if "CidrIp" in p else []
        if "CidrIpv6" in p:
            ranges.append({"CidrIpv6": p["CidrIpv6"], "Description": p.get("Description", "")})
        groups = [{"GroupId": p["DestinationSecurityGroupId"]}] if "DestinationSecurityGroupId" in p else []
        rules, _ = ec2_backends[account_id][region_name].authorize_security_group_egress(
            group_name_or_id=p["GroupId"],
            ip_protocol=str(p["IpProtocol"]),
            from_port=p.get("FromPort"),
            to_port=p.get("ToPort"),
            ip_ranges=ranges,
            source_groups=groups,
            prefix_list_ids=[{"PrefixListId": p["DestinationPrefixListId"]}] if "DestinationPrefixListId" in p else [],
        )
        return cls(rules[0].id if rules else resource_name)


class EgressOnlyInternetGateway(_Created, CloudFormationModel):
    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::EC2::EgressOnlyInternetGateway"

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
    ) -> EgressOnlyInternetGateway:
        from moto.ec2.models import ec2_backends

        gateway = ec2_backends[account_id][region_name].create_egress_only_internet_gateway(
            cloudformation_json["Properties"]["VpcId"]
        )
        return cls(gateway.id, {"Id": gateway.id})


class BackupVault(_Created, CloudFormationModel):
    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::Backup::BackupVault"

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
    ) -> BackupVault:
        from moto.backup.models import backup_backends

        p = cloudformation_json["Properties"]
        backend = backup_backends[account_id][region_name]
        vault = backend.create_backup_vault(
            backup_vault_name=p.get("BackupVaultName", resource_name),
            backup_vault_tags=p.get("BackupVaultTags") or {},
            encryption_key_arn=p.get("EncryptionKeyArn"),
            creator_request_id=resource_name,
        )
        access_policies[(account_id, region_name, vault.backup_vault_name)] = p.get("AccessPolicy")
        return cls(
            vault.backup_vault_name,
            {"BackupVaultName": vault.backup_vault_name, "BackupVaultArn": vault.backup_vault_arn},
        )


class BackupPlan(_Created, CloudFormationModel):
    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::Backup::BackupPlan"

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
    ) -> BackupPlan:
        from moto.backup.models import backup_backends

        p = cloudformation_json["Properties"]
        document = dict(p["BackupPlan"])
        document["Rules"] = [
            {k: v for k, v in rule.items() if k != "RuleName"} | {"RuleName": rule["RuleName"]}
            for rule in document.pop("BackupPlanRule", [])
        ]
        plan = backup_backends[account_id][region_name].create_backup_plan(
            backup_plan=document,
            backup_plan_tags=p.get("BackupPlanTags") or {},
            creator_request_id=resource_name,
        )
        return cls(
            plan.backup_plan_id,
            {"BackupPlanId": plan.backup_plan_id, "BackupPlanArn": plan.backup_plan_arn, "VersionId": plan.version_id},
        )


class BackupSelection(_Created, CloudFormationModel):
    """moto has no backup selections: the selection is kept here and listed by
    :func:`backup_selections` until the emulator grows the API (see the drills issue)."""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::Backup::BackupSelection"

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
    ) -> BackupSelection:
        p = cloudformation_json["Properties"]
        selection_id = f"selection-{abs(hash((resource_name, p['BackupPlanId']))) % 10**12:012d}"
        selections[(account_id, region_name)][selection_id] = {
            "BackupPlanId": p["BackupPlanId"],
            "SelectionId": selection_id,
            "BackupSelection": p["BackupSelection"],
        }
        return cls(selection_id, {"SelectionId": selection_id, "BackupPlanId": p["BackupPlanId"]})


selections: dict[tuple[str, str], dict[str, dict[str, Any]]] = defaultdict(dict)
access_policies: dict[tuple[str, str, str], Any] = {}

MODELS: tuple[type[CloudFormationModel], ...] = (
    ScalingPolicy,
    Alarm,
    Secret,
    SecretTargetAttachment,
    BucketPolicy,
    Certificate,
    NetworkAcl,
    NetworkAclEntry,
    SubnetNetworkAclAssociation,
    SecurityGroupEgress,
    EgressOnlyInternetGateway,
    BackupVault,
    BackupPlan,
    BackupSelection,
)


def register() -> None:
    """Make moto's CloudFormation parser see these models (its model map is cached)."""
    from moto.cloudformation import parsing

    for cache in (parsing.get_model_list, parsing.get_model_map, parsing.get_name_type_map):
        cache.cache_clear()
    missing = [m.cloudformation_type() for m in MODELS if m.cloudformation_type() not in parsing.get_model_map()]
    if missing:
        raise RuntimeError(f"moto did not pick up stackproof models for {', '.join(missing)}")
