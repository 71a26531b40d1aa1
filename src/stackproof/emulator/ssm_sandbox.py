"""SSM Run Command that runs: ``SendCommand`` with ``AWS-RunShellScript`` executes the script for
each instance in a sandbox of its own, so the live code path (scripts sent through SSM, output
read back with ``GetCommandInvocation``) is what the emulator tests run. moto's own
``send_command`` records the command and answers "Success" with no output, running nothing.

A sandbox is a directory per instance (under one temporary root per process) laid out as the
bootstrap leaves an instance:

- ``mnt/efs`` is the emulated file system the instance's user data mounts (``FILE_SYSTEM_ID``),
  a symlink to its directory in :mod:`stackproof.emulator.efs_data`;
- ``var/panintelligence/dashboard.env`` holds the database settings and credentials exactly as
  the bootstrap writes them (mode 0600, the user data's RDS endpoint as host, the stack
  secret's user and password, ``PI_DB_SSL=true``), written once, when the instance is first
  sent a command; ``rds-ca.pem`` beside it is the CA that signed the emulated servers'
  certificates (on AWS: the RDS CA bundle, where an operator installed one);
- ``bin/docker`` is a shim that runs ``docker run ... mariadb[:TAG] mariadb ARGS`` (seed 002's
  pinned client container) as the host's ``mariadb`` client with ARGS, and refuses anything
  else. It is also the sandbox's DNS for RDS: a ``--host=`` that is an RDS endpoint
  (``ID.xxxx.REGION.rds.amazonaws.com``) becomes the loopback address and port of the emulated
  MariaDB server of DB instance ID (``etc/rds-endpoints``, rewritten at each command). Where
  MariaDB is not installed, the shim says so and fails, so no row is ever claimed.

Path mapping: the script's text has each absolute path of :data:`MAPPED` (``/mnt/efs``,
``/var/panintelligence``) rewritten to the sandbox's, where it stands as a path of its own (not
inside a longer one), and the sandbox's root is taken out of its output again, so scripts and
what they print read as on an instance.

The script runs with ``bash`` as a subprocess in its own process group: cwd the sandbox, an
environment with nothing of the host's but ``PATH`` (the shim first) and the locale, so no
AWS credentials; killed at the command's ``executionTimeout`` (status TimedOut). Output is cut
as SSM cuts it (24,000 / 8,000 characters, ending in the agent's marker). Commands run in a
thread and ``GetCommandInvocation`` answers InProgress until they end, so a slow script never
holds moto's server's request open past the client's read timeout (which would resend it).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any

from stackproof.emulator import efs_data, mariadb_data

MAPPED = ("/mnt/efs", "/var/panintelligence")
STDOUT_LIMIT, STDERR_LIMIT = 24_000, 8_000
STDOUT_MARK, STDERR_MARK = "\n---Output truncated---", "\n---Error truncated----"
DEFAULT_EXECUTION_TIMEOUT = 3600  # AWS-RunShellScript's default executionTimeout
# POSIX ERE (the shim greps with it): mariadb, from Docker Hub, any tag or digest.
CLIENT_IMAGE = re.compile(r"^(docker\.io/)?(library/)?mariadb(:[A-Za-z0-9._-]+)?(@sha256:[0-9a-f]{64})?$")

_root: Path | None = None
_sandboxes: dict[str, Path] = {}
_running: dict[str, subprocess.Popen[bytes]] = {}  # "command/instance" -> the script's process
_lock = threading.Lock()
_servers_lock = threading.Lock()

DOCKER_SHIM = r"""#!/bin/bash
# The sandbox's docker: only `docker run [options] mariadb[:tag] mariadb ARGS`, run as the host's
# mariadb client with ARGS (the seed's pinned client container, without the container).
set -euo pipefail
UNAVAILABLE='__UNAVAILABLE__'
[ "${1:-}" = run ] || { echo "docker (sandbox): only 'run' of the mariadb client image" >&2; exit 125; }
shift
while [ $# -gt 0 ]; do
  case "$1" in
    --rm|-i|-t|-it|--interactive|--tty|--network=*|--pull=*|-e?*|--env=*) shift ;;
    --network|--pull|-e|--env|--env-file|-v|--volume|--entrypoint|--user|-u|-w|--workdir) shift 2 ;;
    --env-file=*|--volume=*|-v?*) shift ;;
    -*) echo "docker (sandbox): option $1 is not emulated" >&2; exit 125 ;;
    *) break ;;
  esac
done
image="${1:-}"
shift || true
if ! printf '%s' "$image" | grep -Eq '__IMAGE__'; then
  echo "docker (sandbox): image $image is not the mariadb client" >&2; exit 125
