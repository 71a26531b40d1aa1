"""A drill in a process of its own, against a moto server another process runs, that stops
itself right after one step's action: with SIGTERM (as a scheduler stops a job; the drill cleans
up and exits) or SIGKILL (nothing runs; the journal on disk is all that is left).

    python -m tests.drill_child ENDPOINT STACK REGION STEP SIGNAL RUN-ID

Run by tests/test_drill_cleanup.py; the journal directory is $STACKPROOF_DRILL_JOURNALS."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import sys
from collections.abc import Callable
from typing import Any

import boto3

from stackproof.drills.engine import Drill, DrillInterrupted
from stackproof.drills.rds_restore import rds_restore_drill
from stackproof.support import paths
from stackproof.targets.aws_calls import CallRecorder, ClientCache
from stackproof.targets.stack_handle import StackHandle


def stopping_after(action: Callable[[Drill], Any], number: int) -> Callable[[Drill], Any]:
    def wrapped(drill: Drill) -> Any:
        action(drill)
        os.kill(os.getpid(), number)

    return wrapped


def main(endpoint: str, stack_name: str, region: str, step: str, signal_name: str, run_id: str) -> int:
    session = boto3.Session(region_name=region, aws_access_key_id="testing", aws_secret_access_key="testing")
    client = ClientCache(session, CallRecorder(), endpoint_url=endpoint)
    stack = StackHandle(client, stack_name, {}, paths.dashboard_template(), region, emulated=False)
    drill = rds_restore_drill(stack, rows=False)  # the control plane: all of it through the endpoint
    drill.run_id = run_id
    names = [s.name for s in drill.steps]
    if step not in names:
        print(f"no step {step!r}: {names}", file=sys.stderr)
        return 2
    number = getattr(signal, signal_name)
    drill.steps = [
        dataclasses.replace(s, action=stopping_after(s.action, number)) if s.name == step else s for s in drill.steps
    ]
    try:
        result = drill.run()
    except DrillInterrupted as stopped:
        print(json.dumps(stopped.result.as_dict()))
        return 128 + stopped.signum
    print(json.dumps(result.as_dict()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(*sys.argv[1:]))
