"""The static gate: cfn-lint and checkov, on the reference templates (``stackproof gate``)
and on the template target of every ``stackproof run``, whose reports carry their findings.

Both tools run as subprocesses. checkov pins its own boto3 and networkx, so it lives in an
environment of its own (``python -m stackproof.gate.toolenv``, which tox runs); the gate finds it
through ``STACKPROOF_CHECKOV``, beside this Python, on ``PATH`` or in the project's
``.tox/checkov``, and a missing tool is an ERROR, never a silent pass.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from stackproof.support import paths


@dataclass(frozen=True)
class ToolRun:
    tool: str
    command: list[str]
    returncode: int
    output: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def totals(self) -> list[str]:
        """checkov's tally lines ("Passed checks: N, Failed checks: N, Skipped checks: N")."""
        return [line.strip() for line in self.output.splitlines() if line.strip().startswith("Passed checks:")]


class ToolMissing(Exception):
    """A gate tool is not installed where the gate can find it."""


def find_tool(name: str, env_var: str) -> str:
    configured = os.environ.get(env_var)
    if configured:
        if not Path(configured).exists():
            raise ToolMissing(f"{env_var}={configured} does not exist")
        return configured
    beside_python = Path(sys.executable).parent / name
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which(name)
    if found is not None:
        return found
    for root in (Path.cwd(), paths.checkout()):
        in_tox = root / ".tox" / name / "bin" / name if root is not None else None
        if in_tox is not None and in_tox.exists():
            return str(in_tox)
    raise ToolMissing(
        f"{name} is not installed (set {env_var} or put it on PATH; `tox -e static` installs it,"
        " or run `stackproof run --tools none` to leave it out)"
    )


def cfn_lint_command(templates: list[Path]) -> list[str]:
    return [find_tool("cfn-lint", "STACKPROOF_CFN_LINT"), *map(str, templates)]


def checkov_command(directory: Path) -> list[str]:
    return [
        find_tool("checkov", "STACKPROOF_CHECKOV"),
        "--directory",
        str(directory),
        "--framework",
        "cloudformation",
        "--skip-download",
        "--compact",
        "--output",
        "cli",
    ]


def execute(command: list[str], timeout: float | None = None) -> subprocess.CompletedProcess[str]:
    """Run a gate tool offline: checkov neither fetches its mapping nor scans packages."""
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"}
    return subprocess.run(command, capture_output=True, text=True, env=env, check=False, timeout=timeout)


def run_tool(tool: str, command: list[str]) -> ToolRun:
    proc = execute(command)
    return ToolRun(tool, command, proc.returncode, (proc.stdout + proc.stderr).strip())
