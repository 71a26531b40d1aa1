"""The ``stackproof`` command. Exit codes: 0 all good, 1 findings, 2 usage or input errors."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from stackproof import __version__
from stackproof.support import paths

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """A value argparse accepted that stackproof cannot use: one line on stderr, exit 2."""


def _deadline(args: argparse.Namespace) -> float | None:
    """``--deadline`` in seconds; None when not given (STACKPROOF_DEADLINE, else 900 s, then)."""
    if args.deadline is None:
        return None
    from stackproof.targets import TargetError, parse_deadline

    try:
        return parse_deadline(args.deadline, "--deadline")
    except TargetError as exc:
        raise UsageError(str(exc)) from None


def _cmd_build_userdata(args: argparse.Namespace) -> int:
    from stackproof.build.userdata import UserDataError, sync

    template = Path(args.template) if args.template else paths.dashboard_template()
    try:
        current = sync(template, paths.data_root(), check=args.check)
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


def _cmd_build_stack_set(args: argparse.Namespace) -> int:
    from stackproof.build.stack_set import SplitError, generate

    template = Path(args.template) if args.template else paths.dashboard_template()
    parts = Path(args.parts) if args.parts else template.with_name(f"{template.stem}.parts.yaml")
    try:
        files = generate(template, parts)
    except (SplitError, OSError, KeyError, TypeError) as exc:
        print(f"stackproof: {parts}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    stale = [path for path, text in files.items() if not path.is_file() or path.read_text(encoding="utf-8") != text]
    if args.check:
        for path in stale:
            print(f"{path}: differs from what {template.name} and {parts.name} give", file=sys.stderr)
        if stale:
            print("run `stackproof build stack-set` to regenerate", file=sys.stderr)
            return EXIT_FINDINGS
        print(f"{len(files)} generated templates match {template.name}")
        return EXIT_OK
    for path in stale:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(files[path], encoding="utf-8")
        print(f"wrote {path}")
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
    from stackproof.template.stack_set import StackSetError, expand

    directory = Path(args.directory) if args.directory else paths.reference_dir() / "cloudformation"
    try:
        templates = expand([str(directory)]) if directory.is_dir() else []
    except StackSetError:
        templates = []
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


def _run_options(args: argparse.Namespace, **extra: Any) -> Any:
    from stackproof.cli.run import RunOptions

    return RunOptions(
        targets=args.target,
        template=args.template or [],
        params=args.params,
        region=args.region,
        verbose=args.verbose,
        stack_name=args.stack_name,
        profile=args.profile,
        reports=args.reports,
        fail_on=args.fail_on,
        write_reports=not args.no_reports,
        suppressions=args.suppressions,
        reference=args.reference,
        min_coverage=args.min_coverage,
        system=args.system,
        template_urls=args.template_url or [],
        deadline=_deadline(args),
        **extra,
    )


def _check_run_options(args: argparse.Namespace) -> Any:
    return _run_options(
        args,
        checks=args.checks or [],
        builtin_checks=not args.no_builtin_checks,
        keyword=args.keyword,
        tools=args.tools,
        require_drills=args.require_drills,
        baseline=getattr(args, "baseline", None),
    )


def _cmd_run(args: argparse.Namespace) -> int:
    from stackproof.cli.run import main

    return main(_check_run_options(args))


def _cmd_baseline_create(args: argparse.Namespace) -> int:
    from stackproof.cli.baseline import create

    return create(_check_run_options(args), Path(args.output))


def _cmd_drill(args: argparse.Namespace) -> int:
    import os

    from stackproof.cli.run import main
    from stackproof.drills import journal

    directory = Path(args.journal_dir) if args.journal_dir else journal.default_directory()
    if args.cleanup is not None:
        from stackproof.cli import cleanup

        return cleanup.main(args.cleanup, directory, args.profile, args.region)
    os.environ[journal.ENVIRONMENT] = str(directory)  # the drills run in this process, under pytest
    if args.fis_role_arn:  # the scenarios run in this process, under pytest: RES-03/RES-04 read it there
        from os import environ

        from stackproof.drills.fis import ROLE_ENVIRONMENT

        environ[ROLE_ENVIRONMENT] = args.fis_role_arn
    controls = [c.strip().upper() for value in args.controls for c in value.split(",") if c.strip()]
    options = _run_options(
        args,
        checks=args.checks or [],
        builtin_checks=not args.no_builtin_checks,
        drills=controls,
        allow_destructive=args.allow_destructive,
        account_id=args.account_id,
        require_drills=args.require_drills,
    )
    return main(options)


def _cmd_sweep(args: argparse.Namespace) -> int:
    from stackproof.cli.sweep import SweepOptions, main
    from stackproof.sweep.executors import PROCESSES, SCHEDULER, SERIAL, THREADS, Mode

    if args.workers < 1:
        print("stackproof: --workers must be at least 1", file=sys.stderr)
        return EXIT_USAGE
    kind = SCHEDULER if args.scheduler else SERIAL if args.serial else THREADS if args.threads else PROCESSES
    options = SweepOptions(
        file=args.environments,
        mode=Mode(kind, args.workers, args.scheduler),
        reports=args.reports,
        write_reports=not args.no_reports,
        fail_on=args.fail_on,
        min_coverage=args.min_coverage,
        suppressions=args.suppressions,
        verbose=args.verbose,
    )
    return main(options)


def _cmd_controls(args: argparse.Namespace) -> int:
    from stackproof.cli.controls import list_controls

    return list_controls(args.framework)


def _target_options(parser: argparse.ArgumentParser, default_target: str) -> None:
    parser.add_argument(
        "--target",
        default=default_target,
        help=f"comma-separated: template, moto, moto-server, localstack, aws (default: {default_target})",
    )
    parser.add_argument(
        "--template",
        action="append",
        help="a template to check, or a directory or glob of them; repeat it for a stack set (default: the"
        " dashboard reference). Exports link the set's stacks; nested stacks with local TemplateURLs are followed",
    )
    parser.add_argument(
        "--reference",
        help="reference systems to check (dashboard, analytics, or both: dashboard,analytics): their templates"
        " and parameters files as shipped with stackproof, one report",
    )
    parser.add_argument(
        "--template-url",
        action="append",
        metavar="PREFIX=DIR",
        help="nested stacks whose TemplateURL starts with PREFIX (s3://bucket/path, https://...) are read from DIR;"
        " repeatable",
    )
    parser.add_argument("--params", help="parameters file (CloudFormation CLI JSON or a plain mapping)")
    parser.add_argument(
        "--region",
        help="region for pseudo parameters and Fn::GetAZs (default us-east-1); target aws: the region to read"
        " (default: the profile's region, else AWS_REGION / AWS_DEFAULT_REGION)",
    )
    parser.add_argument("--stack-name", help="target aws: the existing stack to read")
    parser.add_argument("--profile", help="target aws: a profile of the standard credential chain")
    parser.add_argument(
        "--deadline",
        metavar="SECONDS",
        help="target aws: seconds the whole read may take; after it no call is made and what is unread is ERROR"
        " (default: STACKPROOF_DEADLINE, else 900)",
    )
    parser.add_argument(
        "--reports", help="where <run-id>/ and latest go (default: ./reports/ of the working directory)"
    )
    parser.add_argument("--no-reports", action="store_true", help="write no report files")
    parser.add_argument(
        "--suppressions", help="a suppressions file (YAML); resource Metadata `stackproof: suppress` is always read"
    )
    parser.add_argument(
        "--fail-on",
        choices=["low", "medium", "high", "critical"],
        help="fail only on FAIL or ERROR of controls at this severity or above (default: any)",
    )
    parser.add_argument(
        "--system",
        choices=list(paths.REFERENCE_NAMES),
        help="the system the deployment implements, whose promises and parts it is held to"
        " (default: Metadata.stackproof.reference of its templates, else dashboard)",
    )
    parser.add_argument(
        "--min-coverage",
        type=float,
        metavar="PERCENT",
        help="fail when a target proves fewer than PERCENT of the reference's controls (default: report only)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="also show notes and skips")


EXAMPLES = """\
commands, one example each:
  stackproof run --template my.yaml --params my.json        every control on your template and a moto deployment
  stackproof run --checks team_checks/                       the built-in checks plus your own
  stackproof drill RES-01                                    the RDS snapshot-restore drill on a moto deployment
  stackproof drill --cleanup RUN-ID                          finish the cleanup of a drill that was killed
  stackproof sweep environments.yaml                         every environment of the file, read-only, one report
  stackproof baseline create --template my.yaml               accept today's findings in stackproof-baseline.json
  stackproof run --template my.yaml --baseline stackproof-baseline.json   fail only on new findings
  stackproof publish securityhub reports/latest --region eu-west-1 --yes-send-findings   to Security Hub
  stackproof controls --framework aws-fsbp                   which FSBP requirements the controls cover
  stackproof gate --directory templates/                     cfn-lint and checkov on a directory of templates
  stackproof build lambda --output build/s3_to_efs.zip       the sync function's zip
  stackproof build userdata --check                          is the template's user data its bootstrap script?
  stackproof build stack-set --check                         are the set and nested forms what dashboard.yaml gives?

