"""RES-04: an application instance is lost. Seed 002: "The AWS EFS is attached to the auto
scaling group so the instances have persistent storage" — so the group replaces the instance,
the replacement registers with the load balancer's target group, and the themes and images on
EFS are untouched.

On a live account (``stack.emulated`` False) the instance is terminated by an AWS FIS
experiment made for the run (``aws:ec2:terminate-instances``, an alarm as stop condition; see
:mod:`.fis`), and the themes and images are written and checked on the EFS mount through SSM
Run Command (:mod:`.instance_data`), read back once the replacement serves."""

from __future__ import annotations

import dataclasses
from typing import Any

from stackproof.drills import instance_data
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
    files: bool = True,
) -> Drill:
    """``fis_role_arn``: the role AWS FIS assumes; required on a live account (ValueError).
    ``files``: on a live account, whether the canary files go through SSM (the scenario probes
    first; without them the drill proves the control plane only)."""
    limit = (timeouts or {}).get("instances", 30.0)
    live = not stack.emulated
    if live and not fis_role_arn:
        raise ValueError("RES-04 on a live account terminates the instance with AWS FIS: give --fis-role-arn")
    experiment = Experiment(stack, fis_role_arn or "") if live else None
    fleet = instance_data.Fleet.of(stack) if live and files else None
    fs_id = stack.outputs()["FileSystemId"]
    target_group = stack.physical("TargetGroup")
    elbv2, ec2 = stack.client("elbv2"), stack.client("ec2")
    state: dict[str, Any] = {"written": {}}

    def write(drill: Drill) -> None:
        keys = ["themes/stackproof-canary-res04.css", "images/stackproof-canary-res04.png"]
        if fleet is None:
            for key in keys:
                state["written"][key] = write_through_sync_function(drill, stack, key, fs_id)
            return
        what = f"canary files {', '.join(keys)} on the instances' mount"
        where = {"group": fleet.group, "keys": keys}
        instance_data.on_cleanup(drill, what, "instance.delete-canary-files", where, stack.region)
        state["written"] = instance_data.write_files(fleet, keys)
        for key in keys:
            drill.canary(key, state["written"][key])

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
        if fleet is None:
            kept = intact(fs_id, state["written"])
        else:  # read on an instance the group runs now
            found = instance_data.file_checksums(fleet, state["written"])
            kept = {k for k, v in found.items() if state["written"].get(k) == v}
        if kept != set(state["written"]):
            raise StepFailed(
                f"files changed or missing after the instance loss: {sorted(set(state['written']) - kept)}"
            )
        drill.survived(kept)
        return True

    in_service = Step("the group has instances in service", lambda d: None, precondition=healthy_in_service)
    write_step = Step("write themes and images through the sync function", write)
    intact_step = Step(
        "themes and images on EFS are intact", lambda d: None, postcondition=files_intact, marks="recovered"
    )
    if live:
        data = fleet is not None
        steps = [
            *(
                [dataclasses.replace(write_step, name="write themes and images on the EFS mount through SSM")]
                if data
                else []
            ),
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
                marks=None if data else "recovered",
            ),
            *(
                [dataclasses.replace(intact_step, name="themes and images intact, read through SSM", timeout=limit)]
                if data
                else []
            ),
        ]
    else:
        steps = [
            write_step,
            in_service,
            Step("disaster: an instance is terminated", terminate, marks="disaster"),
            Step(
                "the group replaces it behind the load balancer", lambda d: None, postcondition=replaced, timeout=limit
            ),
            intact_step,
        ]
    poll = (timeouts or {}).get("poll", LIVE_POLL if live else 0.02)
    return Drill("RES-04 instance loss", steps, poll=poll, progress=progress, stack=stack)
