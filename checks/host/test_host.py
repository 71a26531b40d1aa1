"""Host checks: what an instance shows from inside (seed 002's troubleshooting steps and the
bootstrap's promises), asked through testinfra over SSM Run Command (the ``host`` fixture).

Every command's failure to run is ERROR (the backend raises); a command that ran but cannot
answer (a non-zero exit where output was needed) is ERROR too, through :func:`output`. Only an
answer that shows the promise broken is FAIL, with what the host showed as evidence. Secrets
never leave the instance: the env file is judged by ``stat`` and ``grep``, never read back.
"""

from __future__ import annotations

from typing import Any

import pytest

from stackproof.checking import Undecidable, findings

MOUNT_POINT = "/mnt/efs"
TLS_TUNNEL_PORTS = range(20049, 20450)  # where mount.efs's TLS tunnel (stunnel / efs-proxy) listens
ENV_FILE = "/var/panintelligence/dashboard.env"
LOCAL_DATABASES = ("localhost", "127.0.0.1", "::1", "mariadb", "mysql", "db")
DATABASE_IMAGES = ("mariadb", "mysql")
SSM_AGENT_UNITS = "amazon-ssm-agent snap.amazon-ssm-agent.amazon-ssm-agent"
IMDS = "http://169.254.169.254/latest/meta-data/"
# Pinned, as the drills pin it: a 10.11 client asks for TLS with --ssl without insisting on a
# CA bundle (11.4's verifies the server certificate by default, and RDS's needs its own CA).
MARIADB_CLIENT = "mariadb:10.11.9"
# Seed 002's recipe, run on the instance: the settings read from the env file there (never
# sourced: a password is data, not shell), the password handed to the client container by name
# (-e MYSQL_PWD), so it is neither in the script SSM keeps nor on a command line.
DATABASE_OVER_TLS = f"""set -euo pipefail
setting() {{ sed -n "s/^$1=//p" {ENV_FILE} | head -n 1; }}
MYSQL_PWD=$(setting PI_DB_PASSWORD)
export MYSQL_PWD
docker run --rm --network host -e MYSQL_PWD {MARIADB_CLIENT} mariadb "--host=$(setting PI_DB_HOST)" \\
  "--port=$(setting PI_DB_PORT)" "--user=$(setting PI_DB_USERNAME)" --ssl --batch --skip-column-names \\
  -e "SHOW SESSION STATUS LIKE 'Ssl_version'"
"""


def instance(host: Any) -> str:
    return str(host.backend.hostname)


def output(host: Any, command: str) -> str:
    """The command's stdout; ERROR when it exited non-zero (the host could not answer)."""
    result = host.run(command)
    if result.rc != 0:
        lines = result.stderr.strip().splitlines()
        raise Undecidable(f"{instance(host)}: `{command}` exited {result.rc}: {lines[-1] if lines else 'no message'}")
    return str(result.stdout)


def env_value(host: Any, name: str) -> str | None:
    """One non-secret setting of the env file, read on the instance (never the file itself)."""
    found = host.run(f"grep -E '^{name}=' {ENV_FILE}")
    if found.rc == 1:
        return None
    if found.rc != 0:
        raise Undecidable(f"{instance(host)}: cannot read {name} from {ENV_FILE} (grep exited {found.rc})")
    return str(found.stdout).strip().splitlines()[-1].partition("=")[2]


@pytest.mark.control("HST-01")
def test_efs_is_mounted_through_the_tls_tunnel(host: Any) -> None:
    entries = [line.split() for line in output(host, "cat /proc/mounts").splitlines()]
    mounts = [e for e in entries if len(e) >= 4 and e[1] == MOUNT_POINT]
    with findings() as f:
        if not mounts:
            f.fail(f"{instance(host)}: nothing is mounted at {MOUNT_POINT}", expected="EFS through mount.efs -o tls")
        for source, _, kind, options in (m[:4] for m in mounts):
            settings = dict(o.partition("=")[::2] for o in options.split(","))
            port = int(settings.get("port") or 0) if settings.get("port", "").isdigit() else 0
            if not (kind.startswith("nfs") and source.startswith("127.0.0.1:") and port in TLS_TUNNEL_PORTS):
                f.fail(
                    f"{instance(host)}: {MOUNT_POINT} is mounted without TLS",
                    observed=f"{source} {kind} port={port or 'default'}",
                    expected="nfs4 from 127.0.0.1 on the TLS tunnel's port (20049-20449)",
                )


