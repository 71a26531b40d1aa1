"""The restore drills' data plane on a live account: canary rows and files written, broken and
verified on the stack's application instances through SSM Run Command
(:mod:`stackproof.targets.ssm_run`), the way seed 002 reaches them ("log into your application
server using the session manager"). On the emulator the same scripts run in the instance
sandboxes of :mod:`stackproof.emulator.ssm_sandbox`.

Rows: seed 002's recipe, a pinned ``mariadb`` client container on the instance. The credentials
are read on the instance from ``dashboard.env``, which the bootstrap wrote; they never travel
as a parameter and the password reaches the client through ``MYSQL_PWD``, not its command line.
TLS is required (``--ssl``) and proven, not assumed: each session prints its ``Ssl_cipher``, and
an empty one stops the script. The server certificate is verified when the instance holds a CA
bundle at :data:`CA_FILE`; what was used ("TLS_AES_256_GCM_SHA384, certificate verified" or
"... certificate not verified: no CA bundle") is recorded in ``drill.data["tls"]`` for the
verdict.

Files: under the dashboard's data directory on the EFS mount (``/mnt/efs/panintelligence``),
checksummed on the instance.

A command that did not run (no instance in service, not delivered, timed out) raises
:class:`StepFailed` naming the SSM status; before a drill, :func:`probe_rows` and
:func:`probe_files` say whether the data plane can be reached at all, so the scenario reports
SKIP with that reason instead of a failure nobody caused.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

from stackproof.drills import journal
from stackproof.drills.engine import Drill, StepFailed
from stackproof.targets.ssm_run import CommandResult, in_service_instances, run_script

CLIENT_IMAGE = "mariadb:10.11.9"  # the pinned client container (seed 002: docker run mariadb ...)
ENV_FILE = "/var/panintelligence/dashboard.env"
CA_FILE = "/var/panintelligence/rds-ca.pem"
DATA_DIR = "/mnt/efs/panintelligence"  # the bootstrap's DATA_DIR: the access point's root, mounted
MOUNT = "/mnt/efs"
TIMEOUT = 120.0
_NAME = re.compile(r"^[A-Za-z0-9_]{1,64}$")  # a database or table name, used unquoted inside backticks
_VALUE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")  # a canary row's name or payload, inside single quotes
_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,200}$")

# Reads the env file on the instance; connects with TLS; prints "tls <cipher> <verified>",
# "host <host> <port>", then what the SQL on stdin prints.
_SQL = r"""set -euo pipefail
ENV_FILE=__ENV__
CA=__CA__
[ -r "$ENV_FILE" ] || { echo "stackproof: $ENV_FILE is not readable" >&2; exit 90; }
setting() { sed -n "s/^$1=//p" "$ENV_FILE" | head -n 1; }
HOST=__HOST__
PORT=__PORT__
DB_USER=$(setting PI_DB_USERNAME)
MYSQL_PWD=$(setting PI_DB_PASSWORD)
export MYSQL_PWD
DOCKER=(docker run --rm -i --network host -e MYSQL_PWD)
TLS=(--ssl)
VERIFIED="certificate not verified: no CA bundle at $CA"
if [ -r "$CA" ]; then
  DOCKER+=(-v "$CA:$CA:ro")
  TLS+=("--ssl-ca=$CA" --ssl-verify-server-cert)
  VERIFIED="certificate verified against $CA"