exit codes: 0 all passed (or skipped with a reason), 1 a FAIL or ERROR, 2 usage or input error
"""


def _check_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--checks",
        action="append",
        metavar="DIR",
        help="a directory (or importable package) of your own checks, added to the built-in ones; repeatable",
    )
    parser.add_argument("--no-builtin-checks", action="store_true", help="run only the --checks directories")
    parser.add_argument(
        "--tools",
        default="cfn-lint,checkov",
        help="gate tools run on the template target, their findings in the reports (default: cfn-lint,checkov; none)",
    )
    parser.add_argument("-k", dest="keyword", help="only checks matching this pytest keyword expression")
    parser.add_argument("--require-drills", action="store_true", help=REQUIRE_DRILLS)


REQUIRE_DRILLS = (
    "a drill that was skipped (its guard refused, the target cannot run it) fails the run (exit 1) with the"
    " reason; without it only drills the catalogue marks required do"
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stackproof",
        description="Executable proof that a CloudFormation deployment keeps its documented promises.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"stackproof {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    build = commands.add_parser("build", help="build artefacts of the reference deployment")
    artefacts = build.add_subparsers(dest="artefact", required=True)
    userdata = artefacts.add_parser("userdata", help="copy the bootstrap script into the template")
    userdata.add_argument("--template", help="template to update (default: the dashboard reference)")
    userdata.add_argument("--check", action="store_true", help="only report whether it is up to date")
    userdata.set_defaults(func=_cmd_build_userdata)
    split = artefacts.add_parser(
        "stack-set", help="generate the reference as a three-stack set and as nested stacks from the single template"
    )
    split.add_argument("--template", help="the single template (default: the dashboard reference)")
    split.add_argument("--parts", help="the partition (default: <template>.parts.yaml beside it)")
    split.add_argument("--check", action="store_true", help="only report whether the generated files are up to date")
    split.set_defaults(func=_cmd_build_stack_set)
    zip_ = artefacts.add_parser("lambda", help="build the sync function zip")
    zip_.add_argument("--output", help="zip path (default: build/s3_to_efs.zip)")
    zip_.set_defaults(func=_cmd_build_lambda)

    gate = commands.add_parser("gate", help="run cfn-lint and checkov on the reference templates")
    gate.add_argument("--directory", help="template directory (default: reference/cloudformation)")
    gate.add_argument("--tools", default="cfn-lint,checkov", help="comma-separated: cfn-lint,checkov")
    gate.add_argument("--verbose", action="store_true", help="print tool output even when it passes")
    gate.set_defaults(func=_cmd_gate)
    run = commands.add_parser(
        "run",
        help="run the compliance checks and print a controls x targets table",
        description="Run every control's checks on the chosen targets; write the seven reports.",
    )
    _target_options(run, default_target="template,moto")
    _check_options(run)
    run.add_argument(
        "--baseline",
        metavar="FILE",
        help="findings this file holds (`stackproof baseline create`) are BASELINED: reported, not failing;"
        " the run fails only on new ones and says which baselined ones are fixed",
    )
    run.set_defaults(func=_cmd_run)

    baseline = commands.add_parser(
        "baseline",
        help="accept today's findings: a file that `run --baseline` reports as BASELINED",
        description="Record the current findings so that runs with --baseline fail only on new ones.",
    )
    baseline_commands = baseline.add_subparsers(dest="baseline_command", required=True)
    create = baseline_commands.add_parser(
        "create",
        help="run the checks as `stackproof run` does and write every FAIL (and failing tool finding) to a file",
        description="Run the checks as `stackproof run` does (same options) and write every current finding to"
        " --output, to commit beside the templates. ERRORs are not recorded: nobody knows their answer.",
    )
    _target_options(create, default_target="template,moto")
    _check_options(create)
    create.add_argument(
        "--output",
        default="stackproof-baseline.json",
        metavar="FILE",
        help="the baseline file to write (default: stackproof-baseline.json)",
    )
    create.set_defaults(func=_cmd_baseline_create, no_reports=True)

    drill = commands.add_parser(
        "drill",
        help="run restore and resilience drills (RES-01..04, SCL-05) with their guards",
        description="Run the drills of scenarios/ on a stack deployed for them (moto) or, with the guards"
        " satisfied, on a live stack; the same reports as `run`.",
    )
    drill.add_argument("controls", nargs="*", metavar="CONTROL", help="the drills to run, e.g. RES-01 (default: all)")
    _target_options(drill, default_target="moto")
    drill.add_argument(
        "--allow-destructive",
        action="store_true",
        help="target aws: let the drills change the named stack (with --account-id and --stack-name)",
    )
    drill.add_argument("--account-id", help="target aws: the only account the drills may change")
    drill.add_argument("--require-drills", action="store_true", help=REQUIRE_DRILLS)
    drill.add_argument(
        "--fis-role-arn",
        metavar="ARN",
        help="target aws: the IAM role AWS FIS assumes to run RES-03's and RES-04's experiments (without it they"
        " are skipped before any change; default: $STACKPROOF_FIS_ROLE_ARN)",
    )
    drill.add_argument(
        "--cleanup",
        nargs="?",
        const="",
        metavar="RUN-ID",
        help="finish the undo journal of a drill run that was killed before it cleaned up (the run ID is in"
        " report.json and the journal's name); idempotent. Without RUN-ID: list the unfinished journals",
    )
    drill.add_argument(
        "--journal-dir",
        metavar="DIR",
        help="where drills write their undo journals (default: $STACKPROOF_DRILL_JOURNALS, else ~/.stackproof/drills/,"
        " so --cleanup finds them from any directory)",
    )
    drill.add_argument("--checks", action="append", metavar="DIR", help="a directory of your own scenarios; repeatable")
    drill.add_argument("--no-builtin-checks", action="store_true", help="run only the --checks directories")
    drill.set_defaults(func=_cmd_drill)

    sweep = commands.add_parser(
        "sweep",
        help="run the checks on many environments (accounts, regions) at once, read-only, one report",
        description="`stackproof run --target aws` for every environment of an environments file, concurrently"
        " on Dask distributed (an embedded LocalCluster by default), and one report with a column per environment.",
    )
    sweep.add_argument("environments", help="the environments file (YAML; see README, Sweeps)")
    where = sweep.add_mutually_exclusive_group()
    where.add_argument("--scheduler", metavar="tcp://HOST:PORT", help="an existing Dask cluster's scheduler")
    where.add_argument("--serial", action="store_true", help="no Dask: one environment after another")
    where.add_argument("--threads", action="store_true", help="an embedded Dask cluster of threads in this process")
    sweep.add_argument(
        "--workers", type=int, default=2, help="worker processes (or threads) of the embedded cluster (default: 2)"
    )
    sweep.add_argument("--reports", help="where <run-id>/ and latest go (default: ./reports/ of the working directory)")
    sweep.add_argument("--no-reports", action="store_true", help="write no report files")
    sweep.add_argument("--suppressions", help="a suppressions file (YAML), for every environment")
    sweep.add_argument(
        "--fail-on",
        choices=["low", "medium", "high", "critical"],
        help="fail only on FAIL or ERROR of controls at this severity or above (default: any)",
    )
    sweep.add_argument(
        "--min-coverage",
        type=float,
        metavar="PERCENT",
        help="fail when an environment proves fewer than PERCENT of its system's controls (default: report only)",
    )
    sweep.add_argument("-v", "--verbose", action="store_true", help="also show skips")
    sweep.set_defaults(func=_cmd_sweep)

    from stackproof.cli import publish

    publish.add_parser(commands)

    listing = commands.add_parser(
        "controls",
        help="list the control catalogue, or a framework's requirements against it",
        description="The control catalogue, each control with the framework requirements it proves; with"
        " --framework, that framework's requirements and the controls covering each.",
    )
    listing.add_argument(
        "--framework", metavar="NAME", help="a framework's coverage table (aws-fsbp, cis-aws-foundations)"
    )
    listing.set_defaults(func=_cmd_controls)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except (FileNotFoundError, UsageError) as exc:
        print(f"stackproof: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:
        # The reader went away (`stackproof run ... | head -1`): stop quietly, and keep the
        # interpreter from failing again when it flushes stdout at exit.
        import os

        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
