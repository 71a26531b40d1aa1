"""The ``stackproof`` command. Exit codes: 0 all good, 1 findings, 2 usage or input errors."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from stackproof import __version__
from stackproof.support import paths

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2


def _cmd_build_userdata(args: argparse.Namespace) -> int:
    from stackproof.build.userdata import UserDataError, sync

    template = Path(args.template) if args.template else paths.dashboard_template()
    try:
        current = sync(template, paths.project_root(), check=args.check)
    except (UserDataError, OSError) as exc:
        print(f"stackproof: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if current:
        print(f"{template}: user data is up to date")
        return EXIT_OK
    if args.check:
        print(
            f"{template}: user data differs from its script; run `stackproof build userdata`",
            file=sys.stderr,
        )
        return EXIT_FINDINGS
    print(f"{template}: user data rewritten from its script")
    return EXIT_OK


def _cmd_build_lambda(args: argparse.Namespace) -> int:
    from stackproof.build.lambda_zip import build_zip

    output = Path(args.output) if args.output else paths.build_dir() / "s3_to_efs.zip"
    try:
        build_zip(paths.sync_function_dir(), output)
    except OSError as exc:
        print(f"stackproof: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(f"wrote {output}")
    return EXIT_OK


def _cmd_gate(args: argparse.Namespace) -> int:
    from stackproof.gate.tools import ToolMissing, cfn_lint_command, checkov_command, run_tool

    directory = Path(args.directory) if args.directory else paths.reference_dir() / "cloudformation"
    templates = sorted(
        p for p in [*directory.glob("*.yaml"), *directory.glob("*.json")] if not p.name.endswith(".params.json")
    )
    if not templates:
        print(f"stackproof: no templates in {directory}", file=sys.stderr)
        return EXIT_USAGE
    worst = EXIT_OK
    for tool in args.tools.split(","):
        try:
            if tool == "cfn-lint":
                command = cfn_lint_command(templates)
            elif tool == "checkov":
                command = checkov_command(directory)
            else:
                print(f"stackproof: unknown gate tool {tool!r} (cfn-lint, checkov)", file=sys.stderr)
                return EXIT_USAGE
        except ToolMissing as exc:
            print(f"stackproof: {tool}: {exc}", file=sys.stderr)
            worst = EXIT_USAGE
            continue
        print(f"gate: {tool} on {directory} ...", flush=True)
        result = run_tool(tool, command)
        tally = f"; {'; '.join(result.totals)}" if result.totals else ""
        print(f"gate: {tool} {'passed' if result.ok else 'FAILED'} (exit {result.returncode}{tally})")
        if result.output and (not result.ok or args.verbose):
            print(result.output)
        if not result.ok:
            worst = max(worst, EXIT_FINDINGS)
    return worst


def _cmd_run(args: argparse.Namespace) -> int:
    from stackproof.cli.run import RunOptions, main

    options = RunOptions(
        targets=args.target,
        template=args.template,
        params=args.params,
        region=args.region,
        checks=args.checks,
        keyword=args.keyword,
        verbose=args.verbose,
        stack_name=args.stack_name,
        profile=args.profile,
        reports=args.reports,
        fail_on=args.fail_on,
        write_reports=not args.no_reports,
        suppressions=args.suppressions,
        tools=args.tools,
        reference=args.reference,
    )
    return main(options)


def _cmd_controls(args: argparse.Namespace) -> int:
    from stackproof import catalogue

    try:
        controls = catalogue.load()
    except catalogue.CatalogueError as exc:
        print(f"stackproof: catalogue: {exc}", file=sys.stderr)
        return EXIT_USAGE
    for control in controls.values():
        status = "active" if control.active else f"planned ({control.planned_in})"
        print(f"{control.id}  {control.severity:<8}  {status:<8}  {','.join(control.targets)}")
        print(f"        {control.title}")
        print(f'        source: {control.seed}: "{control.quote}"')
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="stackproof", description=__doc__)
    parser.add_argument("--version", action="version", version=f"stackproof {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    build = commands.add_parser("build", help="build artefacts of the reference deployment")
    artefacts = build.add_subparsers(dest="artefact", required=True)
    userdata = artefacts.add_parser("userdata", help="copy the bootstrap script into the template")
    userdata.add_argument("--template", help="template to update (default: the dashboard reference)")
    userdata.add_argument("--check", action="store_true", help="only report whether it is up to date")
    userdata.set_defaults(func=_cmd_build_userdata)
    zip_ = artefacts.add_parser("lambda", help="build the sync function zip")
    zip_.add_argument("--output", help="zip path (default: build/s3_to_efs.zip)")
    zip_.set_defaults(func=_cmd_build_lambda)

    gate = commands.add_parser("gate", help="run cfn-lint and checkov on the reference templates")
    gate.add_argument("--directory", help="template directory (default: reference/cloudformation)")
    gate.add_argument("--tools", default="cfn-lint,checkov", help="comma-separated: cfn-lint,checkov")
    gate.add_argument("--verbose", action="store_true", help="print tool output even when it passes")
    gate.set_defaults(func=_cmd_gate)
    run = commands.add_parser("run", help="run the compliance checks and print a controls x targets table")
    run.add_argument(
        "--target",
        default="template,moto",
        help="comma-separated: template, moto, moto-server, localstack, aws (default: template,moto)",
    )
    run.add_argument("--template", help="template to check (default: the dashboard reference)")
    run.add_argument(
        "--reference",
        help="reference systems to check (dashboard, analytics, or both: dashboard,analytics): their templates"
        " and parameters files under reference/cloudformation/, one report",
    )
    run.add_argument("--params", help="parameters file (CloudFormation CLI JSON or a plain mapping)")
    run.add_argument("--region", default="us-east-1", help="region for pseudo parameters and Fn::GetAZs")
    run.add_argument("--stack-name", help="target aws: the existing stack to read")
    run.add_argument("--profile", help="target aws: a profile of the standard credential chain")
    run.add_argument("--checks", help="checks directory (default: checks/ of the project)")
    run.add_argument("--reports", help="where reports/<run-id>/ go (default: the project's reports/)")
    run.add_argument("--no-reports", action="store_true", help="write no report files")
    run.add_argument(
        "--tools",
        default="cfn-lint,checkov",
        help="gate tools run on the template target, their findings in the reports (default: cfn-lint,checkov; none)",
    )
    run.add_argument(
        "--suppressions", help="a suppressions file (YAML); resource Metadata `stackproof: suppress` is always read"
    )
    run.add_argument(
        "--fail-on",
        choices=["low", "medium", "high", "critical"],
        help="fail only on FAIL or ERROR of controls at this severity or above (default: any)",
    )
    run.add_argument("-k", dest="keyword", help="only checks matching this pytest keyword expression")
    run.add_argument("-v", "--verbose", action="store_true", help="also show notes and skips")
    run.set_defaults(func=_cmd_run)

    listing = commands.add_parser("controls", help="list the control catalogue")
    listing.set_defaults(func=_cmd_controls)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except FileNotFoundError as exc:
        print(f"stackproof: {exc}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    raise SystemExit(main())
