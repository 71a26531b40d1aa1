"""The reference deploys into moto through CloudFormation with its default parameters.

moto reports CREATE_COMPLETE even for types it cannot model; with stackproof's emulator
extension no type may be skipped. What was created is printed at the end of the run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from stackproof.build.lambda_zip import build_zip
from stackproof.targets import deploy
from tests.conftest import REGION, ROOT, TEMPLATE, deploy_summaries

pytestmark = pytest.mark.moto

CODE_BUCKET = "stackproof-code-test"
CODE_KEY = "s3_to_efs.zip"

# moto 5.2.5 alone skips 12 of the template's types; stackproof.emulator.moto_models
# provides them, so nothing may be skipped. These are created but get no physical ID from
# moto (their effect is visible on the resources they change).
WITHOUT_PHYSICAL_ID = {
    "AppFromLoadBalancerIngress": "AWS::EC2::SecurityGroupIngress",
    "DatabaseFromAppIngress": "AWS::EC2::SecurityGroupIngress",
    "FileSystemFromAppIngress": "AWS::EC2::SecurityGroupIngress",
    "FileSystemFromSyncFunctionIngress": "AWS::EC2::SecurityGroupIngress",
    "SyncFunctionInvokePermission": "AWS::Lambda::Permission",
}


def _prerequisites(tmp_path: Path) -> dict[str, str]:
    import boto3

    zip_path = build_zip(ROOT / "reference" / "lambda" / "s3_to_efs", tmp_path / CODE_KEY)
    deploy.upload_code(boto3.client("s3", region_name=REGION), CODE_BUCKET, CODE_KEY, zip_path, REGION)
    certificate = deploy.create_certificate(boto3.client("acm", region_name=REGION), "dashboard.example.com")
    return {"CertificateArn": certificate, "SyncFunctionCodeBucket": CODE_BUCKET}


def create(parameters: dict[str, str], name: str) -> deploy.DeployResult:
    """Create the stack; the template is over the 51,200-byte inline limit, so it is staged in S3."""
    import boto3

    return deploy.create_stack(
        boto3.client("cloudformation", region_name=REGION),
        name,
        TEMPLATE,
        parameters,
        s3=boto3.client("s3", region_name=REGION),
        staging_bucket=CODE_BUCKET,
    )


def _record(request: pytest.FixtureRequest, title: str, result: deploy.DeployResult) -> None:
    request.config.stash[deploy_summaries].append(f"{title}\n{result.summary()}")


def test_reference_reaches_create_complete_with_default_parameters(
    moto_aws: None, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    import boto3

    parameters = _prerequisites(tmp_path)
    result = create(parameters, "dashboard")
    _record(request, "moto, default parameters", result)

    assert result.status == "CREATE_COMPLETE"
    assert result.skipped_types == []
    assert result.without_physical_id == WITHOUT_PHYSICAL_ID
    for core in (
        "Vpc",
        "LoadBalancer",
        "HttpsListener",
        "AutoScalingGroup",
        "Database",
        "FileSystem",
        "SyncFunction",
        "ContentBucket",
        "LaunchTemplate",
        "NatGateway",
        "DataKey",
    ):
        assert result.created.get(core), f"{core} was not created with a physical ID"

    rds = boto3.client("rds", region_name=REGION)
    (db,) = rds.describe_db_instances()["DBInstances"]
    assert (db["Engine"], db["EngineVersion"], db["MultiAZ"], db["PubliclyAccessible"]) == (
        "mariadb",
        "10.11.14",
        True,
        False,
    )
    listeners = boto3.client("elbv2", region_name=REGION).describe_listeners(
        LoadBalancerArn=result.created["LoadBalancer"]
    )["Listeners"]
    assert sorted((x["Port"], x["Protocol"]) for x in listeners) == [(80, "HTTP"), (443, "HTTPS")]
    assert {x["Certificates"][0]["CertificateArn"] for x in listeners if x["Port"] == 443} == {
        parameters["CertificateArn"]
    }


def _existing_database_and_file_system() -> dict[str, str]:
    import boto3

    efs = boto3.client("efs", region_name=REGION)
    file_system = efs.create_file_system(CreationToken="restored", Encrypted=True)["FileSystemId"]
    secret = boto3.client("secretsmanager", region_name=REGION).create_secret(
        Name="restored-db", SecretString='{"username": "dashboard", "password": "not-a-real-one"}'
    )["ARN"]
    return {
        "DBHost": "restored.abcdefgh.eu-west-1.rds.amazonaws.com",
        "DBPort": "3306",
        "DBSecretArn": secret,
        "EfsFileSystemId": file_system,
    }


def test_restore_switches_use_the_given_database_and_file_system(
    moto_aws: None, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    import boto3

    restored = _existing_database_and_file_system()
    parameters = {**_prerequisites(tmp_path), **restored}
    cloudformation = boto3.client("cloudformation", region_name=REGION)
    result = create(parameters, "restored")
    _record(request, "moto, restore switches set", result)

    assert result.status == "CREATE_COMPLETE"
    assert result.skipped_types == []
    for absent in ("Database", "DatabaseSecret", "DatabaseSecretAttachment", "FileSystem"):
        assert absent not in result.expected
        assert absent not in result.created
    assert boto3.client("rds", region_name=REGION).describe_db_instances()["DBInstances"] == []
    targets = boto3.client("efs", region_name=REGION).describe_mount_targets(FileSystemId=restored["EfsFileSystemId"])[
        "MountTargets"
    ]
    assert len(targets) == 2
    outputs: dict[str, Any] = {
        o["OutputKey"]: o["OutputValue"]
        for o in cloudformation.describe_stacks(StackName="restored")["Stacks"][0]["Outputs"]
    }
    assert outputs["DatabaseEndpoint"] == restored["DBHost"]
    assert outputs["FileSystemId"] == restored["EfsFileSystemId"]
    assert outputs["DatabaseSecretArn"] == restored["DBSecretArn"]


def test_extension_resources_are_visible_through_the_describe_apis(
    moto_aws: None, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    import json

    import boto3

    result = create(_prerequisites(tmp_path), "dashboard")
    group = result.created["AutoScalingGroup"]
    policies = boto3.client("autoscaling", region_name=REGION).describe_policies(AutoScalingGroupName=group)
    steps = sorted(s["ScalingAdjustment"] for p in policies["ScalingPolicies"] for s in p["StepAdjustments"])
    assert steps == [-1, 1]
    alarms = boto3.client("cloudwatch", region_name=REGION).describe_alarms()["MetricAlarms"]
    assert sorted((a["ComparisonOperator"], a["Threshold"]) for a in alarms) == [
        ("GreaterThanOrEqualToThreshold", 70.0),
        ("LessThanThreshold", 20.0),
    ]
    assert all(a["Dimensions"] == [{"Name": "AutoScalingGroupName", "Value": group}] for a in alarms)
    ec2 = boto3.client("ec2", region_name=REGION)
    acls = ec2.describe_network_acls(Filters=[{"Name": "vpc-id", "Values": [result.created["Vpc"]]}])["NetworkAcls"]
    isolated = next(a for a in acls if a["NetworkAclId"] == result.created["IsolatedNetworkAcl"])
    assert {x["SubnetId"] for x in isolated["Associations"]} == {
        result.created["IsolatedSubnetA"],
        result.created["IsolatedSubnetB"],
    }
    policy = boto3.client("s3", region_name=REGION).get_bucket_policy(Bucket=result.created["ContentBucket"])
    assert json.loads(policy["Policy"])["Statement"][0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    secret = boto3.client("secretsmanager", region_name=REGION).get_secret_value(
        SecretId=result.created["DatabaseSecret"]
    )
    document = json.loads(secret["SecretString"])
    assert document["username"] == "dashboard"
    assert len(document["password"]) == 32
    assert document["host"].startswith(result.created["Database"])
    backup = boto3.client("backup", region_name=REGION)
    assert [v["BackupVaultName"] for v in backup.list_backup_vaults()["BackupVaultList"]] == ["dashboard-dashboard"]
    assert len(backup.list_backup_plans()["BackupPlansList"]) == 1
