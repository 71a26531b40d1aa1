"""Small, named transforms of the reference template, each breaking one promise.

A mutant takes the template as plain JSON data and changes it in place. The table in
``MUTANTS`` says which control must then stop passing and how (FAIL, or ERROR where the
template alone cannot decide).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stackproof.template.cfn_yaml import load_text

Template = dict[str, Any]


@dataclass(frozen=True)
class Mutant:
    name: str
    control: str
    expected: str
    change: Callable[[Template], None]

    def apply(self, reference: Path, directory: Path) -> Path:
        data: Template = json.loads(json.dumps(load_text(reference.read_text(encoding="utf-8"))))
        self.change(data)
        path = directory / f"{self.name}.json"
        path.write_text(json.dumps(data, indent=1), encoding="utf-8")
        return path


def props(t: Template, logical_id: str) -> dict[str, Any]:
    properties: dict[str, Any] = t["Resources"][logical_id]["Properties"]
    return properties


def add(t: Template, logical_id: str, resource_type: str, properties: dict[str, Any]) -> None:
    t["Resources"][logical_id] = {"Type": resource_type, "Properties": properties}


def ref(name: str) -> dict[str, str]:
    return {"Ref": name}


def get_att(name: str, attribute: str) -> dict[str, list[str]]:
    return {"Fn::GetAtt": [name, attribute]}


def user_data(t: Template) -> list[Any]:
    sub: list[Any] = props(t, "LaunchTemplate")["LaunchTemplateData"]["UserData"]["Fn::Base64"]["Fn::Sub"]
    return sub


def _set(path: list[str], value: Any) -> Callable[[Template], None]:
    def change(t: Template) -> None:
        node: Any = t["Resources"]
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = value

    return change


def _delete(*logical_ids: str) -> Callable[[Template], None]:
    def change(t: Template) -> None:
        for logical_id in logical_ids:
            del t["Resources"][logical_id]

    return change


def db_subnet_through_nat(t: Template) -> None:
    props(t, "IsolatedSubnetARouteTableAssociation")["RouteTableId"] = ref("PrivateRouteTable")


def isolated_ipv6_default_route(t: Template) -> None:
    add(t, "EgressOnlyGateway", "AWS::EC2::EgressOnlyInternetGateway", {"VpcId": ref("Vpc")})
    add(
        t,
        "IsolatedIpv6Route",
        "AWS::EC2::Route",
        {
            "RouteTableId": ref("IsolatedRouteTable"),
            "DestinationIpv6CidrBlock": "::/0",
            "EgressOnlyInternetGatewayId": ref("EgressOnlyGateway"),
        },
    )


def isolated_route_to_igw(t: Template) -> None:
    add(
        t,
        "IsolatedDefaultRoute",
        "AWS::EC2::Route",
        {
            "RouteTableId": ref("IsolatedRouteTable"),
            "DestinationCidrBlock": "0.0.0.0/0",
            "GatewayId": ref("InternetGateway"),
        },
    )


def database_open_to_vpc_range(t: Template) -> None:
    add(
        t,
        "DatabaseFromVpcIngress",
        "AWS::EC2::SecurityGroupIngress",
        {
            "GroupId": get_att("DatabaseSecurityGroup", "GroupId"),
            "IpProtocol": "tcp",
            "FromPort": 3306,
            "ToPort": 3306,
            "CidrIp": "10.0.0.0/16",
        },
    )


def ssh_opened_by_separate_ingress(t: Template) -> None:
    add(
        t,
        "AppSshIngress",
        "AWS::EC2::SecurityGroupIngress",
        {
            "GroupId": get_att("AppSecurityGroup", "GroupId"),
            "IpProtocol": "tcp",
            "FromPort": 22,
            "ToPort": 22,
            "CidrIp": "0.0.0.0/0",
        },
    )


def load_balancer_admits_8080(t: Template) -> None:
    props(t, "LoadBalancerSecurityGroup")["SecurityGroupIngress"].append(
        {"IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080, "CidrIp": "0.0.0.0/0"}
    )


def isolated_acl_admits_internet(t: Template) -> None:
    props(t, "IsolatedAclInFromVpc")["CidrBlock"] = "0.0.0.0/0"


def lambda_in_public_subnets(t: Template) -> None:
    props(t, "SyncFunction")["VpcConfig"]["SubnetIds"] = [ref("PublicSubnetA"), ref("PublicSubnetB")]


def http_listener_forwards(t: Template) -> None:
    props(t, "HttpListener")["DefaultActions"] = [{"Type": "forward", "TargetGroupArn": ref("TargetGroup")}]


def efs_mounted_without_tls(t: Template) -> None:
    sub = user_data(t)
    sub[0] = sub[0].replace("_netdev,noresvport,tls,iam", "_netdev,noresvport")


def multi_az_through_false_condition(t: Template) -> None:
    props(t, "Database")["MultiAZ"] = {"Fn::If": ["HasAlarmEmail", True, False]}


def multi_az_from_parameter_without_value(t: Template) -> None:
    t["Parameters"]["DatabaseMultiAz"] = {"Type": "String", "AllowedValues": ["true", "false"]}
    props(t, "Database")["MultiAZ"] = ref("DatabaseMultiAz")


def plaintext_password_parameter(t: Template) -> None:
    t["Parameters"]["DBPassword"] = {"Type": "String", "Default": "change-me-please"}
    props(t, "Database")["MasterUserPassword"] = ref("DBPassword")


def scale_in_at_80(t: Template) -> None:
    t["Parameters"]["ScaleInCpuThreshold"]["Default"] = 80


def thresholds_50_45(t: Template) -> None:
    """Both thresholds in order, but too close: one instance more drops CPU below the scale-in mark."""
    t["Parameters"]["ScaleOutCpuThreshold"]["Default"] = 50
    t["Parameters"]["ScaleInCpuThreshold"]["Default"] = 45


def sync_role_may_write_s3(t: Template) -> None:
    props(t, "SyncFunctionReadContentPolicy")["PolicyDocument"]["Statement"][0]["Action"].append("s3:PutObject")


def instance_role_admin(t: Template) -> None:
    props(t, "InstanceRole")["Policies"].append(
        {
            "PolicyName": "everything",
            "PolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
            },
        }
    )


def no_declared_quota_increase(t: Template) -> None:
    del t["Metadata"]["stackproof"]["quota_increases"]


def bigger_instances_than_declared(t: Template) -> None:
    t["Parameters"]["InstanceType"]["Default"] = "t3.xlarge"


def second_target_group(t: Template) -> None:
    add(
        t,
        "SecondTargetGroup",
        "AWS::ElasticLoadBalancingV2::TargetGroup",
        {"VpcId": ref("Vpc"), "Protocol": "HTTP", "Port": 80},
    )
    props(t, "AutoScalingGroup")["TargetGroupARNs"].append(ref("SecondTargetGroup"))


def drop_scale_in(t: Template) -> None:
    del t["Resources"]["ScaleInPolicy"]
    del t["Resources"]["CpuLowAlarm"]


def drop_themes_notification(t: Template) -> None:
    config = props(t, "ContentBucket")["NotificationConfiguration"]["LambdaConfigurations"]
    config[:] = [c for c in config if c["Filter"]["S3Key"]["Rules"][0]["Value"] != "themes/"]


def file_system_not_backed_up(t: Template) -> None:
    props(t, "BackupSelection")["BackupSelection"]["Resources"].pop(0)


def db_subnet_in_main_route_table(t: Template) -> None:
    del t["Resources"]["IsolatedSubnetBRouteTableAssociation"]


def one_mount_target(t: Template) -> None:
    del t["Resources"]["MountTargetB"]
    for resource in t["Resources"].values():
        if isinstance(resource.get("DependsOn"), list) and "MountTargetB" in resource["DependsOn"]:
            resource["DependsOn"].remove("MountTargetB")


def drop_ssm_core(t: Template) -> None:
    props(t, "InstanceRole")["ManagedPolicyArns"] = []


def _secret_parameter(t: Template, name: str = "DBPassword") -> None:
    """A vendor's password parameter: NoEcho, with a default so the stack deploys unattended."""
    t["Parameters"][name] = {"Type": "String", "NoEcho": True, "Default": "vendor-default-pw"}


