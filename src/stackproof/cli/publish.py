"""``stackproof publish securityhub REPORT --region R --yes-send-findings``: send a run's
``report.asff.json`` to AWS Security Hub with ``BatchImportFindings``.

Sending findings writes to an account, so nothing is sent without ``--yes-send-findings``:
without it the command says what it would send and exits 2, before boto3 is even imported.
Findings about the template or an emulator carry placeholders for the account and region
(``reports.asff``); they are filled from ``sts:GetCallerIdentity`` and ``--region``. A finding
that names another account or region is refused before anything is sent: Security Hub would
reject it, and sending part of a report is worse than sending none. A finding Security Hub
does not import (``FailedCount``) is an error (exit 1) that names it. Nothing printed comes
from the credentials; only account IDs, finding IDs and Security Hub's own error texts."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, TextIO

from stackproof.reports.asff import PLACEHOLDER_ACCOUNT, PLACEHOLDER_REGION, product_arn
from stackproof.support.json_files import JsonFileError, read_json

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2
BATCH = 100  # BatchImportFindings takes at most 100 findings a call
ASFF_FILE = "report.asff.json"


class PublishError(Exception):
    """Bad input or a refusal: the message is for the user; exit 2."""


def add_parser(commands: Any) -> None:
    """``publish`` and its ``securityhub`` destination, on ``stackproof``'s subcommands."""
    publish = commands.add_parser(
        "publish",
        help="send a run's findings to a findings service (Security Hub); only with an explicit opt-in",
        description="Send the findings of a run's report.asff.json to a findings service.",
    )
    destinations = publish.add_subparsers(dest="destination", required=True)
    hub = destinations.add_parser(
        "securityhub",
        help="BatchImportFindings of report.asff.json into AWS Security Hub",
        description="Send report.asff.json (a report directory, e.g. reports/latest, or the file) to Security Hub"
        " with BatchImportFindings, 100 at a time. Re-sending a run updates the same findings (stable Ids).",
    )
    hub.add_argument("report", metavar="REPORT_DIR_OR_ASFF_FILE", help="a report directory or its report.asff.json")
    hub.add_argument("--region", required=True, help="the Security Hub region to send to")
    hub.add_argument("--profile", help="a profile of the standard credential chain")
    hub.add_argument(
        "--yes-send-findings",
        action="store_true",
        dest="send",
        help="really send: without it nothing is sent and the command exits 2",
    )
    hub.set_defaults(func=cmd_publish_securityhub)


def cmd_publish_securityhub(args: argparse.Namespace) -> int:
    return publish_securityhub(Path(args.report), args.region, args.send, args.profile)


def load_findings(given: Path) -> tuple[Path, list[dict[str, Any]]]:
    path = given / ASFF_FILE if given.is_dir() else given
    try:
        data = read_json(path, f"give a report directory or its {ASFF_FILE}")
    except JsonFileError as exc:
        raise PublishError(str(exc)) from None
    if not isinstance(data, list) or not all(isinstance(f, dict) and "Id" in f for f in data):
        raise PublishError(f"{path}: not a list of ASFF findings (as {ASFF_FILE} holds)")
    return path, data


def fill(findings: list[dict[str, Any]], account: str, region: str) -> list[dict[str, Any]]:
    """The findings with the placeholders replaced by ``account`` and ``region``; PublishError
    naming the findings that are about another account or region."""
    filled, foreign = [], []
    for finding in findings:
        owner = account if finding.get("AwsAccountId") == PLACEHOLDER_ACCOUNT else finding.get("AwsAccountId")
        where = region if finding.get("Region", PLACEHOLDER_REGION) == PLACEHOLDER_REGION else finding.get("Region")
        if owner != account or where != region:
            foreign.append(f"{finding['Id']} (account {owner}, region {where})")
            continue
        filled.append({**finding, "AwsAccountId": owner, "Region": where, "ProductArn": product_arn(owner, where)})
    if foreign:
        shown = "\n  ".join(foreign[:10]) + (f"\n  ... and {len(foreign) - 10} more" if len(foreign) > 10 else "")
        raise PublishError(
            f"{len(foreign)} findings are about another account or region than account {account} in {region};"
            f" publish them with that account's credentials and --region, nothing was sent:\n  {shown}"
        )
    return filled


def publish_securityhub(
    given: Path, region: str, send: bool, profile: str | None = None, out: TextIO | None = None
) -> int:
    out = out or sys.stdout
    try:
        path, findings = load_findings(given)
        if not send:
            raise PublishError(
                f"refusing to send {len(findings)} findings of {path} to Security Hub in {region}:"
                " sending writes findings into the account; add --yes-send-findings to send them"
            )
        if not findings:
            print(f"stackproof: {path} holds no findings; nothing to send", file=out)
            return EXIT_OK
        return _send(path, findings, region, profile, out)
    except PublishError as exc:
        print(f"stackproof: {exc}", file=sys.stderr)
        return EXIT_USAGE


def _send(path: Path, findings: list[dict[str, Any]], region: str, profile: str | None, out: TextIO) -> int:
    try:
        import boto3
        import botocore.exceptions
    except ImportError:
        raise PublishError("publishing needs boto3: pip install 'stackproof[aws]'") from None
    try:
        session = boto3.Session(profile_name=profile, region_name=region)
        account = str(session.client("sts").get_caller_identity()["Account"])
    except botocore.exceptions.ProfileNotFound as exc:
        raise PublishError(str(exc)) from None
    except (botocore.exceptions.NoCredentialsError, botocore.exceptions.PartialCredentialsError):
        raise PublishError(
            "no AWS credentials (a profile, SSO, environment or web identity); nothing was sent"
        ) from None
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
        raise PublishError(f"the credentials could not be checked (sts:GetCallerIdentity): {exc}") from None
    ready = fill(findings, account, region)
    client = session.client("securityhub")
    imported, failed = 0, []
    for start in range(0, len(ready), BATCH):
        batch = ready[start : start + BATCH]
        try:
            answer = client.batch_import_findings(Findings=batch)
        except botocore.exceptions.ParamValidationError as exc:
            raise PublishError(f"{path}: not findings Security Hub takes, nothing more was sent: {exc}") from None
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
            print(
                f"stackproof: BatchImportFindings failed after {imported} of {len(ready)} findings were"
                f" imported: {exc}",
                file=sys.stderr,
            )
            return EXIT_FINDINGS
        imported += int(answer.get("SuccessCount", 0))
        failed += answer.get("FailedFindings", [])
        if int(answer.get("FailedCount", 0)) and not answer.get("FailedFindings"):
            failed.append({"Id": f"{answer['FailedCount']} findings of the batch at {start}", "ErrorCode": "unnamed"})
    print(
        f"stackproof: {imported} of {len(ready)} findings imported into Security Hub, account {account}, {region}",
        file=out,
    )
    if failed:
        print(f"stackproof: Security Hub did not import {len(failed)} findings:", file=sys.stderr)
        for entry in failed:
            reason = f"{entry.get('ErrorCode', '')}: {entry.get('ErrorMessage', '')}".strip(": ")
            print(f"  {entry.get('Id')}: {reason}", file=sys.stderr)
        return EXIT_FINDINGS
    return EXIT_OK
