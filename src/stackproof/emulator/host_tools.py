"""The commands an emulated instance has instead of the real ones (``mount``, ``docker``,
``systemctl``, ``ss``, ``curl``, ``aws``, ``jq``, ``stat``, ``apt-get``): one standalone script,
linked under each name into a sandbox's ``bin`` and dispatched on the name it was called by.

Why stubs and not the real tools: the bootstrap must run unchanged (as far as it can) without
root, a kernel mount, a Docker daemon or the network, and the host checks must then read the
state it left. Each stub records what it was asked to do in JSON files under
``$SANDBOX_STATE`` and answers later questions from them, as the real host would. It imports
nothing of stackproof (it runs as its own process) and never opens a socket: ``curl`` answers
only the instance metadata service, from what the emulator wrote, and refuses every other URL.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

STATE = Path(os.environ.get("SANDBOX_STATE", "."))
ROOT = os.environ.get("SANDBOX_ROOT", "")
TLS_PORT = 20049  # where mount.efs's TLS tunnel (stunnel / efs-proxy) listens for the first mount


def load(name: str, default: Any) -> Any:
    path = STATE / f"{name}.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else default


def save(name: str, value: Any) -> None:
    (STATE / f"{name}.json").write_text(json.dumps(value, indent=1), encoding="utf-8")


def fail(message: str, code: int = 1) -> int:
    print(message, file=sys.stderr)
    return code


# mount, mountpoint ---------------------------------------------------------------------------


def mounts_file() -> Path:
    return Path(ROOT) / "proc" / "mounts"


def mounted(point: str) -> bool:
    lines = mounts_file().read_text(encoding="utf-8").splitlines() if mounts_file().exists() else []
    return any(line.split()[1] == point for line in lines if len(line.split()) > 1)


def kernel_line(source: str, point: str, kind: str, options: list[str]) -> str:
    """What the kernel shows for a mount: mount.efs consumes ``tls``, so a TLS mount is NFS to
    the local tunnel (127.0.0.1, a port from 20049), a plain one NFS to the file system's DNS."""
    region = load("instance", {}).get("region", "us-east-1")
    common = "rw,relatime,vers=4.1,rsize=1048576,wsize=1048576,namlen=255,hard,noresvport,proto=tcp"
    if kind == "efs" and "tls" in options:
        tunnel = "clientaddr=127.0.0.1,local_lock=none,addr=127.0.0.1"
        return f"127.0.0.1:/ {point} nfs4 {common},port={TLS_PORT},timeo=600,retrans=2,sec=sys,{tunnel} 0 0"
    if kind == "efs":
        fs_id = source.split(":")[0]
        source = f"{fs_id}.efs.{region}.amazonaws.com:/"
    return f"{source} {point} nfs4 {common},timeo=600,retrans=2,sec=sys,local_lock=none,addr=10.0.2.15 0 0"


def mount(args: list[str]) -> int:
    kind, options, positional = "", [], []
    items = iter(args)
    for arg in items:
        if arg == "-t":
            kind = next(items, "")
        elif arg == "-o":
            options += next(items, "").split(",")
        elif arg in ("-a", "-v"):
            continue
        else:
            positional.append(arg)
    if len(positional) == 1:
        fstab = Path(ROOT) / "etc" / "fstab"
        entries = [line.split() for line in fstab.read_text(encoding="utf-8").splitlines()] if fstab.exists() else []
        found = [e for e in entries if len(e) >= 4 and positional[0] in (e[0], e[1])]
        if not found:
            return fail(f"mount: {positional[0]}: can't find in /etc/fstab.", 32)
        source, point, kind, options = found[-1][0], found[-1][1], found[-1][2], found[-1][3].split(",")
    elif len(positional) == 2:
        source, point = positional
    else:
        return fail("mount: bad usage", 1)
    if kind not in ("efs", "nfs4", "nfs"):
        return fail(f"mount: unknown filesystem type '{kind}'", 32)
    if not Path(point).is_dir():
        return fail(f"mount: {point}: mount point does not exist.", 32)
    if mounted(point):
        return fail(f"mount: {point}: already mounted", 32)
    mounts_file().parent.mkdir(parents=True, exist_ok=True)
    with mounts_file().open("a", encoding="utf-8") as out:
        out.write(kernel_line(source, point, kind, options) + "\n")
    return 0


def mountpoint(args: list[str]) -> int:
    point = [a for a in args if not a.startswith("-")][-1]
    return 0 if mounted(point) else 32


# systemctl, ss ------------------------------------------------------------------------------

SSH_UNITS = ("ssh", "sshd", "ssh.service", "sshd.service", "ssh.socket")