fi
[ "${1:-}" = mariadb ] || { echo "docker (sandbox): only the mariadb command runs" >&2; exit 125; }
shift
[ -z "$UNAVAILABLE" ] || { echo "docker (sandbox): $UNAVAILABLE" >&2; exit 125; }
args=()
host=""
port=""
for arg in "$@"; do
  case "$arg" in
    --host=*) host="${arg#--host=}" ;;
    --port=*) port="${arg#--port=}" ;;
    *) args+=("$arg") ;;
  esac
done
if [[ "$host" == *.rds.amazonaws.com ]]; then
  endpoints="$STACKPROOF_SANDBOX/etc/rds-endpoints"
  entry=$(awk -v id="${host%%.*}" 'tolower($1) == tolower(id) { print $2 " " $3 }' "$endpoints")
  [ -n "$entry" ] || { echo "mariadb: unknown server host '$host' (no such emulated database)" >&2; exit 1; }
  host="${entry% *}"
  port="${entry#* }"
fi
[ -z "$host" ] || args+=("--host=$host")
[ -z "$port" ] || args+=("--port=$port")
exec __MARIADB__ --no-defaults "${args[@]}"
"""


def root() -> Path:
    global _root
    if _root is None:
        _root = Path(tempfile.mkdtemp(prefix="stackproof-ssm-"))
    return _root


def rewrite(script: str, sandbox: Path) -> str:
    """``script`` with each path of :data:`MAPPED` moved under ``sandbox``."""
    for path in MAPPED:
        script = re.sub(rf"(?<![\w./-]){re.escape(path)}(?![\w.-])", str(sandbox) + path, script)
    return script


def cut(text: str, limit: int, mark: str) -> str:
    """What GetCommandInvocation shows of ``text``: at most ``limit`` characters, ending in the
    agent's marker when cut."""
    return text if len(text) <= limit else text[: limit - len(mark)] + mark


def _settings(user_data: Any) -> dict[str, str]:
    """The bootstrap's ``NAME="value"`` settings from an instance's (base64) user data."""
    if not user_data:
        return {}
    encoded = user_data.as_bytes() if hasattr(user_data, "as_bytes") else str(user_data).encode()
    try:
        text = base64.b64decode(encoded).decode("utf-8", "replace")
    except ValueError:
        text = encoded.decode("utf-8", "replace")
    return dict(re.findall(r'^([A-Z_]+)="([^"$]*)"$', text, flags=re.MULTILINE))


def _secret(account: str, region: str, arn: str) -> dict[str, Any]:
    """The stack's database secret, as the bootstrap reads it ({} when it cannot be read, as a
    boot that failed to read it leaves the file without credentials)."""
    from moto.secretsmanager.models import secretsmanager_backends

    try:
        answer = secretsmanager_backends[account][region].get_secret_value(arn, "", "")
        found = json.loads(answer.get("SecretString") or "{}")
    except Exception:
        return {}
    return found if isinstance(found, dict) else {}


def _database_lines(account: str, region: str, settings: dict[str, str]) -> list[str]:
    """The env file's database lines, as the bootstrap writes them."""
    secret = _secret(account, region, settings.get("DB_SECRET_ARN", ""))
    return [
        f"PI_DB_HOST={settings.get('DB_HOST', '')}",
        f"PI_DB_PORT={settings.get('DB_PORT', '3306')}",
        f"PI_DB_SCHEMA_NAME={settings.get('DB_NAME', '')}",
        f"PI_DB_USERNAME={secret.get('username', '')}",
        f"PI_DB_PASSWORD={secret.get('password', '')}",
        "PI_DB_SSL=true",
    ]


