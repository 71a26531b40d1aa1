"""FIS experiments that do something on moto. moto keeps experiment templates and experiments
but runs nothing: a started experiment walks pending -> completed on its own. Here
``StartExperiment`` runs the three actions the live drills use through the emulator's own
hooks, and ``GetExperiment``, ``ListExperiments`` and ``StopExperiment`` answer with the states
those actions are really in — so the live drills' code (``emulated=False``) runs against moto's
server unchanged:

- ``aws:network:disrupt-connectivity`` (scope ``all``) on subnets: their Availability Zones are
  impaired (:func:`stackproof.emulator.az_faults.impair`) for the action's ``duration``, then
  restored, as FIS puts the subnets' network ACLs back; stopping the experiment restores at once.
- ``aws:rds:reboot-db-instances`` with ``forceFailover``: the forced-failover reboot the moto
  drills use (az_faults' RebootDBInstance).
- ``aws:ec2:terminate-instances``: terminated as TerminateInstances does, the group and target
  group told.

Fail closed: a target given by tags or filters (moto resolves none), a resource of the wrong
type, ``startAfter``, or any other action fails the experiment with the reason, rather than
passing for a fault that never happened. A stop-condition alarm in ALARM when the experiment
starts fails it; one that goes into ALARM while it runs stops it, undoing the disruption.

``time_scale`` shrinks durations for tests (0.01: a five-minute disruption lasts 3 s).
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

time_scale = 1.0
_lock = threading.RLock()

DISRUPT = "aws:network:disrupt-connectivity"
EXPECTED = {  # action -> (target key, resource type)
    DISRUPT: ("Subnets", "aws:ec2:subnet"),
    "aws:rds:reboot-db-instances": ("DBInstances", "aws:rds:db"),
    "aws:ec2:terminate-instances": ("Instances", "aws:ec2:instance"),
}
_DURATION = re.compile(r"^PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?$")


def seconds(duration: str) -> float:
    """An ISO 8601 duration as FIS takes it (PT1H, PT5M, PT90S) in seconds."""
    found = _DURATION.match(duration or "")
    if not found or not any(found.groups()):
        raise ValueError(f"not an ISO 8601 duration: {duration!r}")
    hours, minutes, secs = (int(g or 0) for g in found.groups())
    return float(hours * 3600 + minutes * 60 + secs)


@dataclass
class _Action:
    status: str = "pending"
    reason: str = ""
    started: float | None = None
    ended: float | None = None
    until: float | None = None  # when a timed action completes
    zones: list[str] = field(default_factory=list)  # impaired by this action


@dataclass
class Run:
    """What one emulated experiment is doing."""

    account: str
    region: str
    actions: dict[str, _Action]
    status: str = "running"
    reason: str = "Experiment is running."
    stopping: bool = False

    def sync(self, experiment: Any) -> str:
        """Advance the run to now (timed actions, stop conditions) and write it into the
        experiment moto answers with."""
        with _lock:
            if self.status == "running":
                if self.stopping:
                    self._end("stopped", "Experiment stopped by user.")
                elif alarm := _in_alarm(self.account, self.region, experiment.stop_conditions):
                    self._end("stopped", f"Experiment stopped by a stop condition: alarm {alarm} is in ALARM.")
                else:
                    now = time.time()
                    for action in self.actions.values():
                        if action.status == "running" and action.until is not None and now >= action.until:
                            _restore(action)
                            action.status, action.reason, action.ended = "completed", "Action was completed.", now
                    if all(a.status == "completed" for a in self.actions.values()):
                        self.status, self.reason = "completed", "Experiment completed."
            _write(self, experiment)
            return self.status

    def _end(self, status: str, reason: str) -> None:
        now = time.time()
        for action in self.actions.values():
            if action.status in ("pending", "running"):
                _restore(action)
                action.status, action.reason, action.ended = status, reason, now
        self.status, self.reason = status, reason


def _restore(action: _Action) -> None:
    from stackproof.emulator import az_faults

    for zone in action.zones:
        az_faults.restore(zone)
    action.zones = []


def _write(run: Run, experiment: Any) -> None:
    experiment.status = run.status
    if run.status in ("completed", "stopped", "failed") and experiment.end_time is None:
        experiment.end_time = time.time()
    for name, action in run.actions.items():
        answer = experiment.actions[name]
        answer["state"] = {"status": action.status, "reason": action.reason}
        if action.started is not None:
            answer["startTime"] = action.started
        if action.ended is not None:
            answer["endTime"] = action.ended


def _in_alarm(account: str, region: str, conditions: list[dict[str, Any]]) -> str | None:
    from moto.cloudwatch.models import cloudwatch_backends

    alarms = cloudwatch_backends[account][region].alarms
    for condition in conditions or []:
        if condition.get("source") != "aws:cloudwatch:alarm":
            continue
        name = str(condition.get("value", "")).split(":alarm:", 1)[-1]
        found = alarms.get(name)
        if found is None:
            return f"{name} (no such alarm)"
        if found.state_value == "ALARM":
            return name
    return None


def _resources(experiment: Any, action: dict[str, Any]) -> list[str]:
    """The action's target resource IDs; ValueError on what the emulator cannot resolve."""
    key, resource_type = EXPECTED[action["actionId"]]
    targets = action.get("targets") or {}
    if set(targets) != {key}:
        raise ValueError(f"{action['actionId']} takes one target, {key}; given {sorted(targets)}")
    target = experiment.targets.get(targets[key]) or {}
    if target.get("resourceType") != resource_type:
        raise ValueError(f"target {targets[key]} is {target.get('resourceType')!r}, not {resource_type}")
    if target.get("resourceTags") or target.get("filters") or not target.get("resourceArns"):
        raise ValueError(f"target {targets[key]}: the emulator resolves targets given by resourceArns only")
    if target.get("selectionMode", "ALL") != "ALL":
        raise ValueError(f"target {targets[key]}: selection mode {target['selectionMode']} is not emulated")
    return [arn.rsplit("/", 1)[-1].rsplit(":", 1)[-1] for arn in target["resourceArns"]]


