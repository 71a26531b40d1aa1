"""The pre-commit hook (``.pre-commit-hooks.yaml``, id ``stackproof``):
``python -m stackproof.cli.precommit [OPTIONS] FILE...``.

pre-commit passes the changed files matching the hook's ``files`` pattern, any number of them,
after the entry; ``stackproof run`` takes one ``--template`` per template. This turns each
changed CloudFormation template into its own ``stackproof run --target template --tools none
--no-reports --template FILE`` (the fast, offline target: no AWS SDK is imported), with the
parameters file beside it (``NAME.params.json`` for ``NAME.yaml``) unless ``--params`` names
one; ``--set`` checks all of them as one deployment (a stack set) instead. Files that are not
CloudFormation templates (no top-level ``Resources`` and no ``AWSTemplateFormatVersion``: a
workflow, a parameters file) are skipped, saying so. The exit code is the worst of the runs."""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

TOP_LEVEL_RESOURCES = re.compile(r"^(Resources|['\"]Resources['\"])\s*:", re.MULTILINE)


def is_template(path: Path) -> bool:
    """A CloudFormation template, by what CloudFormation itself requires (Resources) or declares."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    if "AWSTemplateFormatVersion" in text:
        return True
    if path.suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            return False
        return isinstance(data, dict) and isinstance(data.get("Resources"), dict)
    return bool(TOP_LEVEL_RESOURCES.search(text))


def params_for(template: Path, given: str | None) -> str | None:
    if given:
        return given
    beside = template.with_name(f"{template.stem}.params.json")
    return str(beside) if beside.is_file() else None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m stackproof.cli.precommit",
        description="stackproof's pre-commit hook: each changed CloudFormation template on the template target.",
    )
    parser.add_argument("files", nargs="*", metavar="FILE", help="the changed files pre-commit passes")
    parser.add_argument("--params", help="one parameters file for every template (default: NAME.params.json beside it)")
    parser.add_argument("--set", action="store_true", help="check the templates together, as one deployment")
    parser.add_argument("--system", help="the system the templates implement (dashboard, analytics)")
    parser.add_argument("--suppressions", help="a suppressions file (YAML)")
    parser.add_argument("--fail-on", choices=["low", "medium", "high", "critical"], help="as for stackproof run")
    parser.add_argument("--tools", default="none", help="gate tools to run beside the checks (default: none)")
    parser.add_argument("-v", "--verbose", action="store_true", help="also show notes and skips")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    templates = []
    for name in args.files:
        path = Path(name)
        if is_template(path):
            templates.append(path)
        else:
            print(f"stackproof: {name}: not a CloudFormation template, skipped")
    if not templates:
        return 0
    common = ["--target", "template", "--tools", args.tools, "--no-reports"]
    for option in ("system", "suppressions", "fail_on"):
        value = getattr(args, option)
        if value:
            common += [f"--{option.replace('_', '-')}", value]
    if args.verbose:
        common.append("-v")
    runs: list[list[str]] = []
    if args.set:
        chosen = [part for t in templates for part in ("--template", str(t))]
        runs.append(chosen + (["--params", args.params] if args.params else []))
    else:
        for template in templates:
            params = params_for(template, args.params)
            runs.append(["--template", str(template), *(["--params", params] if params else [])])
    worst = 0
    for run in runs:
        shown = " ".join(run)
        print(f"stackproof: run {shown}", flush=True)
        code = subprocess.run([sys.executable, "-m", "stackproof.cli", "run", *run, *common], check=False).returncode
        worst = max(worst, code)
    return worst


if __name__ == "__main__":
    raise SystemExit(main())
