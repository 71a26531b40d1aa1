"""The IAM actions behind the API calls a run records, for the least-privilege policies:
``reference/iam/stackproof-readonly.json`` (the aws target's reads) and
``reference/iam/stackproof-drills.json`` (what the drills do to a live stack).

botocore names calls ``service.Operation`` by its service id; IAM names actions by the
service prefix and, for a few S3 calls, by a different action name. A few calls need a second
action besides their own (the "Dependent actions" of the AWS Service Authorization Reference):
:func:`actions_for` names them all.
"""

from __future__ import annotations

import fnmatch
import json
from pathlib import Path
from typing import Any

from stackproof.targets.aws_calls import READ_ONLY

PREFIXES = {
    "elastic-load-balancing-v2": "elasticloadbalancing",
    "auto-scaling": "autoscaling",
    "cloudwatch-logs": "logs",
    "efs": "elasticfilesystem",
    "service-quotas": "servicequotas",
    "secrets-manager": "secretsmanager",
}
# S3 operations whose IAM action has another name (Service Authorization Reference, Amazon S3:
# the API operations table maps each operation to the action that authorizes it).
S3_ACTIONS = {
    "GetPublicAccessBlock": "GetBucketPublicAccessBlock",
    "GetBucketEncryption": "GetEncryptionConfiguration",
    "GetBucketNotificationConfiguration": "GetBucketNotification",
    "ListBuckets": "ListAllMyBuckets",
    "ListObjectsV2": "ListBucket",
    "ListObjectVersions": "ListBucketVersions",
}
# Actions a call needs besides its own, as the calls stackproof makes use them (Service
# Authorization Reference, "Dependent actions"; Amazon S3 "DeleteObject" with a versionId).
ALSO_NEEDS: dict[str, tuple[str, ...]] = {
    "backup.StartBackupJob": ("iam:PassRole",),  # IamRoleArn: the stack's backup role
    "backup.StartRestoreJob": ("iam:PassRole",),
    "s3.DeleteObject": ("s3:DeleteObjectVersion",),  # the drills delete canaries by VersionId
    "fis.CreateExperimentTemplate": ("iam:PassRole", "fis:TagResource"),  # roleArn (--fis-role-arn), tags
    "fis.StartExperiment": ("fis:TagResource",),  # the run's tag on the experiment
    "cloudwatch.PutMetricAlarm": ("cloudwatch:TagResource",),  # the stop alarm carries the run's tag
}
# What the drills policy scopes by the stack's tag: actions whose resource type takes the
# aws:ResourceTag/${TagKey} condition key (Service Authorization Reference, Resource types tables)
# and that the drills use only on resources CloudFormation made, and tagged, for the stack. Others
# take the key too (rds:ModifyDBInstance, rds:DeleteDBInstance, elasticfilesystem:DeleteFileSystem)
# but also act on what a drill creates, which cannot carry an aws:-prefixed tag: their own statement.
RESOURCE_TAG_SCOPABLE = frozenset(
    {
        "autoscaling:SetDesiredCapacity",  # autoScalingGroup
        "autoscaling:TerminateInstanceInAutoScalingGroup",  # autoScalingGroup
        "backup:PutBackupVaultAccessPolicy",  # backupVault
        "backup:StartBackupJob",  # backupVault
        "ec2:TerminateInstances",  # instance
        "rds:RebootDBInstance",  # db
        "secretsmanager:GetSecretValue",  # Secret
        "ssm:SendCommand",  # instance (its document, untagged, in a statement of its own)
    }
)


def action_for(call: str) -> str:
    """The IAM action that authorizes ``call`` (``service.Operation`` as the recorder names it)."""
    service, operation = call.split(".", 1)
    prefix = PREFIXES.get(service, service)
    if prefix == "s3":
        operation = S3_ACTIONS.get(operation, operation)
    return f"{prefix}:{operation}"


def actions_for(call: str) -> tuple[str, ...]:
    """Every action ``call`` needs: its own and those it depends on (:data:`ALSO_NEEDS`)."""
    return (action_for(call), *ALSO_NEEDS.get(call, ()))


def allowed_actions(policy_path: Path) -> list[str]:
    document: dict[str, Any] = json.loads(policy_path.read_text(encoding="utf-8"))
    actions: list[str] = []
    for statement in document["Statement"]:
        if statement.get("Effect") == "Allow":
            listed = statement["Action"]
            actions += [listed] if isinstance(listed, str) else list(listed)
    return actions


# Actions no policy can deny and none needs to grant: the aws target's GetCallerIdentity (the
# account the banner and report name) works for any credentials.
ALWAYS_ALLOWED = frozenset({"sts:GetCallerIdentity"})


def is_allowed(action: str, allowed: list[str]) -> bool:
    return action in ALWAYS_ALLOWED or any(fnmatch.fnmatchcase(action.lower(), pattern.lower()) for pattern in allowed)


def non_read(allowed: list[str]) -> list[str]:
    """Actions (or patterns) in the policy that are not reads."""
    return [a for a in allowed if a == "*" or not READ_ONLY.match(a.split(":", 1)[-1])]
