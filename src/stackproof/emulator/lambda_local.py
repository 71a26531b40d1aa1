"""The sync function run where moto cannot run it (Lambda needs Docker there): the S3 events
moto's S3 sends for created objects (it matches the bucket's notification filters) are queued,
and :func:`deliver_pending` runs the function's own code in process on each, with its EFS
access point mounted from the file system's directory."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from stackproof.emulator import efs_data
from stackproof.support import paths
from stackproof.support.importing import import_file

pending: list[tuple[str, dict[str, Any]]] = []  # (function ARN, S3 event) that moto's S3 sent


def install() -> None:
    """moto's S3 decides which notifications an object matches and hands the event to Lambda,
    which needs Docker here: the event is queued instead, for :func:`deliver_pending`."""
    from moto.s3 import notifications

    def invoke(account_id: str, event_body: Any, fn_arn: str, region_name: str) -> None:
        pending.append((fn_arn, event_body))

    notifications._invoke_awslambda = invoke


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def mount_point(client: Callable[[str], Any], function_arn: str) -> tuple[Path, dict[str, str]]:
    """The directory the function's access point maps to, and the function's environment."""
    configuration = client("lambda").get_function_configuration(FunctionName=function_arn)
    (mount,) = configuration.get("FileSystemConfigs") or [{}]
    if not mount:
        raise RuntimeError(f"{function_arn} mounts no file system")
    access_point_id = mount["Arn"].rsplit("/", 1)[1]
    (point,) = client("efs").describe_access_points(AccessPointId=access_point_id)["AccessPoints"]
    directory = efs_data.through_access_point(point["FileSystemId"], point.get("RootDirectory", {}).get("Path", "/"))
    environment = dict(configuration.get("Environment", {}).get("Variables", {}))
    local = mount["LocalMountPath"]
    environment = {k: str(directory) + v[len(local) :] if v.startswith(local) else v for k, v in environment.items()}
    return directory, environment


def deliver_pending(client: Callable[[str], Any]) -> list[dict[str, Any]]:
    """Run the sync function on every queued S3 event, with its access point mounted; the
    function's return values, in order."""
    handler = import_file("stackproof_sync_function", paths.sync_function_dir() / "handler.py")
    handler._client = client("s3")  # type: ignore[attr-defined]  # the emulator's S3, never the default chain
    answers = []
    while pending:
        function_arn, event = pending.pop(0)
        _, environment = mount_point(client, function_arn)
        with _environment(environment):
            answers.append(handler.lambda_handler(event, None))
    return answers