def password_output_and_user_data(t: Template) -> None:
    """The vendor exports the database password and writes it into the instances' user data."""
    _secret_parameter(t)
    t["Outputs"]["DatabasePassword"] = {"Value": ref("DBPassword")}
    sub = user_data(t)
    sub[0] = sub[0].replace("set -euo pipefail\n", "set -euo pipefail\nexport PI_DB_PASSWORD='${DBPassword}'\n", 1)


def secret_value_tag(t: Template) -> None:
    """The database secret's value in a tag, through a dynamic reference built by Fn::Join."""
    value = {"Fn::Join": ["", ["{{resolve:secretsmanager:", ref("DatabaseSecret"), ":SecretString:password}}"]]}
    props(t, "ContentBucket").setdefault("Tags", []).append({"Key": "db", "Value": value})


def password_tag(t: Template) -> None:
    _secret_parameter(t, "AdminToken")
    props(t, "ContentBucket").setdefault("Tags", []).append({"Key": "admin", "Value": ref("AdminToken")})


def log_bucket_public_access_open(t: Template) -> None:
    del props(t, "LogBucket")["PublicAccessBlockConfiguration"]


def log_bucket_allows_http(t: Template) -> None:
    statements = props(t, "LogBucketPolicy")["PolicyDocument"]["Statement"]
    statements[:] = [s for s in statements if s.get("Sid") != "DenyInsecureTransport"]