def systemctl(args: list[str]) -> int:
    services: dict[str, str] = load("services", {})
    words = [a for a in args if not a.startswith("-")]
    now = "--now" in args
    if not words:
        return fail("systemctl: bad usage")
    verb, units = words[0], [u.removesuffix(".service") for u in words[1:]]
    if verb == "is-active":
        answers = [services.get(u, "inactive") for u in units]
        print("\n".join(answers))
        return 0 if "active" in answers else 3
    if verb == "is-enabled":
        answers = ["enabled" if u in load("enabled", []) else "disabled" for u in units]
        print("\n".join(answers))
        return 0 if "enabled" in answers else 1
    if verb in ("start", "restart") or (verb == "enable" and now):
        for unit in units:
            services[unit] = "active"
            if unit in SSH_UNITS:
                listen("0.0.0.0", 22, "sshd")
                listen("[::]", 22, "sshd")
    if verb == "enable":
        save("enabled", sorted({*load("enabled", []), *units}))
    if verb == "stop":
        for unit in units:
            services[unit] = "inactive"
    save("services", services)
    return 0


def listen(address: str, port: int, process: str) -> None:
    sockets: list[list[Any]] = load("listening", [])
    if [address, port, process] not in sockets:
        sockets.append([address, port, process])
    save("listening", sockets)


def ss(args: list[str]) -> int:
    flags = "".join(a.lstrip("-") for a in args if a.startswith("-") and not a.startswith("--"))
    if "l" not in flags and "--listening" not in args:
        return 0
    if "H" not in flags and "--no-header" not in args:
        print("State  Recv-Q Send-Q Local Address:Port Peer Address:Port Process")
    for address, port, process in load("listening", []):
        print(f'LISTEN 0      4096   {address}:{port}   0.0.0.0:*   users:(("{process}",pid=1,fd=3))')
    return 0


# docker -------------------------------------------------------------------------------------


def containers() -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = load("containers", [])
    return found


def start_container(name: str, image: str, ports: list[str]) -> None:
    running = [c for c in containers() if c["name"] != name]
    running.append({"name": name, "image": image, "state": "running"})
    save("containers", running)
    for published in ports:
        host_port = str(published).split(":")[-2] if ":" in str(published) else str(published)
        listen("0.0.0.0", int(host_port), "docker-proxy")


def compose_up(path: str) -> int:
    import yaml

    try:
        spec = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        return fail(f"docker compose: {exc}", 14)
    project = Path(path).parent.name or "default"
    for service, body in (spec.get("services") or {}).items():
        start_container(f"{project}-{service}-1", str(body.get("image", "")), list(body.get("ports") or []))
    return 0


def database_client(args: list[str]) -> int:
    """The pinned MariaDB client container (seed 002's recipe) run against a database: the
    emulator's answer is whether ``--host``/``--port`` are the stack's database, the user and
    ``MYSQL_PWD`` those of the stack's secret, and ``--ssl`` asked for (RDS always offers TLS)."""
    given = dict(a[2:].partition("=")[::2] for a in args if a.startswith("--") and "=" in a)
    known = [d for d in load("databases", []) if given.get("host") == d["host"] and given.get("port") == str(d["port"])]
    if not known:
        return fail(f"ERROR 2005 (HY000): Unknown server host '{given.get('host', '')}'")
    logins = []
    for text in load("secrets", {}).values():
        with contextlib.suppress(ValueError, AttributeError):
            secret = json.loads(text)
            logins.append((secret.get("username"), secret.get("password")))
    if (given.get("user"), os.environ.get("MYSQL_PWD")) not in logins:
        return fail(f"ERROR 1045 (28000): Access denied for user '{given.get('user', '')}' (using password: YES)")
    print("Ssl_version\tTLSv1.3" if "--ssl" in args else "Ssl_version\t")
    return 0


def docker(args: list[str]) -> int:
    if args[:2] == ["compose", "version"] or args[:1] in (["version"], ["info"]):
        print("Docker Compose version v2.29.7")
        return 0
    if args[:1] == ["compose"]:
        rest = args[1:]
        files = [rest[i + 1] for i, a in enumerate(rest[:-1]) if a in ("--file", "-f")]
        if "up" in rest and files:
            return compose_up(files[0])
        return fail(f"docker compose: not emulated: {shlex.join(rest)}")
    if args[:1] == ["ps"]:
        shown = (
            containers() if ("-a" in args or "--all" in args) else [c for c in containers() if c["state"] == "running"]
        )
        for c in shown:
            print(f"{c['name']}\t{c['image']}\t{c['state']}")
        return 0
    if args[:1] == ["run"]:
        rest, name, ports = args[1:], "", []
        while rest and rest[0].startswith("-"):
            flag = rest.pop(0)
            if flag in ("--name", "-p", "--publish", "--env-file", "-e", "--env", "-v", "--network", "--entrypoint"):
                value = rest.pop(0) if rest else ""
                name = value if flag == "--name" else name
                ports += [value] if flag in ("-p", "--publish") else []
        image = rest[0] if rest else ""
        if "--rm" in args and image.startswith("mariadb:") and rest[1:2] == ["mariadb"]:
            return database_client(rest[2:])
        if "-d" in args or "--detach" in args:
            start_container(name or image.split(":")[0], image, ports)
            return 0
        return fail(f"docker run: not emulated: {shlex.join(args)}")
    return fail(f"docker: not emulated: {shlex.join(args)}")


