"""DAT: data protection (seed 002)."""

from __future__ import annotations

import pytest

from stackproof.checking import findings, known, optional, subjects
from stackproof.domain import policy
from stackproof.model.deployment import PRIVATE, Deployment
from stackproof.model.documents import as_list, denies_insecure_transport, statements
from stackproof.model.types import (
    AccessPoint,
    AutoScalingGroup,
    BackupSelection,
    Bucket,
    DbInstance,
    FileSystem,
    Function,
    MountTarget,
    PolicyDocument,
    Role,
    SecretSurface,
    Subnet,
)
from stackproof.template.values import FromParameter, Symbolic

SECRET_WORDS = ("password", "passwd", "secret")
REFERENCE_SUFFIXES = ("arn", "id", "name")  # DBSecretArn names a secret; it is not one


@pytest.mark.control("DAT-01")
@pytest.mark.static
def test_database_is_multi_az(deployment: Deployment) -> None:
    with findings() as f:
        for db in subjects(deployment.all(DbInstance), "RDS database"):
            if known(db.multi_az, f"MultiAZ of {db}") is not True:
                f.fail("database is not Multi-AZ", db, observed=db.multi_az, expected=True)


@pytest.mark.control("DAT-02")
@pytest.mark.static
def test_database_storage_backups_and_snapshots(deployment: Deployment) -> None:
    minimum = policy.load()["data"]["min_backup_retention_days"]
    with findings() as f:
        for db in subjects(deployment.all(DbInstance), "RDS database"):
            if known(db.storage_encrypted, f"StorageEncrypted of {db}") is not True:
                f.fail("storage is not encrypted", db, observed=db.storage_encrypted, expected=True)
            retention = known(db.backup_retention, f"BackupRetentionPeriod of {db}")
            if int(retention) < minimum:
                f.fail("automated backups are kept too briefly", db, observed=retention, expected=f">= {minimum}")
            if known(db.deletion_protection, f"DeletionProtection of {db}") is not True:
                f.fail("deletion protection is off", db, observed=db.deletion_protection, expected=True)
            for what, value in (
                ("DeletionPolicy", db.deletion_policy),
                ("UpdateReplacePolicy", db.update_replace_policy),
            ):
                if known(value, f"{what} of {db}") != "Snapshot":
                    f.fail(f"{what} does not keep a snapshot", db, observed=value, expected="Snapshot")
            if known(db.copy_tags_to_snapshot, f"CopyTagsToSnapshot of {db}") is not True:
                f.fail("tags are not copied to snapshots", db, observed=db.copy_tags_to_snapshot, expected=True)


@pytest.mark.control("DAT-03")
@pytest.mark.static
def test_database_credentials_live_in_secrets_manager(deployment: Deployment) -> None:
    with findings() as f:
        for db in subjects(deployment.all(DbInstance), "RDS database"):
            password = db.master_password
            if known(db.manage_master_password, f"ManageMasterUserPassword of {db}") is True:
                continue
            if isinstance(password, FromParameter):
                f.fail("master password comes from a template parameter", db, observed=f"Ref {password.parameter}")
            elif not (isinstance(password, Symbolic) and password.secret):
                f.fail("master password is not a Secrets Manager reference", db, observed="a literal or other value")
        for parameter in optional(deployment.parameters, "only parameters that name a password are judged"):
            lowered = parameter.name.lower()
            if any(w in lowered for w in SECRET_WORDS) and not lowered.endswith(REFERENCE_SUFFIXES):
                if parameter.has_default:
                    f.fail(f"parameter {parameter.name} has a default secret value", parameter.location)
                if not parameter.no_echo:
                    f.fail(f"parameter {parameter.name} is not NoEcho", parameter.location)
        booting = "the database is the subject; the instances that read its secret are judged where they are"
        for role in optional(deployment.instance_roles(), booting):
            readable: set[str] = set()
            for policy_doc in role.policies:
                for statement in statements(known(policy_doc.document, f"{policy_doc.name} of {role}")):
                    actions = as_list(statement.get("Action"))
                    if statement.get("Effect") == "Allow" and "secretsmanager:GetSecretValue" in actions:
                        resources = as_list(statement.get("Resource"))
                        readable |= deployment.refs(resources) | {str(r) for r in resources if not deployment.refs(r)}
            if not readable:
                f.fail("the instance role cannot read the database secret", role)
            elif "*" in readable:
                f.fail("the instance role can read every secret", role, observed="*", expected="the database secret")
        for group in optional(deployment.all(AutoScalingGroup), booting):
            template = deployment.launch_template_of(group)
            user_data = str(known(template.user_data, f"user data of {template}")) if template else ""
            if "get-secret-value" not in user_data and "GetSecretValue" not in user_data:
                f.fail("instances do not read the secret at boot (user data)", *([template] if template else [group]))