def _make(account: str, region: str, instance: Any) -> Path:
    """The instance's sandbox, laid out as its bootstrap leaves it."""
    sandbox = root() / str(instance.id)
    settings = _settings(instance.user_data)
    for directory in ("bin", "tmp", "root", "mnt", "var/panintelligence"):
        (sandbox / directory).mkdir(parents=True, exist_ok=True)
    fs_id = settings.get("FILE_SYSTEM_ID", "")
    if fs_id.startswith("fs-"):
        (sandbox / "mnt/efs").symlink_to(efs_data.file_system(fs_id), target_is_directory=True)
    else:
        (sandbox / "mnt/efs").mkdir()
    env_dir = sandbox / "var/panintelligence"
    env_file = env_dir / "dashboard.env"
    descriptor = os.open(env_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        out.write("\n".join(_database_lines(account, region, settings)) + "\n")
    (sandbox / "etc").mkdir(exist_ok=True)
    (sandbox / "etc/rds-endpoints").touch()
    return sandbox


def sandbox_for(account: str, region: str, instance: Any) -> Path:
    with _lock:
        found: Path | None = _sandboxes.get(instance.id)
        if found is None:
            found = _sandboxes[instance.id] = _make(account, region, instance)
    _publish_endpoints(account, region, instance, found)
    return found


def _write_shim(sandbox: Path) -> str | None:
    """The docker shim as MariaDB is found now (so a run that hides it is told why); why the
    database cannot be reached here, or None."""
    missing = mariadb_data.unavailable()
    if missing is None and not (sandbox / "var/panintelligence/rds-ca.pem").is_file():
        shutil.copyfile(mariadb_data.ca_file(), sandbox / "var/panintelligence/rds-ca.pem")
    shim = (
        DOCKER_SHIM.replace("__IMAGE__", CLIENT_IMAGE.pattern)
        .replace("__MARIADB__", mariadb_data.client() if missing is None else "false")
        .replace("__UNAVAILABLE__", (missing or "").replace("'", ""))
    )
    (sandbox / "bin/docker").write_text(shim, encoding="utf-8")
    (sandbox / "bin/docker").chmod(0o755)
    return missing


def _publish_endpoints(account: str, region: str, instance: Any, sandbox: Path) -> None:
    """Every DB instance RDS has in the region answers on its endpoint, as on AWS: each one
    without an emulated server gets one (with the master user of the stack secret the
    instance's user data names, the database's own credentials on AWS too); then where each
    server listens is written for the shim's lookups."""
    if _write_shim(sandbox) is not None:
        return
    from moto.rds.models import rds_backends

    secret = _secret(account, region, _settings(instance.user_data).get("DB_SECRET_ARN", ""))
    with _servers_lock:  # two instances' commands at once must not start one server twice
        running = set(mariadb_data.running())
        if secret.get("username"):
            for database in list(rds_backends[account][region].databases.values()):
                identifier = str(database.db_instance_identifier)  # as the API and the endpoint spell it
                if identifier not in running:
                    mariadb_data.server_for(identifier, str(secret["username"]), str(secret.get("password", "")))
    lines = [f"{name} 127.0.0.1 {port}" for name, port in mariadb_data.ports().items()]
    (sandbox / "etc/rds-endpoints").write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")


def _environment(sandbox: Path) -> dict[str, str]:
    return {
        "PATH": f"{sandbox / 'bin'}:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
        "HOME": str(sandbox / "root"),
        "TMPDIR": str(sandbox / "tmp"),
        "LANG": os.environ.get("LANG", "C.UTF-8"),
        "STACKPROOF_SANDBOX": str(sandbox),
    }


def _run(invocation: dict[str, Any], key: str, script: str, where: tuple[str, str, Any], timeout: int) -> None:
    """Lay out the instance's sandbox (starting database servers can take seconds: here, not in
    the SendCommand request), run its script and write the outcome into ``invocation``."""
    if invocation.get("Status") == "Cancelling":
        invocation.update(Status="Cancelled", StatusDetails="Cancelled")
        return
    try:
        sandbox = sandbox_for(*where)
    except Exception as exc:  # the instance could not be set up: the agent never ran the script
        invocation.update(Status="Undeliverable", StatusDetails="Undeliverable", StandardErrorContent=str(exc)[:500])
        return
    path = sandbox / "tmp" / f"_script-{invocation['CommandId']}.sh"
    path.write_text(rewrite(script, sandbox), encoding="utf-8")
    try:
        process = subprocess.Popen(
            ["bash", str(path)],
            cwd=sandbox,
            env=_environment(sandbox),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as exc:
        invocation.update(Status="Failed", StatusDetails="Failed", ResponseCode=1, StandardErrorContent=str(exc))
        return
    with _lock:
        _running[key] = process
    try:
        out, err = process.communicate(timeout=timeout)
        code = process.returncode
    except subprocess.TimeoutExpired:
        _kill(process)
        out, err = process.communicate()
        code = None
    finally:
        with _lock:
            _running.pop(key, None)
    # The sandbox's own root is taken out of what the script printed: paths read as on the instance.
    stdout = cut(out.decode("utf-8", "replace").replace(str(sandbox), ""), STDOUT_LIMIT, STDOUT_MARK)
    stderr = cut(err.decode("utf-8", "replace").replace(str(sandbox), ""), STDERR_LIMIT, STDERR_MARK)
    if invocation.get("Status") in ("Cancelling", "Cancelled"):
        status, code = "Cancelled", None
    elif code is None:
        status = "TimedOut"
    else:
        status = "Success" if code == 0 else "Failed"
    invocation.update(
        Status=status,
        StatusDetails="ExecutionTimedOut" if status == "TimedOut" else status,
        ResponseCode=-1 if code is None else code,
        StandardOutputContent=stdout,
        StandardErrorContent=stderr,
    )
    path.unlink(missing_ok=True)


def _kill(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def _script(parameters: dict[str, Any]) -> str:
    commands = parameters.get("commands") or []
    return "\n".join(commands if isinstance(commands, list) else [str(commands)]) + "\n"


def _execution_timeout(parameters: dict[str, Any]) -> int:
    value = (parameters.get("executionTimeout") or [str(DEFAULT_EXECUTION_TIMEOUT)])[0]
    try:
        return max(1, int(str(value)))
    except ValueError:
        return DEFAULT_EXECUTION_TIMEOUT


def install() -> None:
    """``SendCommand`` of ``AWS-RunShellScript`` runs; ``CancelCommand`` exists and stops it."""
    from moto.ec2.models import ec2_backends
    from moto.ssm.exceptions import SSMException
    from moto.ssm.models import SimpleSystemManagerBackend
    from moto.ssm.responses import SimpleSystemManagerResponse

    original = SimpleSystemManagerBackend.send_command
    if getattr(original, "stackproof", False):
        return
    from moto.core.responses import ActionResult

    def send_command(self: SimpleSystemManagerBackend, *args: Any, **kwargs: Any) -> Any:
        instance_ids = list(kwargs.get("instance_ids") or [])
        ec2 = ec2_backends[self.account_id][self.region_name]
        known = {i.id: i for r in ec2.all_reservations() for i in r.instances}
        invalid = [i for i in instance_ids if i not in known or known[i].state != "running"]
        if invalid:
            raise SSMException("InvalidInstanceId", f"Instances {invalid} not in a valid state for account")
        command = original(self, *args, **kwargs)
        if not kwargs.get("targets"):
            # moto adds the instances its Targets filter matches, and an empty filter matches every
            # instance of the region: a command for one instance ran on all of them.
            command.instance_ids = list(instance_ids)
            command.invocations = [i for i in command.invocations if i["InstanceId"] in instance_ids]
            command.completed_count = command.target_count = len(instance_ids)
        if command.document_name != "AWS-RunShellScript":
            return command
        parameters = kwargs.get("parameters") or {}
        script, timeout = _script(parameters), _execution_timeout(parameters)
        command.status = "InProgress"
        for invocation in command.invocations:
            invocation.update(
                Status="InProgress", StatusDetails="InProgress", ResponseCode=-1, StandardOutputContent=""
            )
            instance = known[invocation["InstanceId"]]
            key = f"{command.command_id}/{instance.id}"
            where = (self.account_id, self.region_name, instance)
            threading.Thread(
                target=_run, args=(invocation, key, script, where, timeout), name=f"ssm {key}", daemon=True
            ).start()
        return command

    def cancel_command(self: SimpleSystemManagerBackend, command_id: str, instance_ids: list[str]) -> None:
        command = self.get_command_by_id(command_id)
        for invocation in command.invocations:
            if instance_ids and invocation["InstanceId"] not in instance_ids:
                continue
            if invocation.get("Status") in ("Pending", "InProgress"):
                invocation.update(Status="Cancelling", StatusDetails="Cancelling")
                with _lock:
                    process = _running.get(f"{command_id}/{invocation['InstanceId']}")
                if process is not None:
                    _kill(process)

    def cancel_response(self: SimpleSystemManagerResponse) -> ActionResult:
        self.ssm_backend.cancel_command(self._get_param("CommandId"), self._get_param("InstanceIds", []))  # type: ignore[attr-defined]
        return ActionResult({})

    send_command.stackproof = True  # type: ignore[attr-defined]
    SimpleSystemManagerBackend.send_command = send_command  # type: ignore[method-assign]
    SimpleSystemManagerBackend.cancel_command = cancel_command  # type: ignore[attr-defined]
    SimpleSystemManagerResponse.cancel_command = cancel_response  # type: ignore[attr-defined]


def reset() -> None:
    """Stop what still runs and remove every sandbox (the end of an emulator session)."""
    global _root
    with _lock:
        running = list(_running.values())
        _running.clear()
        _sandboxes.clear()
    for process in running:
        _kill(process)
    if _root is not None:
        shutil.rmtree(_root, ignore_errors=True)
        _root = None