def _instance_policy(t: Template, action: str, resource: Any = "*") -> None:
    props(t, "InstanceRole")["Policies"].append(
        {
            "PolicyName": "vendor-convenience",
            "PolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": action, "Resource": resource}],
            },
        }
    )


def instance_role_all_of_s3(t: Template) -> None:
    _instance_policy(t, "s3:*")


def managed_policy_all_of_efs(t: Template) -> None:
    add(
        t,
        "VendorFileSystemPolicy",
        "AWS::IAM::ManagedPolicy",
        {
            "Roles": [ref("InstanceRole")],
            "PolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": ["elasticfilesystem:*"], "Resource": "*"}],
            },
        },
    )


def vendor_user_all_of_s3(t: Template) -> None:
    """A vendor's upload user, its inline policy on every bucket of the account."""
    add(
        t,
        "VendorUploadUser",
        "AWS::IAM::User",
        {
            "Policies": [
                {
                    "PolicyName": "upload",
                    "PolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::*"}],
                    },
                }
            ]
        },
    )


def s3_full_access(t: Template) -> None:
    props(t, "InstanceRole")["ManagedPolicyArns"].append(
        {"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/AmazonS3FullAccess"}
    )


def parameters_over_200(t: Template) -> None:
    for n in range(201 - len(t["Parameters"])):
        t["Parameters"][f"Unused{n:03d}"] = {"Type": "String", "Default": "x"}


def outputs_over_200(t: Template) -> None:
    for n in range(201 - len(t["Outputs"])):
        t["Outputs"][f"VpcId{n:03d}"] = {"Value": ref("Vpc")}


def resources_over_500(t: Template) -> None:
    """501 topics nothing refers to: they stay together in whichever stack a split gives them,
    so that stack is over the limit in every form."""
    for n in range(501):
        add(t, f"VendorTopic{n:03d}", "AWS::SNS::Topic", {})


def template_body_over_1mb(t: Template) -> None:
    """Vendor notes in one resource's Metadata: the stack holding it is over the 1,000,000 bytes."""
    t["Resources"]["LaunchTemplate"]["Metadata"] = {"vendor-notes": "x" * 1_000_001}