def app_subnets(deployment: Deployment) -> list[Subnet]:
    return [
        s
        for g in deployment.all(AutoScalingGroup)
        for k in known(g.subnets, f"subnets of {g}")
        if (s := deployment.get(Subnet, k)) is not None
    ]


def backed_up(deployment: Deployment, fs: FileSystem) -> bool:
    for selection in optional(deployment.all(BackupSelection), "a lookup: no selection means not backed up"):
        for resource in known(selection.resources, f"resources of {selection}"):
            if fs.key in deployment.refs(resource) or (isinstance(resource, str) and fs.key in resource):
                return True
    return False


@pytest.mark.control("DAT-04")
@pytest.mark.static
def test_file_system_encrypted_mounted_per_zone_guarded_and_backed_up(deployment: Deployment) -> None:
    with findings() as f:
        allowed = {
            str(g)
            for a in deployment.all(AutoScalingGroup)
            if (t := deployment.launch_template_of(a))
            for g in t.security_groups
        }
        allowed |= {str(g) for fn in deployment.all(Function) for g in fn.security_groups}
        zones = {known(s.az, f"zone of {s}"): s for s in app_subnets(deployment)}
        for fs in subjects(deployment.all(FileSystem), "EFS file system"):
            if known(fs.encrypted, f"Encrypted of {fs}") is not True:
                f.fail("file system is not encrypted at rest", fs, observed=fs.encrypted, expected=True)
            targets = [t for t in deployment.all(MountTarget) if t.file_system == fs.key]
            covered = set()
            for target in targets:
                subnet = deployment.get(Subnet, target.subnet)
                if subnet is not None and subnet in zones.values():
                    covered.add(known(subnet.az, f"zone of {subnet}"))
                own = deployment.security_groups(known(target.security_groups, f"groups of {target}"))
                for group in optional(own, "a mount target's groups outside this deployment admit nothing here"):
                    for rule in group.ingress():
                        source = known(rule.peer_group, f"source of a rule of {group}")
                        if rule.cidr or rule.cidr_ipv6 or source not in allowed:
                            f.fail(
                                "mount target admits NFS from outside the application and sync-function groups",
                                group,
                                observed=rule.cidr or rule.cidr_ipv6 or source,
                                expected=sorted(allowed),
                            )
            missing = sorted(set(zones) - covered)
            if missing:
                f.fail("no mount target in the application subnets of some zones", fs, observed=missing)
            if not backed_up(deployment, fs):
                f.fail("file system is not covered by an AWS Backup selection", fs)


def content_buckets(deployment: Deployment) -> list[Bucket]:
    return [b for b in deployment.all(Bucket) if any(deployment.get(Function, n.function) for n in b.notifications)]


@pytest.mark.control("DAT-05")
@pytest.mark.static
def test_content_bucket_private_encrypted_versioned_and_notifying(deployment: Deployment) -> None:
    prefixes = policy.load()["data"]["sync_prefixes"]
    with findings() as f:
        buckets = subjects(
            content_buckets(deployment), "content bucket", "no bucket notifies a function of new objects"
        )
        for bucket in buckets:
            block = known(bucket.public_access_block, f"public access block of {bucket}")
            for setting in ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"):
                if block.get(setting) is not True:
                    f.fail(f"{setting} is not on", bucket, observed=block.get(setting), expected=True)
            if not known(bucket.encryption, f"encryption of {bucket}"):
                f.fail("default encryption is not configured", bucket)
            if known(bucket.versioning, f"versioning of {bucket}") != "Enabled":
                f.fail("versioning is not enabled", bucket, observed=bucket.versioning, expected="Enabled")
            for prefix in prefixes:
                hits = [
                    n
                    for n in bucket.notifications
                    if str(known(n.event, f"{bucket}")).startswith("s3:ObjectCreated:") and n.prefix == prefix
                ]
                if not hits:
                    f.fail(f"no object-created notification for {prefix}", bucket)


def sync_functions(deployment: Deployment) -> list[tuple[Function, list[Bucket]]]:
    result = []
    for function in optional(deployment.all(Function), "a lookup: DAT-06 requires what it finds"):
        sources = [
            b
            for b in content_buckets(deployment)
            if any(deployment.resolve_key(n.function) == function.key for n in b.notifications)
        ]
        if sources:
            result.append((function, sources))
    return result


S3_READ = ("s3:GetObject", "s3:GetObjectVersion", "s3:ListBucket", "s3:GetObjectTagging")
EFS_WRITE = ("elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite")
LAMBDA_MANAGED = (
    "service-role/AWSLambdaVPCAccessExecutionRole",
    "service-role/AWSLambdaBasicExecutionRole",
    "AWSXRayDaemonWriteAccess",
)


