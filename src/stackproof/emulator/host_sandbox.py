"""An emulated instance's host: a directory that stands for its root file system, in which the
instance's real user data runs at boot and every later command (a Run Command script) runs.

Why: host checks read what the bootstrap left on the instance (mounts, files, containers,
services, listening ports). moto runs no instance, so each gets a sandbox: an image of the
commands an Ubuntu AMI with docker and the AWS CLI has, where those that need root, a kernel or
the network are stubs (:mod:`stackproof.emulator.host_tools`) recording state the checks'
commands read back. Absolute host paths in a script (``/etc``, ``/var``, ``/mnt``, ``/proc`` ...)
are moved under the sandbox's root before it runs, and the root is taken out of what it prints,
so scripts and checks are written for the real host.

The SSM emulator adopts this through :meth:`HostSandbox.execute` (one call per instance of a
``SendCommand``); until then :mod:`stackproof.targets.host_fleet` calls it directly.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The real tools the image has (everything else is a stub or missing, as on a minimal AMI).
IMAGE_TOOLS = (
    "bash",
    "sh",
    "cat",
    "grep",
    "egrep",
    "sed",
    "awk",
    "mkdir",
    "chmod",
    "chown",
    "date",
    "printf",
    "id",
    "uname",
    "env",
    "ls",
    "rm",
    "cp",
    "mv",
    "touch",
    "head",
    "tail",
    "tr",
    "cut",
    "sort",
    "uniq",
    "wc",
    "test",
    "true",
    "false",
    "sleep",
    "dirname",
    "basename",
    "xargs",
    "tee",
    "find",
    "readlink",
)
STUBS = ("mount", "mount.efs", "mountpoint", "systemctl", "ss", "docker", "curl", "aws", "jq", "stat", "apt-get")
ROOTED = re.compile(r"(?<![\w.$/-])/(?=(?:etc|var|mnt|proc|run|opt|tmp|root|usr/local)(?:/|\s|$|[\"';:)]))")
BASE_MOUNTS = "/dev/nvme0n1p1 / ext4 rw,relatime,discard 0 0\nproc /proc proc rw,nosuid,nodev,noexec,relatime 0 0\n"


@dataclass(frozen=True)
class InstanceFacts:
    """What the emulator knows of an instance that its host would show."""

    instance_id: str
    zone: str
    region: str
    user_data: str
    metadata: dict[str, str]  # the launch template's MetadataOptions (HttpTokens, HttpEndpoint)
    secrets: dict[str, str] = field(default_factory=dict)  # ARN -> SecretString the instance role may read
    databases: list[dict[str, Any]] = field(default_factory=list)  # {"host", "port"} of the stack's databases


@dataclass(frozen=True)
class Execution:
    exit_code: int | None  # None: stopped at the timeout
    stdout: str
    stderr: str


class HostSandbox:
    def __init__(self, directory: Path, facts: InstanceFacts) -> None:
        self.facts = facts
        self.root = directory.resolve()
        self.state = self.root / ".sandbox" / "state"
        self.bin = self.root / ".sandbox" / "bin"
        self.image = self.root / ".sandbox" / "image"

    def lay_out(self) -> None:
        """The AMI before boot: its directories, tools and running services (the SSM agent,
        docker), nothing mounted, nothing listening."""
        for part in ("etc", "var/log", "mnt", "proc", "run/systemd/system", "usr/local", "tmp", "root"):
            (self.root / part).mkdir(parents=True, exist_ok=True)
        (self.root / "etc" / "fstab").write_text("LABEL=cloudimg-rootfs / ext4 discard,errors=remount-ro 0 1\n")
        (self.root / "etc" / "os-release").write_text('NAME="Ubuntu"\nVERSION_ID="22.04"\nID=ubuntu\n')
        (self.root / "proc" / "mounts").write_text(BASE_MOUNTS)
        for directory in (self.state, self.bin, self.image):
            directory.mkdir(parents=True, exist_ok=True)
        source = Path(__file__).with_name("host_tools.py").read_text(encoding="utf-8")
        tool = self.bin / "_tool"
        tool.write_text(f"#!{sys.executable}\n{source}", encoding="utf-8")
        tool.chmod(0o755)
        for name in STUBS:
            (self.bin / name).symlink_to("_tool")
        for name in IMAGE_TOOLS:
            real = shutil.which(name, path="/usr/bin:/bin")
            if real and not (self.image / name).exists():
                (self.image / name).symlink_to(real)
        self._save("services", {"amazon-ssm-agent": "active", "docker": "active"})
        self._save("enabled", ["amazon-ssm-agent", "docker"])
        self._save("listening", [])
        self._save("containers", [])
        facts = self.facts
        instance = {"instance_id": facts.instance_id, "region": facts.region, "metadata": facts.metadata}
        self._save("instance", instance)
        self._save("databases", facts.databases)
        secrets = self.state / "secrets.json"
        secrets.write_text(json.dumps(facts.secrets), encoding="utf-8")
        secrets.chmod(0o600)

    def _save(self, name: str, value: Any) -> None:
        (self.state / f"{name}.json").write_text(json.dumps(value, indent=1), encoding="utf-8")

    def boot(self, timeout: float = 120.0) -> Execution:
        """Lay out the image and run the instance's user data, as cloud-init does at first boot."""
        self.lay_out()
        return self.execute(self.facts.user_data, timeout)

    def rooted(self, script: str) -> str:
        return ROOTED.sub(str(self.root) + "/", script)

    def execute(self, script: str, timeout: float) -> Execution:
        """Run ``script`` with bash on this host: its paths under the root, its commands the
        image's, its own process group (stopped whole at the timeout)."""
        environment = {
            "PATH": f"{self.bin}:{self.image}",
            "HOME": str(self.root / "root"),
            "LANG": "C.UTF-8",
            "SANDBOX_ROOT": str(self.root),
            "SANDBOX_STATE": str(self.state),
        }
        process = subprocess.Popen(
            [str(self.image / "bash"), "-c", self.rooted(script)],
            cwd=self.root,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            stdout, stderr = process.communicate(timeout=timeout)
            code: int | None = process.returncode
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            stdout, stderr = process.communicate()
            code = None
        prefix = str(self.root)
        return Execution(code, stdout.replace(prefix, ""), stderr.replace(prefix, ""))