# curl (the instance metadata service only), aws, jq, stat, package managers -------------------


def curl(args: list[str]) -> int:
    url = next((a for a in args if a.startswith("http")), "")
    headers = [args[i + 1] for i, a in enumerate(args[:-1]) if a in ("-H", "--header")]
    method = next((args[i + 1] for i, a in enumerate(args[:-1]) if a in ("-X", "--request")), "GET")
    output = next((args[i + 1] for i, a in enumerate(args[:-1]) if a in ("-o", "--output")), None)
    write_out = next((args[i + 1] for i, a in enumerate(args[:-1]) if a in ("-w", "--write-out")), "")
    if not url.startswith("http://169.254.169.254/"):
        return fail(f"curl: (7) Failed to connect: the sandbox has no network beyond the emulator ({url})", 7)
    imds = load("instance", {}).get("metadata", {})
    if imds.get("HttpEndpoint", "enabled") != "enabled":
        return fail("curl: (7) Failed to connect to 169.254.169.254 port 80: Connection refused", 7)
    token = any(h.lower().startswith("x-aws-ec2-metadata-token:") for h in headers)
    if method == "PUT" and url.endswith("/latest/api/token"):
        code, body = 200, "AQAEAstackproofsandbox=="
    elif token or imds.get("HttpTokens", "optional") != "required":
        code, body = (
            200,
            load("instance", {}).get("instance_id", "") if url.endswith("instance-id") else "ami-id\ninstance-id\n",
        )
    else:
        code, body = 401, ""
    if output is None:
        sys.stdout.write(body)
    elif output != "/dev/null":
        Path(output).write_text(body, encoding="utf-8")
    sys.stdout.write(write_out.replace("%{http_code}", str(code)).replace("\\n", "\n"))
    return 22 if code >= 400 and any(a in ("-f", "--fail", "-fsS", "-fsSL", "-sf") for a in args) else 0


def aws(args: list[str]) -> int:
    if args[:2] == ["secretsmanager", "get-secret-value"] and "--secret-id" in args:
        wanted = args[args.index("--secret-id") + 1]
        secrets: dict[str, str] = load("secrets", {})
        if wanted in secrets:
            print(secrets[wanted])
            return 0
        return fail(f"An error occurred (AccessDeniedException) when calling GetSecretValue: {wanted}", 254)
    return fail(f"aws: not emulated: {shlex.join(args)}", 255)


def jq(args: list[str]) -> int:
    path = next(a for a in args if not a.startswith("-"))
    value: Any = json.loads(sys.stdin.read())
    for key in [k for k in path.split(".") if k]:
        value = value.get(key) if isinstance(value, dict) else None
    print("null" if value is None else value if isinstance(value, str) else json.dumps(value))
    return 0


def stat(args: list[str]) -> int:
    """The real stat, as the instance's root sees it: the sandbox's user is the instance's root
    (the bootstrap runs as root under cloud-init), as under fakeroot."""
    real = shutil.which("stat", path="/usr/bin:/bin") or "stat"
    done = subprocess.run([real, *args], capture_output=True, text=True, check=False)
    out = done.stdout
    if os.getuid() != 0:
        import grp
        import pwd

        out = out.replace(pwd.getpwuid(os.getuid()).pw_name, "root").replace(grp.getgrgid(os.getgid()).gr_name, "root")
    sys.stdout.write(out)
    sys.stderr.write(done.stderr)
    return done.returncode


def package_manager(args: list[str]) -> int:
    return 0 if args[:1] == ["update"] else fail(f"not emulated: installing packages ({shlex.join(args)})", 100)


TOOLS = {
    "mount": mount,
    "mount.efs": lambda args: mount(["-t", "efs", *args]),
    "mountpoint": mountpoint,
    "systemctl": systemctl,
    "ss": ss,
    "docker": docker,
    "curl": curl,
    "aws": aws,
    "jq": jq,
    "stat": stat,
    "apt-get": package_manager,
}


def main() -> int:
    name = Path(sys.argv[0]).name
    return TOOLS[name](sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