@pytest.mark.control("HST-02")
def test_dashboard_containers_run_and_no_local_database(host: Any) -> None:
    listed = output(host, "docker ps --all --format '{{.Names}}\t{{.Image}}\t{{.State}}'")
    containers = [line.split("\t") for line in listed.splitlines() if line.count("\t") >= 2]
    database_host = env_value(host, "PI_DB_HOST")
    external = database_host is not None and database_host not in LOCAL_DATABASES
    with findings() as f:
        if not containers:
            f.fail(f"{instance(host)}: no container at all", expected="the dashboard's containers running")
        for name, image, state in (c[:3] for c in containers):
            database = any(image.split("/")[-1].startswith(d) for d in DATABASE_IMAGES)
            if database and state == "running" and external:
                f.fail(
                    f"{instance(host)}: a local database container runs while the dashboard uses {database_host}",
                    observed=f"{name} ({image}) {state}",
                    expected="not running (seed 002: all running other than the MariaDB)",
                )
            elif not database and state != "running":
                f.fail(
                    f"{instance(host)}: container {name} is not running",
                    observed=f"{image} {state}",
                    expected="running",
                )
        if database_host is None:
            f.fail(
                f"{instance(host)}: {ENV_FILE} names no database (PI_DB_HOST)", expected="PI_DB_HOST=the RDS endpoint"
            )


@pytest.mark.control("HST-03")
def test_env_file_is_root_only_and_asks_for_tls(host: Any) -> None:
    env = host.file(ENV_FILE)
    with findings() as f:
        if not env.exists:
            f.fail(f"{instance(host)}: {ENV_FILE} does not exist", expected="written by the bootstrap")
            return
        owner = f"{env.user}:{env.group}"
        if owner != "root:root" or env.mode != 0o600:
            f.fail(
                f"{instance(host)}: {ENV_FILE} holds the database credentials and is not root-only",
                observed=f"{owner} {env.mode:04o}",
                expected="root:root 0600",
            )
        ssl = env_value(host, "PI_DB_SSL")
        if (ssl or "").strip().lower() != "true":
            f.fail(
                f"{instance(host)}: the dashboard does not ask for TLS to the database",
                observed=f"PI_DB_SSL={ssl}",
                expected="PI_DB_SSL=true",
            )


@pytest.mark.control("HST-04")
def test_ssm_agent_is_running(host: Any) -> None:
    answer = host.run(f"systemctl is-active {SSM_AGENT_UNITS}")
    states = str(answer.stdout).split()
    with findings() as f:
        if "active" not in states:
            f.fail(
                f"{instance(host)}: the SSM agent is not active",
                observed=" ".join(states) or f"exit {answer.rc}",
                expected="active",
            )


@pytest.mark.control("HST-05")
def test_nothing_listens_on_port_22(host: Any) -> None:
    listening = [line.split() for line in output(host, "ss -Hltn").splitlines()]
    on_22 = [fields[3] for fields in listening if len(fields) > 3 and fields[3].rpartition(":")[2] == "22"]
    with findings() as f:
        if on_22:
            f.fail(
                f"{instance(host)}: something listens on TCP port 22",
                observed=", ".join(on_22),
                expected="nothing (Session Manager only)",
            )


@pytest.mark.control("HST-06")
def test_metadata_service_refuses_requests_without_a_token(host: Any) -> None:
    answer = host.run(f"curl -s -o /dev/null -w '%{{http_code}}' --max-time 5 {IMDS}")
    code = str(answer.stdout).strip()
    with findings() as f:
        if answer.rc == 7:
            return  # connection refused: the metadata service answers no one without a token either
        if answer.rc != 0:
            raise Undecidable(f"{instance(host)}: curl to the metadata service exited {answer.rc}")
        if code == "200":
            f.fail(
                f"{instance(host)}: the metadata service answers without a session token (IMDSv1)",
                observed="HTTP 200",
                expected="HTTP 401",
            )
        elif code != "401":
            raise Undecidable(f"{instance(host)}: the metadata service answered HTTP {code or 'nothing'}")


@pytest.mark.control("HST-07")
def test_database_is_reachable_over_tls(host: Any) -> None:
    answer = host.run(DATABASE_OVER_TLS)
    with findings() as f:
        if answer.rc != 0:
            lines = str(answer.stderr).strip().splitlines()
            f.fail(
                f"{instance(host)}: the database cannot be reached over TLS",
                observed=lines[-1] if lines else f"exit {answer.rc}",
                expected="a TLS session",
            )
            return
        version = str(answer.stdout).split()[-1] if str(answer.stdout).split() else ""
        if version not in ("TLSv1.2", "TLSv1.3"):
            f.fail(
                f"{instance(host)}: the database session is not TLS 1.2 or newer",
                observed=version or "no TLS",
                expected="TLSv1.2 or TLSv1.3",
            )
