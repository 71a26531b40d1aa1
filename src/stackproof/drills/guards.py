"""What must hold before a drill may change a live account: the user allowed destructive
scenarios, named the account the credentials belong to, and every resource the drill will act
on carries CloudFormation's own tag for the named stack. Each refusal says what to do."""

from __future__ import annotations

from collections.abc import Callable, Mapping

STACK_TAG = "aws:cloudformation:stack-name"


class GuardRefused(Exception):
    pass


def check_allowed(
    allow_destructive: bool, account_id: str | None, actual_account: str | None, stack_name: str | None
) -> str:
    """The stack the drill may change. ``actual_account`` None: the credentials are not looked
    up yet (refuse before any call)."""
    if not allow_destructive:
        raise GuardRefused("drills change the deployment: run them on a live account only with --allow-destructive")
    if not account_id:
        raise GuardRefused("name the account the drill may change with --account-id (it must match the credentials)")
    if actual_account is not None and account_id != actual_account:
        raise GuardRefused(f"--account-id {account_id} does not match the credentials' account {actual_account}")
    if not stack_name:
        raise GuardRefused("name the stack the drill works on with --stack-name")
    return stack_name


def check_tagged(
    stack_name: str, resources: Mapping[str, tuple[str, str]], tags_of: Callable[[str, str], Mapping[str, str]]
) -> None:
    """``resources``: logical ID -> (type, physical ID) of what the drill acts on."""
    untagged = []
    for logical_id, (resource_type, physical_id) in sorted(resources.items()):
        tags = tags_of(resource_type, physical_id)
        if tags.get(STACK_TAG) != stack_name:
            untagged.append(f"{logical_id} ({physical_id}): {STACK_TAG}={tags.get(STACK_TAG)!r}")
    if untagged:
        raise GuardRefused(
            f"refusing to touch resources not tagged as belonging to stack {stack_name}: " + "; ".join(untagged)
        )


TOUCHED = {  # what the drills act on, by type
    "AWS::EFS::FileSystem",
    "AWS::AutoScaling::AutoScalingGroup",
    "AWS::S3::Bucket",
    "AWS::Backup::BackupVault",
    "AWS::RDS::DBInstance",
}


def live_tags(client: Callable[[str], object], region: str, account: str) -> Callable[[str, str], Mapping[str, str]]:
    """Tags of a resource, read with the same read-only calls the model uses."""

    def tags_of(resource_type: str, physical_id: str) -> Mapping[str, str]:
        c: object = client(
            {
                "AWS::EFS::FileSystem": "efs",
                "AWS::AutoScaling::AutoScalingGroup": "autoscaling",
                "AWS::S3::Bucket": "s3",
                "AWS::Backup::BackupVault": "backup",
                "AWS::RDS::DBInstance": "rds",
            }[resource_type]
        )
        call = getattr
        if resource_type == "AWS::EFS::FileSystem":
            found = call(c, "describe_file_systems")(FileSystemId=physical_id)["FileSystems"][0].get("Tags", [])
        elif resource_type == "AWS::AutoScaling::AutoScalingGroup":
            groups = call(c, "describe_auto_scaling_groups")(AutoScalingGroupNames=[physical_id])["AutoScalingGroups"]
            found = groups[0].get("Tags", []) if groups else []
        elif resource_type == "AWS::S3::Bucket":
            try:
                found = call(c, "get_bucket_tagging")(Bucket=physical_id)["TagSet"]
            except Exception:  # NoSuchTagSet: an untagged bucket
                found = []
        elif resource_type == "AWS::Backup::BackupVault":
            arn = f"arn:aws:backup:{region}:{account}:backup-vault:{physical_id}"
            return dict(call(c, "list_tags")(ResourceArn=arn).get("Tags", {}))
        else:
            arn = f"arn:aws:rds:{region}:{account}:db:{physical_id}"
            found = call(c, "list_tags_for_resource")(ResourceName=arn)["TagList"]
        return {t["Key"]: t["Value"] for t in found}

    return tags_of
