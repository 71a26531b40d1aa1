"""The IAM actions behind the API calls a run records, for the least-privilege policy.

botocore names calls ``service.Operation`` by its service id; IAM names actions by the
service prefix and, for a few S3 calls, by a different action name.
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
}
# S3 operations whose IAM action has another name.
S3_ACTIONS = {
    "GetPublicAccessBlock": "GetBucketPublicAccessBlock",
    "GetBucketEncryption": "GetEncryptionConfiguration",
    "GetBucketNotificationConfiguration": "GetBucketNotification",
    "ListBuckets": "ListAllMyBuckets",
    "ListObjectsV2": "ListBucket",
}


def action_for(call: str) -> str:
    service, operation = call.split(".", 1)
    prefix = PREFIXES.get(service, service)
    if prefix == "s3":
        operation = S3_ACTIONS.get(operation, operation)
    return f"{prefix}:{operation}"


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
