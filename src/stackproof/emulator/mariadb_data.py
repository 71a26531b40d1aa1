"""MariaDB as the data plane of moto's RDS instances, where ``mariadbd`` is installed (CI
installs Debian's ``mariadb-server``): each emulated DB instance a drill writes to is a real
MariaDB server on a loopback port with its own data directory; a DB snapshot is a dump of it;
restoring the snapshot to a new instance loads the dump into a new server; deleting the
instance stops and removes its server. So the canary rows a drill writes, loses and gets back
are real rows. Where MariaDB is missing, :func:`unavailable` says why and the drills verify no
rows (SKIP with that reason, never PASS).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stackproof.support.ports import free_port

TOOLS = ("mariadbd", "mariadb-install-db", "mariadb-dump", "mariadb")
# A directory holding TOOLS, or "none" to run as if MariaDB were not installed; unset: PATH,
# then /usr/sbin (where Debian puts mariadbd, off the PATH of users other than root).
LOCATION = "STACKPROOF_MARIADB"
INSTALL_HINT = (
    "install Debian's mariadb-server (apt-get install mariadb-server) or point "
    f"{LOCATION} at the directory that holds mariadbd"
)


def _find(name: str) -> str | None:
    configured = os.environ.get(LOCATION)
    if configured is not None:
        candidate = Path(configured, name)
        return str(candidate) if configured.lower() != "none" and candidate.is_file() else None
    found = shutil.which(name)
    if found is not None:
        return found
    fallback = Path("/usr/sbin", name)
    return str(fallback) if fallback.is_file() else None


def unavailable() -> str | None:
    missing = [t for t in TOOLS if _find(t) is None]
    if missing:
        where = f" in {LOCATION}={os.environ[LOCATION]}" if LOCATION in os.environ else ""
        return f"MariaDB is not installed here ({', '.join(missing)} not found{where}); {INSTALL_HINT}"
    try:
        import pymysql  # noqa: F401
    except ImportError:
        return "the PyMySQL client is not installed (pip install pymysql)"
    return None


def _tool(name: str) -> str:
    found = _find(name)
    if found is None:
        raise FileNotFoundError(f"{name}: {unavailable()}")
    return found


@dataclass
class Server:
    instance_id: str
    directory: Path
    port: int
    process: subprocess.Popen[bytes]

    @property
    def socket(self) -> str:
        return str(self.directory / "mysqld.sock")

    def root(self, sql: str, database: str | None = None) -> None:
        command = [_tool("mariadb"), "--no-defaults", f"--socket={self.socket}", "-uroot"]
        if database:
            command.append(database)
        subprocess.run(command, input=sql.encode(), check=True, capture_output=True, timeout=60)

    def connect(self, user: str, password: str, database: str | None = None) -> Any:
        import pymysql

        return pymysql.connect(
            host="127.0.0.1", port=self.port, user=user, password=password, database=database, autocommit=True
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        shutil.rmtree(self.directory, ignore_errors=True)


_servers: dict[str, Server] = {}
_dumps: dict[str, Path] = {}
_store: Path | None = None


def _root_dir() -> Path:
    global _store
    if _store is None:
        _store = Path(tempfile.mkdtemp(prefix="stackproof-mariadb-"))
    return _store


def ca_file() -> Path:
    """The CA that signed every emulated server's certificate (made once per process): what a
    client verifies the server against, as it would against the RDS CA bundle."""
    directory = _root_dir() / "tls"
    if not (directory / "server-key.pem").is_file():
        _make_certificates(directory)
    return directory / "ca.pem"


def _make_certificates(directory: Path) -> None:
    """A CA and a server certificate for 127.0.0.1 (the servers listen on loopback only), so the
    servers speak TLS and a client can verify them by name."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "stackproof emulated RDS CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    server = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    (directory / "ca.pem").write_bytes(ca.public_bytes(pem))
    (directory / "server-cert.pem").write_bytes(server.public_bytes(pem))
    (directory / "server-key.pem").write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    (directory / "server-key.pem").chmod(0o600)


