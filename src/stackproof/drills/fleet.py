"""Seed 002's last step of both restores: "scale out your autoscaling group to create a new EC2
instance and then terminate the old EC2 instance" — as drill steps that check the new instances
run the launch template version the stack update produced."""

from __future__ import annotations

from typing import Any

from stackproof.drills.engine import Drill, Step, StepFailed
from stackproof.drills.journal import Undo
from stackproof.targets.stack_handle import StackHandle


def group(stack: StackHandle) -> dict[str, Any]:
    name = stack.physical("AutoScalingGroup")
    (found,) = stack.client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[name])[
        "AutoScalingGroups"
    ]
    return dict(found)


def latest_version(stack: StackHandle) -> str:
    template_id = stack.physical("LaunchTemplate")
    found = stack.client("ec2").describe_launch_templates(LaunchTemplateIds=[template_id])["LaunchTemplates"][0]
    return str(found["LatestVersionNumber"])


def roll_instances_steps(stack: StackHandle, timeout: float) -> list[Step]:
    autoscaling = stack.client("autoscaling")
    state: dict[str, Any] = {}

    def scale_out(drill: Drill) -> None:
        current = group(stack)
        state["old"] = {i["InstanceId"] for i in current["Instances"]}
        state["desired"] = current["DesiredCapacity"]
        wanted = min(current["DesiredCapacity"] + 1, current["MaxSize"])
        if wanted == current["DesiredCapacity"]:
            raise StepFailed(f"the group is at MaxSize {current['MaxSize']}: it cannot scale out to roll")
        capacity = {"group": current["AutoScalingGroupName"], "capacity": current["DesiredCapacity"]}
        drill.on_cleanup(
            f"desired capacity of {current['AutoScalingGroupName']} back to {current['DesiredCapacity']}",
            Undo("autoscaling.set-desired-capacity", capacity, stack.region),
        )
        autoscaling.set_desired_capacity(AutoScalingGroupName=current["AutoScalingGroupName"], DesiredCapacity=wanted)

    def new_instance_ready(drill: Drill) -> bool:
        current = group(stack)
        fresh = [i for i in current["Instances"] if i["InstanceId"] not in state["old"]]
        ready = [i for i in fresh if i["LifecycleState"] == "InService"]
        if not ready:
            return False
        version = latest_version(stack)
        stale = [i["InstanceId"] for i in ready if str(i.get("LaunchTemplate", {}).get("Version")) != version]
        if stale:
            raise StepFailed(f"new instances {stale} do not run launch template version {version}")
        return True

    def terminate_old(drill: Drill) -> None:
        for instance in sorted(state["old"]):
            autoscaling.terminate_instance_in_auto_scaling_group(
                InstanceId=instance, ShouldDecrementDesiredCapacity=True
            )

    def only_new(drill: Drill) -> bool:
        current = group(stack)
        remaining = {i["InstanceId"] for i in current["Instances"]}
        return not (remaining & state["old"]) and len(remaining) == current["DesiredCapacity"] >= 1

    return [
        Step(
            "scale out the group (new instance on the new launch template)",
            scale_out,
            postcondition=new_instance_ready,
            timeout=timeout,
        ),
        Step("terminate the old instances", terminate_old, postcondition=only_new, timeout=timeout),
    ]