M = Mutant
MUTANTS = [
    M(
        "isolated-subnet-b-in-zone-a",
        "NET-01",
        "FAIL",
        _set(["IsolatedSubnetB", "Properties", "AvailabilityZone"], {"Fn::Select": [0, {"Fn::GetAZs": ""}]}),
    ),
    M("db-subnet-through-nat", "NET-02", "FAIL", db_subnet_through_nat),
    M("db-subnet-ipv6-default-route", "NET-02", "FAIL", isolated_ipv6_default_route),
    M("db-subnet-route-to-igw", "NET-02", "FAIL", isolated_route_to_igw),
    M("db-subnet-main-route-table", "NET-02", "ERROR", db_subnet_in_main_route_table),
    M("db-publicly-accessible", "NET-03", "FAIL", _set(["Database", "Properties", "PubliclyAccessible"], True)),
    M("db-open-to-vpc-range", "NET-03", "FAIL", database_open_to_vpc_range),
    M(
        "app-in-public-subnets",
        "NET-04",
        "FAIL",
        _set(["AutoScalingGroup", "Properties", "VPCZoneIdentifier"], [ref("PublicSubnetA"), ref("PublicSubnetB")]),
    ),
    M(
        "private-subnet-public-ips",
        "NET-04",
        "FAIL",
        _set(["PrivateSubnetA", "Properties", "MapPublicIpOnLaunch"], True),
    ),
    M("ssh-by-separate-ingress", "NET-05", "FAIL", ssh_opened_by_separate_ingress),
    M("alb-admits-8080", "NET-05", "FAIL", load_balancer_admits_8080),
    M("isolated-subnet-default-acl", "NET-06", "FAIL", _delete("IsolatedSubnetANetworkAclAssociation")),
    M("isolated-acl-admits-internet", "NET-06", "FAIL", isolated_acl_admits_internet),
    M("lambda-in-public-subnets", "NET-07", "FAIL", lambda_in_public_subnets),
    M("https-listener-plain-http", "TLS-01", "FAIL", _set(["HttpsListener", "Properties", "Protocol"], "HTTP")),
    M(
        "iam-server-certificate",
        "TLS-01",
        "FAIL",
        _set(
            ["HttpsListener", "Properties", "Certificates"],
            [{"CertificateArn": "arn:aws:iam::123456789012:server-certificate/x"}],
        ),
    ),
    M("http-listener-forwards", "TLS-02", "FAIL", http_listener_forwards),
    M(
        "redirect-302",
        "TLS-02",
        "FAIL",
        _set(["HttpListener", "Properties", "DefaultActions", 0, "RedirectConfig", "StatusCode"], "HTTP_302"),
    ),  # type: ignore[list-item]
    M(
        "tls10-policy",
        "TLS-03",
        "FAIL",
        _set(["HttpsListener", "Properties", "SslPolicy"], "ELBSecurityPolicy-2016-08"),
    ),
    M(
        "mariadb-plaintext-allowed",
        "TLS-04",
        "FAIL",
        _set(["DatabaseParameterGroup", "Properties", "Parameters", "require_secure_transport"], "0"),
    ),
    M("efs-mount-without-tls", "TLS-04", "FAIL", efs_mounted_without_tls),
    M("content-bucket-allows-http", "TLS-04", "FAIL", _delete("ContentBucketPolicy")),
    M("scale-out-at-75", "SCL-01", "FAIL", _set(["CpuHighAlarm", "Properties", "Threshold"], 75)),
    M(
        "scale-out-greater-than",
        "SCL-01",
        "FAIL",
        _set(["CpuHighAlarm", "Properties", "ComparisonOperator"], "GreaterThanThreshold"),
    ),
    M("max-size-10", "SCL-02", "FAIL", _set(["AutoScalingGroup", "Properties", "MaxSize"], 10)),
    M("no-scale-in-policy", "SCL-03", "FAIL", drop_scale_in),
    M("two-target-groups", "SCL-04", "FAIL", second_target_group),
    M("ec2-health-checks", "SCL-04", "FAIL", _set(["AutoScalingGroup", "Properties", "HealthCheckType"], "EC2")),
    M("scale-in-above-scale-out", "SCL-05", "FAIL", scale_in_at_80),
    M("thresholds-50-45-flap", "SCL-05", "FAIL", thresholds_50_45),
    M("undeclared-vcpu-increase", "QTA-01", "FAIL", no_declared_quota_increase),
    M("instances-bigger-than-declared", "QTA-01", "FAIL", bigger_instances_than_declared),
    M("sync-timeout-1000", "QTA-03", "FAIL", _set(["SyncFunction", "Properties", "Timeout"], 1000)),
    M("sync-storage-1024", "QTA-03", "FAIL", _set(["SyncFunction", "Properties", "EphemeralStorage"], {"Size": 1024})),
    M("single-az-database", "DAT-01", "FAIL", _set(["Database", "Properties", "MultiAZ"], False)),
    M("multi-az-if-false-condition", "DAT-01", "FAIL", multi_az_through_false_condition),
    M("multi-az-from-unset-parameter", "DAT-01", "ERROR", multi_az_from_parameter_without_value),
    M(
        "db-deletion-policy-delete",
        "DAT-02",
        "FAIL",
        lambda t: t["Resources"]["Database"].update(DeletionPolicy="Delete"),
    ),
    M("db-backups-3-days", "DAT-02", "FAIL", _set(["Database", "Properties", "BackupRetentionPeriod"], 3)),
    M("plaintext-db-password", "DAT-03", "FAIL", plaintext_password_parameter),
    M("efs-unencrypted", "DAT-04", "FAIL", _set(["FileSystem", "Properties", "Encrypted"], False)),
    M("efs-one-mount-target", "DAT-04", "FAIL", one_mount_target),
    M("efs-not-backed-up", "DAT-04", "FAIL", file_system_not_backed_up),
    M(
        "content-versioning-suspended",
        "DAT-05",
        "FAIL",
        _set(["ContentBucket", "Properties", "VersioningConfiguration"], {"Status": "Suspended"}),
    ),
    M("no-themes-notification", "DAT-05", "FAIL", drop_themes_notification),
    M("sync-role-writes-s3", "DAT-06", "FAIL", sync_role_may_write_s3),
    M("sync-in-public-subnets", "DAT-06", "FAIL", lambda_in_public_subnets),
    M("no-ssm-core", "IAM-01", "FAIL", drop_ssm_core),
    M("key-pair", "IAM-01", "FAIL", _set(["LaunchTemplate", "Properties", "LaunchTemplateData", "KeyName"], "admin")),
    M(
        "imdsv1-allowed",
        "IAM-02",
        "FAIL",
        _set(["LaunchTemplate", "Properties", "LaunchTemplateData", "MetadataOptions", "HttpTokens"], "optional"),
    ),
    M(
        "unencrypted-root",
        "IAM-02",
        "FAIL",
        _set(
            ["LaunchTemplate", "Properties", "LaunchTemplateData", "BlockDeviceMappings", 0, "Ebs", "Encrypted"], False
        ),
    ),  # type: ignore[list-item]
    M("admin-inline-policy", "IAM-03", "FAIL", instance_role_admin),
    M("password-output-and-user-data", "DAT-07", "FAIL", password_output_and_user_data),
    M("secret-value-tag", "DAT-07", "FAIL", secret_value_tag),
    M("password-tag", "DAT-07", "FAIL", password_tag),
    M("log-bucket-public-access-open", "DAT-08", "FAIL", log_bucket_public_access_open),
    M("log-bucket-allows-http", "DAT-08", "FAIL", log_bucket_allows_http),
    M("log-bucket-unencrypted", "DAT-08", "FAIL", lambda t: props(t, "LogBucket").pop("BucketEncryption")),
    M("instance-role-all-of-s3", "IAM-04", "FAIL", instance_role_all_of_s3),
    M("managed-policy-all-of-efs", "IAM-04", "FAIL", managed_policy_all_of_efs),
    M("s3-full-access", "IAM-04", "FAIL", s3_full_access),
    M("vendor-user-all-of-s3", "IAM-04", "FAIL", vendor_user_all_of_s3),
    M("resources-over-500", "QTA-04", "FAIL", resources_over_500),
    M("template-body-over-1mb", "QTA-04", "FAIL", template_body_over_1mb),
    M("app-logs-forever", "OBS-01", "FAIL", lambda t: props(t, "AppLogGroup").pop("RetentionInDays")),
    M("no-rds-log-exports", "OBS-01", "FAIL", lambda t: props(t, "Database").pop("EnableCloudwatchLogsExports")),
    # A part the system requires, absent: DEP-02 reports it once; SCL-01/03/05 point at it (SKIP).
    M(
        "no-scaling-policies",
        "DEP-02",
        "FAIL",
        _delete("ScaleOutPolicy", "ScaleInPolicy", "CpuHighAlarm", "CpuLowAlarm"),
    ),
]