def _start(instance_id: str) -> Server:
    directory = _root_dir() / instance_id
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    user = ["--user=root"] if os.geteuid() == 0 else []
    installed = subprocess.run(
        [
            _tool("mariadb-install-db"),
            "--no-defaults",
            f"--datadir={directory / 'data'}",
            "--auth-root-authentication-method=socket",
            "--skip-test-db",
            *user,
        ],
        check=False,
        capture_output=True,
        timeout=120,
    )
    if installed.returncode != 0:
        said = (installed.stderr or installed.stdout).decode("utf-8", "replace").strip()[-500:]
        raise RuntimeError(f"mariadb-install-db for {instance_id} exited {installed.returncode}: {said}")
    port = free_port()
    process = subprocess.Popen(
        [
            _tool("mariadbd"),
            "--no-defaults",
            f"--datadir={directory / 'data'}",
            f"--socket={directory / 'mysqld.sock'}",
            f"--port={port}",
            "--bind-address=127.0.0.1",
            f"--log-error={directory / 'error.log'}",
            f"--pid-file={directory / 'mysqld.pid'}",
            "--skip-log-bin",
            # TLS as RDS offers it (clients choose; require_secure_transport stays off, as RDS's default)
            f"--ssl-ca={ca_file()}",
            f"--ssl-cert={ca_file().parent / 'server-cert.pem'}",
            f"--ssl-key={ca_file().parent / 'server-key.pem'}",
            *user,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server = Server(instance_id, directory, port, process)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"mariadbd for {instance_id} exited: {(directory / 'error.log').read_text()[-500:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            time.sleep(0.1)
    else:
        server.stop()
        raise RuntimeError(f"mariadbd for {instance_id} did not answer within 60 s")
    _servers[instance_id] = server
    return server


def server_for(instance_id: str, user: str, password: str) -> Server:
    """The instance's server, started with its master user on first use."""
    if instance_id in _servers:
        return _servers[instance_id]
    server = _start(instance_id)
    quoted = password.replace("\\", "\\\\").replace("'", "\\'")
    server.root(
        f"CREATE USER '{user}'@'%' IDENTIFIED BY '{quoted}'; GRANT ALL ON *.* TO '{user}'@'%' WITH GRANT OPTION;"
    )
    return server


def running() -> list[str]:
    return sorted(_servers)


def ports() -> dict[str, int]:
    """DB instance identifier -> the loopback port its server listens on."""
    return {name: server.port for name, server in sorted(_servers.items())}


def client() -> str:
    """The ``mariadb`` client binary (FileNotFoundError with the install hint when missing)."""
    return _tool("mariadb")


def on_snapshot(instance_id: str, snapshot_id: str) -> None:
    server = _servers.get(instance_id)
    if server is None:
        return
    dump = _root_dir() / f"{snapshot_id}.sql"
    with dump.open("wb") as out:
        subprocess.run(
            [
                _tool("mariadb-dump"),
                "--no-defaults",
                f"--socket={server.socket}",
                "-uroot",
                "--all-databases",
                "--single-transaction",
            ],
            stdout=out,
            check=True,
            timeout=300,
        )
    _dumps[snapshot_id] = dump


def on_restore(snapshot_id: str, instance_id: str) -> None:
    dump = _dumps.get(snapshot_id)
    if dump is None:
        return
    server = _start(instance_id)
    server.root(dump.read_text(encoding="utf-8") + "\nFLUSH PRIVILEGES;\n")


def on_delete_snapshot(snapshot_id: str) -> None:
    dump = _dumps.pop(snapshot_id, None)
    if dump is not None:
        dump.unlink(missing_ok=True)


def on_delete(instance_id: str) -> None:
    server = _servers.pop(instance_id, None)
    if server is not None:
        server.stop()


def reset() -> None:
    global _store
    for instance_id in list(_servers):
        on_delete(instance_id)
    _dumps.clear()
    if _store is not None:
        shutil.rmtree(_store, ignore_errors=True)
        _store = None


def install() -> None:
    """Snapshots, restores and deletions in moto's RDS reach the servers."""
    from moto.rds.models import RDSBackend

    if getattr(RDSBackend.create_db_snapshot, "stackproof", False):
        return
    create, restore = RDSBackend.create_db_snapshot, RDSBackend.restore_db_instance_from_db_snapshot
    delete, delete_snapshot = RDSBackend.delete_db_instance, RDSBackend.delete_db_snapshot

    def create_db_snapshot(
        self: RDSBackend, db_instance_identifier: Any, db_snapshot_identifier: str, *a: Any, **k: Any
    ) -> Any:
        made = create(self, db_instance_identifier, db_snapshot_identifier, *a, **k)
        identifier = (
            db_instance_identifier
            if isinstance(db_instance_identifier, str)
            else db_instance_identifier.db_instance_identifier
        )
        on_snapshot(identifier, db_snapshot_identifier)
        return made

    def restore_db_instance_from_db_snapshot(
        self: RDSBackend, from_snapshot_id: str, overrides: Any, *a: Any, **k: Any
    ) -> Any:
        made = restore(self, from_snapshot_id, overrides, *a, **k)
        on_restore(from_snapshot_id.rsplit(":snapshot:", 1)[-1], made.db_instance_identifier)
        return made

    def delete_db_instance(self: RDSBackend, db_instance_identifier: str, *a: Any, **k: Any) -> Any:
        gone = delete(self, db_instance_identifier, *a, **k)
        on_delete(db_instance_identifier)
        return gone

    def delete_db_snapshot(self: RDSBackend, db_snapshot_identifier: str) -> Any:
        gone = delete_snapshot(self, db_snapshot_identifier)
        on_delete_snapshot(db_snapshot_identifier)
        return gone

    create_db_snapshot.stackproof = True  # type: ignore[attr-defined]
    RDSBackend.create_db_snapshot = create_db_snapshot  # type: ignore[method-assign]
    RDSBackend.restore_db_instance_from_db_snapshot = restore_db_instance_from_db_snapshot  # type: ignore[method-assign]
    RDSBackend.delete_db_instance = delete_db_instance  # type: ignore[method-assign]
    RDSBackend.delete_db_snapshot = delete_db_snapshot  # type: ignore[method-assign]
