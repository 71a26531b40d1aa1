"""RES-04: an application instance is lost. Seed 002: "The AWS EFS is attached to the auto
scaling group so the instances have persistent storage" — so the group replaces the instance,
the replacement registers with the load balancer's target group, and the themes and images on
EFS are untouched.

On a live account (``stack.emulated`` False) the instance is terminated by an AWS FIS
experiment made for the run (``aws:ec2:terminate-instances``, an alarm as stop condition; see
:mod:`.fis`); the files on EFS are checked only where the drill reaches the data plane (the
emulator), so the live scenario reports them unverified (SKIP), never a pass."""

from __future__ import annotations

from typing import Any

from stackproof.drills.canaries import intact, write_through_sync_function
from stackproof.drills.engine import Drill, Step, StepFailed
from stackproof.drills.fis import LIVE_POLL, Experiment, arn, instance_loss
from stackproof.drills.fleet import group
from stackproof.targets.stack_handle import StackHandle


def instance_loss_drill(
    stack: StackHandle,
    progress: Any = None,
    timeouts: dict[str, float] | None = None,
    fis_role_arn: str | None = None,
) -> Drill:
    """``fis_role_arn``: the role AWS FIS assumes; required on a live account (ValueError)."""
    limit = (timeouts or {}).get("instances", 30.0)
    live = not stack.emulated
    if live and not fis_role_arn:
        raise ValueError("RES-04 on a live account terminates the instance with AWS FIS: give --fis-role-arn")
    experiment = Experiment(stack, fis_role_arn or "") if live else None
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

    def terminate_with_fis(drill: Drill) -> None:
        assert experiment is not None
        victim = state["victim"] = sorted(state["before"])[0]
        description = f"stackproof RES-04 {drill.run_id}: {stack.stack_name} loses instance {victim}"
        experiment.start(drill, description, instance_loss(arn(stack, "ec2", f"instance/{victim}")), target_group)

    def terminated(drill: Drill) -> bool:
        assert experiment is not None
        return experiment.completed()

    def replaced(drill: Drill) -> bool:
        if experiment is not None:
            experiment.state()  # StepFailed once it stopped or failed
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

    in_service = Step("the group has instances in service", lambda d: None, precondition=healthy_in_service)
    if live:
        steps = [
            in_service,
            Step(
                "disaster: an AWS FIS experiment terminates an instance",
                terminate_with_fis,
                postcondition=terminated,
                timeout=limit,
                marks="disaster",
            ),
            Step(
                "the group replaces it behind the load balancer",
                lambda d: None,
                postcondition=replaced,
                timeout=limit,
                marks="recovered",
            ),
        ]
    else:
        steps = [
            Step("write themes and images through the sync function", write),
            in_service,
            Step("disaster: an instance is terminated", terminate, marks="disaster"),
            Step(
                "the group replaces it behind the load balancer", lambda d: None, postcondition=replaced, timeout=limit
            ),
            Step("themes and images on EFS are intact", lambda d: None, postcondition=files_intact, marks="recovered"),
        ]
    poll = (timeouts or {}).get("poll", LIVE_POLL if live else 0.02)
    return Drill("RES-04 instance loss", steps, poll=poll, progress=progress, stack=stack)
