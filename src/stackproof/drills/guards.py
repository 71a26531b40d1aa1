"""What must hold before a drill may change a live account: the user allowed destructive
scenarios, named the account the credentials belong to, and every resource the drill will act
on carries CloudFormation's own tag for the named stack. Each refusal says what to do."""

from __future__ import annotations

from collections.abc import Callable, Mapping

STACK_TAG = "aws:cloudformation:stack-name"


class GuardRefused(Exception):
    pass


def check_allowed(allow_destructive: bool, account_id: str | None, actual_account: str, stack_name: str | None) -> None:
    if not allow_destructive:
        raise GuardRefused("drills change the deployment: run them on a live account only with --allow-destructive")
    if not account_id:
        raise GuardRefused("name the account the drill may change with --account-id (it must match the credentials)")
    if account_id != actual_account:
        raise GuardRefused(f"--account-id {account_id} does not match the credentials' account {actual_account}")
    if not stack_name:
        raise GuardRefused("name the stack the drill works on with --stack-name")


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