@pytest.mark.control("DAT-06")
@pytest.mark.static
def test_sync_function_private_via_access_point_least_privilege(deployment: Deployment) -> None:
    with findings() as f:
        pairs = subjects(sync_functions(deployment), "sync function", "no function is notified by the content bucket")
        for function, buckets in pairs:
            for subnet_key in known(function.subnets, f"subnets of {function}") or ["none"]:
                subnet = deployment.get(Subnet, subnet_key)
                if subnet is None or known(deployment.tier_of(subnet), f"tier of {subnet}") != PRIVATE:
                    f.fail("function does not run in the private subnets", function, observed=subnet_key)
            points = [deployment.get(AccessPoint, k) for k in known(function.file_systems, f"{function}")]
            access_points = {p.key for p in points if p is not None}
            if not points or None in points:
                f.fail("function does not mount EFS through an access point of this deployment", function)
            role = deployment.get(Role, function.role)
            if role is None:
                f.fail("function role is not part of this deployment", function)
                continue
            for arn in known(role.managed_policies, f"managed policies of {role}"):
                if not any(str(arn).endswith(f":policy/{name}") for name in LAMBDA_MANAGED):
                    f.fail("function role carries a managed policy beyond Lambda's basics", role, observed=str(arn))
            bucket_keys = {b.key for b in buckets}
            for policy_doc in role.policies:
                for statement in statements(known(policy_doc.document, f"{policy_doc.name} of {role}")):
                    if statement.get("Effect") != "Allow":
                        continue
                    actions = [str(a) for a in as_list(statement.get("Action"))]
                    resources = statement.get("Resource")
                    for action in actions:
                        service = action.split(":", 1)[0]
                        if action == "*" or action.endswith(":*"):
                            f.fail(f"function role allows {action}", role, observed=action)
                        elif service == "s3":
                            if action not in S3_READ:
                                f.fail("function role may write to S3", role, observed=action, expected=S3_READ)
                            elif not deployment.refs(resources) or not deployment.refs(resources) <= bucket_keys:
                                f.fail("function role reads S3 beyond the content bucket", role, observed=resources)
                        elif service == "elasticfilesystem" and action in EFS_WRITE:
                            condition = (statement.get("Condition") or {}).get("StringEquals") or {}
                            point = condition.get("elasticfilesystem:AccessPointArn")
                            if not deployment.refs(point) & access_points:
                                f.fail("function role may write EFS other than through its access point", role)


@pytest.mark.control("DAT-07")
@pytest.mark.static
def test_secrets_never_reach_outputs_user_data_tags_or_defaults(deployment: Deployment) -> None:
    """Anyone who may describe the stack, its launch templates or its resources' tags reads
    these places; a secret there is out of Secrets Manager's keeping. The evidence names the
    secret's source, never its value."""
    with findings() as f:
        for surface in subjects(deployment.all(SecretSurface), "output, user data or tag"):
            with f.each(surface):
                for secret in known(surface.carries, f"what {surface.surface} {surface.name} carries"):
                    f.fail(f"{secret} reaches {surface.surface} {surface.name}", surface)


PUBLIC_ACCESS_FLAGS = ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets")


def bucket_policies(deployment: Deployment) -> dict[str, list[PolicyDocument]]:
    """Each bucket's policies, by the key the policy names it with."""
    found: dict[str, list[PolicyDocument]] = {}
    for document in optional(deployment.policies, "a lookup: a bucket without a policy is judged by the caller"):
        if document.kind == "resource":
            for attached in document.attached_to:
                found.setdefault(str(deployment.resolve_key(attached)), []).append(document)
    return found


@pytest.mark.control("DAT-08")
@pytest.mark.static
def test_every_bucket_private_encrypted_and_tls_only(deployment: Deployment) -> None:
    with findings() as f:
        buckets = subjects(deployment.all(Bucket), "S3 bucket")
        policies = bucket_policies(deployment)
        for bucket in buckets:
            with f.each(bucket):
                block = known(bucket.public_access_block, f"public access block of {bucket}")
                off = [flag for flag in PUBLIC_ACCESS_FLAGS if str(block.get(flag)).lower() != "true"]
                if off:
                    f.fail("bucket does not block all public access", bucket, observed=off, expected="all four on")
                if not known(bucket.encryption, f"encryption of {bucket}"):
                    f.fail("bucket declares no default encryption", bucket)
                documents = policies.get(bucket.key, [])
                if not any(denies_insecure_transport(d.document, f"policy {d.name} of {bucket}") for d in documents):
                    f.fail("no bucket policy denies requests without TLS (aws:SecureTransport false)", bucket)