ANALYTICS = Path(__file__).resolve().parents[1] / "reference" / "cloudformation" / "analytics.yaml"


def console_http_forwards(t: Template) -> None:
    props(t, "ConsoleHttpListener")["DefaultActions"] = [
        {"Type": "forward", "TargetGroupArn": ref("FrontendTargetGroup")}
    ]


def device_listener_plain_tcp(t: Template) -> None:
    listener = props(t, "DeviceTlsListener")
    listener["Protocol"] = "TCP"
    del listener["Certificates"], listener["SslPolicy"]


def redshift_in_private_subnets(t: Template) -> None:
    props(t, "AnalyticsDatabaseSubnetGroup")["SubnetIds"] = [ref("PrivateSubnetA"), ref("PrivateSubnetB")]


def app_database_unencrypted(t: Template) -> None:
    database = props(t, "AppDatabase")
    database["StorageEncrypted"] = False
    del database["KmsKeyId"], database["PerformanceInsightsKMSKeyId"]


def image_from_docker_hub(t: Template) -> None:
    props(t, "FrontendTaskDefinition")["ContainerDefinitions"][0]["Image"] = "docker.io/library/nginx:latest"


ANALYTICS_MUTANTS = [
    M("console-http-forwards-to-frontend", "ANL-01", "FAIL", console_http_forwards),
    M(
        "frontend-tasks-public-ip",
        "ANL-01",
        "FAIL",
        _set(
            ["FrontendService", "Properties", "NetworkConfiguration", "AwsvpcConfiguration", "AssignPublicIp"],
            "ENABLED",
        ),
    ),
    M("device-listener-plain-tcp", "ANL-02", "FAIL", device_listener_plain_tcp),
    M("device-listener-plain-tcp-tls01", "TLS-01", "FAIL", device_listener_plain_tcp),
    M(
        "config-requests-not-routed",
        "ANL-02",
        "FAIL",
        _set(
            ["RemoteConfigRule", "Properties", "Conditions"],
            [{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/admin/*"]}}],
        ),
    ),
    M("redshift-public", "ANL-03", "FAIL", _set(["AnalyticsDatabase", "Properties", "PubliclyAccessible"], True)),
    M("redshift-in-private-subnets", "ANL-03", "FAIL", redshift_in_private_subnets),
    M("redshift-in-private-subnets-net02", "NET-02", "FAIL", redshift_in_private_subnets),
    M("app-database-unencrypted", "ANL-03", "FAIL", app_database_unencrypted),
    M("image-from-docker-hub", "ANL-04", "FAIL", image_from_docker_hub),
    M(
        "mutable-image-tags",
        "ANL-04",
        "FAIL",
        _set(["FrontendRepository", "Properties", "ImageTagMutability"], "MUTABLE"),
    ),
]
