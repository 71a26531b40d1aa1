"""RES-04: an application instance is lost. Seed 002: "The AWS EFS is attached to the auto
scaling group so the instances have persistent storage" — so the group replaces the instance,
the replacement registers with the load balancer's target group, and the themes and images on
EFS are untouched."""

from __future__ import annotations

from typing import Any

from stackproof.drills.canaries import intact, write_through_sync_function
from stackproof.drills.engine import Drill, Step, StepFailed
from stackproof.drills.fleet import group
from stackproof.targets.stack_handle import StackHandle


def instance_loss_drill(stack: StackHandle, progress: Any = None, timeouts: dict[str, float] | None = None) -> Drill:
    limit = (timeouts or {}).get("instances", 30.0)
    fs_id = stack.outputs()["FileSystemId"]
    target_group = stack.physical("TargetGroup")
    elbv2, ec2 = stack.client("elbv2"), stack.client("ec2")
    state: dict[str, Any] = {"written": {}}

    def write(drill: Drill) -> None:
        for key in ("themes/stackproof-canary-res04.css", "images/stackproof-canary-res04.png"):
            state["written"][key] = write_through_sync_function(drill, stack, key, fs_id)

    def healthy_in_service(drill: Drill) -> bool:
        current = group(stack)
        state["before"] = {i["InstanceId"] for i in current["Instances"] if i["LifecycleState"] == "InService"}
        state["desired"] = current["DesiredCapacity"]
        if not state["before"]:
            raise StepFailed("the group has no instance in service to lose")
        return True

    def terminate(drill: Drill) -> None:
        victim = sorted(state["before"])[0]
        state["victim"] = victim
        ec2.terminate_instances(InstanceIds=[victim])

    def replaced(drill: Drill) -> bool:
        current = group(stack)
        in_service = {i["InstanceId"] for i in current["Instances"] if i["LifecycleState"] == "InService"}
        if state["victim"] in in_service or len(in_service) < state["desired"]:
            return False
        health = elbv2.describe_target_health(TargetGroupArn=target_group)["TargetHealthDescriptions"]
        registered = {
            h["Target"]["Id"] for h in health if h["TargetHealth"]["State"] in ("healthy", "initial", "unused")
        }
        return bool(in_service - state["before"]) and (in_service - state["before"]) <= registered

    def files_intact(drill: Drill) -> bool:
        kept = intact(fs_id, state["written"])
        if kept != set(state["written"]):
            raise StepFailed(
                f"files changed or missing after the instance loss: {sorted(set(state['written']) - kept)}"
            )
        drill.survived(kept)
        return True

    return Drill(
        "RES-04 instance loss",
        [
            Step("write themes and images through the sync function", write),
            Step("the group has instances in service", lambda d: None, precondition=healthy_in_service),
            Step("disaster: an instance is terminated", terminate, marks="disaster"),
            Step(
                "the group replaces it behind the load balancer", lambda d: None, postcondition=replaced, timeout=limit
            ),
            Step("themes and images on EFS are intact", lambda d: None, postcondition=files_intact, marks="recovered"),
        ],
        progress=progress,
        stack=stack,
    )