def _disrupt(account: str, region: str, ids: list[str], parameters: dict[str, str], action: _Action) -> None:
    from moto.ec2.models import ec2_backends

    from stackproof.emulator import az_faults

    if parameters.get("scope", "all") != "all":
        raise ValueError(f"scope {parameters['scope']!r} is not emulated (only all: the zone cut off)")
    length = seconds(parameters.get("duration", ""))
    ec2 = ec2_backends[account][region]
    zones = sorted({ec2.get_subnet(subnet).availability_zone for subnet in ids})
    for zone in zones:
        az_faults.impair(account, region, zone)
    action.zones = zones
    action.until = time.time() + length * time_scale


def _reboot(account: str, region: str, ids: list[str], parameters: dict[str, str]) -> None:
    from moto.rds.models import rds_backends

    rds = rds_backends[account][region]
    for instance in ids:
        rds.reboot_db_instance(instance, parameters.get("forceFailover", "false") == "true")  # type: ignore[call-arg]


def _terminate(account: str, region: str, ids: list[str]) -> None:
    from moto.autoscaling.models import autoscaling_backends
    from moto.ec2.models import ec2_backends
    from moto.elbv2.models import elbv2_backends

    ec2_backends[account][region].terminate_instances(ids)
    autoscaling_backends[account][region].notify_terminate_instances(ids)
    elbv2_backends[account][region].notify_terminate_instances(ids)


