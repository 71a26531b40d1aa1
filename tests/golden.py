"""Golden report files: what every writer prints for two fixed runs, kept in
``tests/golden_files/<case>/`` and compared byte for byte by ``tests/test_golden.py``.

A case is a real ``stackproof run`` on the template target (the reference, and the SSH mutant
with one valid and one expired suppression); the gate tools are replayed from their recorded
JSON so the goldens need neither checkov nor a particular cfn-lint. Only what changes from run
to run is fixed before rendering: run ID, times, durations and version.

Regenerate after an intended change, then review the diff::

    python -m tests.golden            # rewrite the golden files from the recorded tool output
    python -m tests.golden --record   # first re-record cfn-lint's and checkov's JSON (needs both)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "golden_files"
TEMPLATE = ROOT / "reference" / "cloudformation" / "dashboard.yaml"
PARAMS = TEMPLATE.with_name("dashboard.params.json")
FILES = (
    "report.json",
    "summary.md",
    "junit.xml",
    "report.sarif",
    "report.html",
    "report.asff.json",
    "report.ocsf.json",
)
TOOLS = {"cfn-lint": "STACKPROOF_CFN_LINT", "checkov": "STACKPROOF_CHECKOV"}
FROZEN_RUN = {
    "id": "20260101T000000Z-000000",
    "stackproof_version": "0.0.0-golden",
    "started": "2026-01-01T00:00:00+00:00",
    "ended": "2026-01-01T00:00:01+00:00",
}


def reference(directory: Path) -> Path:
    path = directory / "template.yaml"
    path.write_text(TEMPLATE.read_text())
    return path


def ssh_mutant(directory: Path) -> Path:
    """SSH opened to the world: NET-05 accepted beside the resources, IAM-01's acceptance expired."""
    from stackproof.template.cfn_yaml import load_text
    from tests.mutants import MUTANTS

    mutant = next(m for m in MUTANTS if m.name == "ssh-by-separate-ingress")
    data = json.loads(json.dumps(load_text(mutant.apply(TEMPLATE, directory).read_text())))
    accepted = {"reason": "vendor support window", "owner": "platform@example.com", "expires": "2099-06-30"}
    expired = {"reason": "migration to Session Manager", "owner": "ops@example.com", "expires": "2025-01-31"}
    data["Resources"]["AppSecurityGroup"]["Metadata"] = {
        "stackproof": {"suppress": [{"control": "NET-05", **accepted}, {"control": "IAM-01", **expired}]}
    }
    data["Resources"]["AppSshIngress"]["Metadata"] = {"stackproof": {"suppress": [{"control": "NET-05", **accepted}]}}
    path = directory / "template.json"
    path.write_text(json.dumps(data, indent=1) + "\n")
    return path


CASES: dict[str, Callable[[Path], Path]] = {"reference": reference, "ssh-suppressed": ssh_mutant}


def replaying_tool(directory: Path, tool: str, recorded: dict[str, Any]) -> Path:
    """A stand-in executable that prints the tool's recorded version, JSON and exit code."""
    output = directory / f"{tool}.out.json"
    output.write_text(json.dumps(recorded["output"]))
    script = directory / f"replay-{tool}"
    script.write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = --version ]; then echo "{recorded["version"]}"; exit 0; fi\n'
        f"cat '{output}'\nexit {recorded['exit']}\n"
    )
    script.chmod(0o755)
    return script


def record(case: str) -> None:
    """Run the real tools on the case's template and keep their JSON (paths made relative)."""
    from stackproof.gate.tools import find_tool

    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        template = CASES[case](directory)
        for tool, variable in TOOLS.items():
            executable = find_tool(tool, variable)
            version = subprocess.run([executable, "--version"], capture_output=True, text=True, check=True)
            if tool == "cfn-lint":
                command = [executable, "--format", "json", "--", template.name]
            else:
                command = [
                    executable,
                    "-f",
                    template.name,
                    "--framework",
                    "cloudformation",
                    "--skip-download",
                    "-o",
                    "json",
                ]
            environment = {**os.environ, "BC_SKIP_MAPPING": "TRUE"}
            proc = subprocess.run(command, capture_output=True, text=True, cwd=directory, env=environment, check=False)
            output = json.loads(proc.stdout.replace(str(directory), "."))
            recorded = {"version": version.stdout.strip(), "exit": proc.returncode, "output": slim(output)}
            target = GOLDEN / case / f"{tool}.recorded.json"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(json.dumps(recorded, indent=1) + "\n")


KEPT = ("check_id", "check_name", "check_result", "resource", "file_line_range", "guideline")


def slim(output: Any) -> Any:
    """checkov's JSON without what stackproof does not read (code blocks, breadcrumbs)."""
    parts = output if isinstance(output, list) else [output]
    for part in parts:
        if isinstance(part, dict):
            for checks in (part.get("results") or {}).values():
                checks[:] = [{k: c[k] for k in KEPT if k in c} for c in checks if isinstance(c, dict)]
    return output


def freeze(report: dict[str, Any]) -> dict[str, Any]:
    report["run"].update(FROZEN_RUN)
    for result in report["results"]:
        result["duration"] = 0.0
    return report


def produce(case: str) -> dict[str, str]:
    """Run the case and render every format from its frozen report."""
    from stackproof.reports import asff, html_report, junit_xml, ocsf, sarif, summary_md

    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        template = CASES[case](directory)
        environment = {**os.environ}
        for tool, variable in TOOLS.items():
            recorded = json.loads((GOLDEN / case / f"{tool}.recorded.json").read_text())
            environment[variable] = str(replaying_tool(directory, tool, recorded))
        command = [sys.executable, "-m", "stackproof.cli", "run", "--target", "template", "--template", template.name]
        command += ["--params", str(PARAMS), "--reports", "reports"]
        subprocess.run(command, capture_output=True, text=True, cwd=directory, env=environment, check=False)
        report = freeze(json.loads((directory / "reports" / "latest" / "report.json").read_text()))
    return {
        "report.json": json.dumps(report, indent=2) + "\n",
        "summary.md": summary_md.render(report),
        "junit.xml": junit_xml.render(report),
        "report.sarif": json.dumps(sarif.render(report), indent=2) + "\n",
        "report.html": html_report.render(report),
        "report.asff.json": json.dumps(asff.render(report), indent=2) + "\n",
        "report.ocsf.json": json.dumps(ocsf.render(report), indent=2) + "\n",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.golden", description=__doc__.splitlines()[0])
    parser.add_argument("--record", action="store_true", help="re-record cfn-lint's and checkov's JSON first")
    args = parser.parse_args(argv)
    for case in CASES:
        if args.record:
            record(case)
        for name, text in produce(case).items():
            (GOLDEN / case / name).write_text(text)
        print(f"wrote {GOLDEN / case}/{{{','.join(FILES)}}}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