fi
echo "host	$HOST	$PORT"
OUT=$("${DOCKER[@]}" __IMAGE__ mariadb "--host=$HOST" "--port=$PORT" "--user=$DB_USER" "${TLS[@]}" \
  --batch --skip-column-names <<'STACKPROOF_SQL'
SELECT 'tls', VARIABLE_VALUE FROM information_schema.SESSION_STATUS WHERE VARIABLE_NAME = 'Ssl_cipher';
__SQL__
STACKPROOF_SQL
)
CIPHER=$(printf '%s\n' "$OUT" | sed -n 's/^tls\t//p')
[ -n "$CIPHER" ] || { echo "stackproof: the database session is not encrypted" >&2; exit 91; }
echo "tls	$CIPHER	$VERIFIED"
printf '%s\n' "$OUT" | grep -v '^tls	' || true
"""


def sql_script(sql: str, host: str | None = None, port: int | str | None = None) -> str:
    """A script that runs ``sql`` on the database at ``host``:``port`` (None: the one the
    instance's env file names) as the env file's user, over TLS."""
    if host is not None and not re.fullmatch(r"[A-Za-z0-9.-]+", host):
        raise ValueError(f"not a host name: {host!r}")
    if port is not None and not str(port).isdigit():
        raise ValueError(f"not a port: {port!r}")
    return (
        _SQL.replace("__ENV__", ENV_FILE)
        .replace("__CA__", CA_FILE)
        .replace("__HOST__", host if host else "$(setting PI_DB_HOST)")
        .replace("__PORT__", str(port) if port is not None else "$(setting PI_DB_PORT)")
        .replace("__IMAGE__", CLIENT_IMAGE)
        .replace("__SQL__", sql)
    )


class Fleet(NamedTuple):
    """Where the scripts run: the stack's Auto Scaling group, reached with ``client``."""

    client: Callable[..., Any]
    group: str

    @classmethod
    def of(cls, stack: Any) -> Fleet:
        return cls(stack.client, stack.physical("AutoScalingGroup"))


def instances(fleet: Fleet) -> list[str]:
    found = in_service_instances(fleet.client, fleet.group)
    if not found:
        raise StepFailed(f"no instance of {fleet.group} is InService: nothing to run the data plane on")
    return found


def _tail(text: str) -> str:
    return text.strip().splitlines()[-1][:300] if text.strip() else ""


def run(fleet: Fleet, script: str, what: str, everywhere: bool = False) -> list[CommandResult]:
    """Run ``script`` on the group's first InService instance (every one with ``everywhere``);
    StepFailed unless it ran to the end, exited 0 and its output was not cut."""
    ids = instances(fleet)
    chosen = ids if everywhere else ids[:1]
    results = run_script(fleet.client, chosen, script, timeout=TIMEOUT, comment=f"stackproof {what}")
    for result in results:
        if result.exit_code is None:
            raise StepFailed(
                f"{what}: the command did not run on {result.instance_id} (SSM {result.status}): {_tail(result.stderr)}"
            )
        if not result.ok:
            raise StepFailed(f"{what} on {result.instance_id} exited {result.exit_code}: {_tail(result.stderr)}")
        if result.truncated:
            raise StepFailed(f"{what} on {result.instance_id}: output cut by SSM, so not all of it can be judged")
    return results


def _fields(result: CommandResult, tag: str) -> list[list[str]]:
    return [line.split("\t")[1:] for line in result.stdout.splitlines() if line.split("\t", 1)[0] == tag]


def _record_tls(drill: Drill | None, result: CommandResult) -> tuple[str, str]:
    """The session's (cipher, verification), recorded on the drill; StepFailed without one."""
    found = _fields(result, "tls")
    if not found or len(found[0]) < 2 or not found[0][0]:
        raise StepFailed(f"{result.instance_id}: the database session's TLS cipher was not reported")
    cipher, verified = found[0][0], found[0][1]
    if drill is not None:
        drill.data["tls"] = f"{cipher}, {verified}"
    return cipher, verified


def _checked(*names: str) -> None:
    for name in names:
        if not _NAME.match(name):
            raise ValueError(f"not a plain SQL name: {name!r}")


def write_rows(
    drill: Drill, fleet: Fleet, database: str, table: str, rows: dict[str, str], host: str, port: int | str
) -> None:
    """Insert ``rows`` (name -> payload, both plain hex/word text) into ``database``.``table``."""
    _checked(database, table)
    bad = [v for v in (*rows, *rows.values()) if not _VALUE.match(v)]
    if bad:
        raise ValueError(f"not plain canary values: {bad!r}")
    values = ", ".join(f"('{name}', '{payload}')" for name, payload in rows.items())
    sql = (
        f"CREATE DATABASE IF NOT EXISTS `{database}`;\n"
        f"CREATE TABLE IF NOT EXISTS `{database}`.`{table}` (name VARCHAR(64) PRIMARY KEY, payload CHAR(64));\n"
        # REPLACE, not INSERT: SendCommand has no idempotency token, and a send retried after a
        # lost answer runs the script twice; the same rows twice must not fail the drill.
        f"REPLACE INTO `{database}`.`{table}` VALUES {values};"
    )
    (result,) = run(fleet, sql_script(sql, host, port), "write canary rows")
    _record_tls(drill, result)


def read_rows(
    drill: Drill | None, fleet: Fleet, database: str, table: str, host: str | None = None, port: int | str | None = None
) -> tuple[dict[str, str], str]:
    """(name -> sha256 of payload, the host the instance read from); ``host`` None reads the
    database the instance's env file names (what the dashboard uses)."""
    _checked(database, table)
    sql = f"SELECT 'row', name, SHA2(payload, 256) FROM `{database}`.`{table}`;"
    (result,) = run(fleet, sql_script(sql, host, port), "read canary rows")
    _record_tls(drill, result)
    used = _fields(result, "host")
    return {r[0]: r[1] for r in _fields(result, "row") if len(r) >= 2}, used[0][0] if used else "?"


def drop_table(fleet: Fleet, database: str, table: str, host: str, port: int | str) -> None:
    _checked(database, table)
    run(fleet, sql_script(f"DROP TABLE IF EXISTS `{database}`.`{table}`;", host, port), "drop canary table")


def probe_rows(fleet: Fleet) -> str | None:
    """Why rows cannot be written and read through the instances (None: they can)."""
    try:
        (result,) = run(fleet, sql_script("SELECT 'probe', 1;"), "probe the database")
        _record_tls(None, result)
    except StepFailed as exc:
        return f"the database cannot be reached from the instances through SSM: {exc}"
    return None


def _keys(keys: Iterable[str]) -> list[str]:
    found = list(keys)
    for key in found:
        if not _KEY.match(key) or ".." in key.split("/"):
            raise ValueError(f"not a canary path: {key!r}")
    return found


def write_files(fleet: Fleet, keys: Iterable[str]) -> dict[str, str]:
    """A random 4 KiB file at each key under the data directory; key -> sha256."""
    lines = ["set -euo pipefail", f"[ -d {MOUNT} ] || {{ echo 'no {MOUNT} on the instance' >&2; exit 90; }}"]
    for key in _keys(keys):
        path = f"{DATA_DIR}/{key}"
        lines += [f"mkdir -p \"$(dirname '{path}')\"", f"head -c 4096 /dev/urandom > '{path}'"]
        lines.append(f"printf 'file\\t%s\\t%s\\n' '{key}' \"$(sha256sum '{path}' | cut -d' ' -f1)\"")
    (result,) = run(fleet, "\n".join(lines), "write canary files")
    written = {r[0]: r[1] for r in _fields(result, "file") if len(r) >= 2}
    if set(written) != set(keys):
        raise StepFailed(f"canary files written: {sorted(written)}; expected {sorted(keys)}")
    return written


def file_checksums(fleet: Fleet, keys: Iterable[str]) -> dict[str, str]:
    """key -> sha256 of the canary files present under the data directory."""
    lines = ["set -uo pipefail"]
    for key in _keys(keys):
        path = f"{DATA_DIR}/{key}"
        lines.append(f"[ -f '{path}' ] && printf 'file\\t%s\\t%s\\n' '{key}' \"$(sha256sum '{path}' | cut -d' ' -f1)\"")
    lines.append("exit 0")
    (result,) = run(fleet, "\n".join(lines), "checksum canary files")
    return {r[0]: r[1] for r in _fields(result, "file") if len(r) >= 2}


def delete_files(fleet: Fleet, keys: Iterable[str], everywhere: bool = False) -> None:
    script = "\n".join(["set -uo pipefail", *(f"rm -f '{DATA_DIR}/{k}'" for k in _keys(keys)), "exit 0"])
    run(fleet, script, "delete canary files", everywhere=everywhere)


def move_out_of_restore_directory(fleet: Fleet) -> str:
    """Seed 002 step 12: the restored data sits in ``aws-backup-restore_<timestamp>`` at the
    root of the new file system; merge it into the root (the new instances' bootstrap may
    already have made the data directories) and remove it. The directory's name."""
    script = f"""set -euo pipefail
shopt -s nullglob
found=({MOUNT}/aws-backup-restore_*)
if [ "${{#found[@]}}" -ne 1 ]; then
  echo "expected one aws-backup-restore_<timestamp> directory, found ${{#found[@]}}" >&2
  exit 92
fi
cp -a "${{found[0]}}/." {MOUNT}/
rm -rf "${{found[0]}}"
printf 'moved\\t%s\\n' "$(basename "${{found[0]}}")"
"""
    (result,) = run(fleet, script, "move the restored data out")
    moved = _fields(result, "moved")
    return moved[0][0] if moved else "?"


def probe_files(fleet: Fleet) -> str | None:
    """Why canary files cannot be written on the instances' EFS mount (None: they can)."""
    script = (
        f"set -euo pipefail\n[ -d {MOUNT} ] || {{ echo 'no {MOUNT} on the instance' >&2; exit 90; }}\ntest -w {MOUNT}"
    )
    try:
        run(fleet, script, "probe the file system mount")
    except StepFailed as exc:
        return f"the file system cannot be written through the instances: {exc}"
    return None


# ----------------------------------------------------------------------------------- cleanup


def on_cleanup(drill: Drill, what: str, kind: str, params: dict[str, Any], region: str | None) -> None:
    """Journal the undo of a canary write before the write: data (the group, the names), so
    ``stackproof drill --cleanup`` can finish it from another process; never a credential."""
    drill.on_cleanup(what, journal.Undo(kind, params, region))


@journal.kind("instance.drop-canary-table")
def _undo_drop_table(client: Callable[..., Any], p: dict[str, Any]) -> None:
    """Drop the canary table on the database it was written to, if that database still exists
    (a database the drill deleted is gone with its rows)."""
    rds = client("rds")
    try:
        (found,) = rds.describe_db_instances(DBInstanceIdentifier=p["instance"])["DBInstances"]
    except Exception as exc:
        if "DBInstanceNotFound" in str(getattr(exc, "response", {}).get("Error", {}).get("Code", "")):
            return
        raise
    endpoint = found["Endpoint"]
    drop_table(Fleet(client, p["group"]), p["database"], p["table"], endpoint["Address"], endpoint["Port"])


@journal.kind("instance.delete-canary-files")
def _undo_delete_files(client: Callable[..., Any], p: dict[str, Any]) -> None:
    """Remove the canary files from the file system every InService instance mounts."""
    delete_files(Fleet(client, p["group"]), p["keys"], everywhere=True)