def start(experiment: Any) -> Run:
    """Run ``experiment``'s actions now, network first (FIS starts them together; the failover
    then finds the impaired zone already impaired, as it would)."""
    account, region = experiment.account_id, experiment.region_name
    order = sorted(
        experiment.actions, key=lambda n: experiment.actions[n]["actionId"] != "aws:network:disrupt-connectivity"
    )
    run = Run(account, region, {name: _Action() for name in order})
    with _lock:
        alarm = _in_alarm(account, region, experiment.stop_conditions)
        if alarm is not None:
            run._end("failed", f"Experiment failed to start: stop condition alarm {alarm} is in ALARM.")
            return run
        for name in order:
            spec, action = experiment.actions[name], run.actions[name]
            action.started = time.time()
            try:
                if spec["actionId"] not in EXPECTED:
                    raise ValueError(f"action {spec['actionId']} is not emulated")
                if spec.get("startAfter"):
                    raise ValueError("startAfter is not emulated")
                ids = _resources(experiment, spec)
                parameters = dict(spec.get("parameters") or {})
                if spec["actionId"] == DISRUPT:
                    _disrupt(account, region, ids, parameters, action)
                    action.status, action.reason = "running", "Action is running."
                    continue
                if spec["actionId"] == "aws:rds:reboot-db-instances":
                    _reboot(account, region, ids, parameters)
                else:
                    _terminate(account, region, ids)
                action.status, action.reason, action.ended = "completed", "Action was completed.", time.time()
            except Exception as exc:
                action.status, action.reason, action.ended = "failed", f"{type(exc).__name__}: {exc}", time.time()
                run._end("cancelled", "Cancelled: another action failed.")
                run.status, run.reason = "failed", f"Action {name} failed: {exc}"
                return run
    return run


def install() -> None:
    """Patch moto's FIS backend (idempotent)."""
    from moto.fis.models import Experiment, FISBackend

    if getattr(FISBackend.start_experiment, "stackproof", False):
        return
    original_start = FISBackend.start_experiment
    original_sync = Experiment._sync_state
    original_stop = FISBackend.stop_experiment
    original_dict, original_summary = Experiment.to_dict, Experiment.to_summary_dict

    def start_experiment(self: FISBackend, *args: Any, **kwargs: Any) -> dict[str, Any]:
        answer = original_start(self, *args, **kwargs)
        experiment = self.experiments[answer["id"]]
        if getattr(experiment, "stackproof_run", None) is None:  # not a repeated client token
            setattr(experiment, "stackproof_run", start(experiment))  # noqa: B010 (moto's class has no such field)
        return experiment.to_dict(tags=self.tagger.get_tag_dict_for_resource(experiment.arn))

    def sync_state(self: Experiment) -> str:
        run = getattr(self, "stackproof_run", None)
        return original_sync(self) if run is None else run.sync(self)

    def with_reason(original: Any) -> Any:
        def answer(self: Experiment, tags: dict[str, str] | None = None) -> dict[str, Any]:
            found: dict[str, Any] = original(self, tags=tags)
            run = getattr(self, "stackproof_run", None)
            if run is not None:
                found["state"] = {"status": run.status, "reason": run.reason}
            return found

        return answer

    def stop_experiment(self: FISBackend, id: str) -> dict[str, Any]:
        experiment = self.experiments.get(id)
        run = getattr(experiment, "stackproof_run", None)
        if experiment is None or run is None:
            return original_stop(self, id)
        with _lock:
            was_running = run.status == "running"
            run.stopping = was_running
            answer = experiment.to_dict(tags=self.tagger.get_tag_dict_for_resource(experiment.arn))
        if was_running:  # as FIS answers StopExperiment; GetExperiment shows it stopped
            answer["state"] = {"status": "stopping", "reason": "Experiment is stopping."}
        return answer

    start_experiment.stackproof = True  # type: ignore[attr-defined]
    FISBackend.start_experiment = start_experiment  # type: ignore[method-assign]
    Experiment._sync_state = sync_state  # type: ignore[method-assign]
    Experiment.to_dict = with_reason(original_dict)  # type: ignore[method-assign]
    Experiment.to_summary_dict = with_reason(original_summary)  # type: ignore[method-assign]
    FISBackend.stop_experiment = stop_experiment  # type: ignore[method-assign]
