"""``stackproof publish securityhub``: against moto's Security Hub (BatchImportFindings and
GetFindings, in process), the findings of a real run arrive, filled with the caller's account
and region, in batches of 100, and a second send updates them; without the opt-in flag nothing
is sent and boto3 is not even imported; a finding Security Hub refuses is exit 1 naming it."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.client import BaseClient
from moto import mock_aws

from stackproof.cli import publish
from tests.conftest import ROOT, stackproof_run
from tests.golden import GOLDEN

REGION = "eu-west-1"
MOTO_ACCOUNT = "123456789012"
SECRET = "canary-publish-Secr3t-4d1e"


def command(*argv: str) -> int:
    """``stackproof publish ...`` through the parser the command registers (as cli/main.py does)."""
    parser = argparse.ArgumentParser(prog="stackproof")
    publish.add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["publish", *argv])
    return int(args.func(args))


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real run with more than one batch of findings: both references on template and moto."""
    base = tmp_path_factory.mktemp("publish")
    proc = stackproof_run("--reference", "dashboard,analytics", "--target", "template,moto", "--reports", str(base))
    assert proc.returncode == 0, proc.stderr
    return base / "latest"


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, int]]]:
    """moto's Security Hub and STS in this process; yields the Security Hub calls made (operation,
    number of findings) so batching can be seen."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    calls: list[tuple[str, int]] = []
    original = BaseClient._make_api_call

    def recording(self: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        if operation == "BatchImportFindings":
            calls.append((operation, len(params["Findings"])))
        return original(self, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", recording)
    with mock_aws():
        yield calls


def hub_findings() -> list[dict[str, Any]]:
    client = boto3.client("securityhub", region_name=REGION)
    return [f for page in client.get_paginator("get_findings").paginate() for f in page["Findings"]]


def test_without_the_flag_nothing_is_sent_and_boto3_is_not_imported(report_dir: Path) -> None:
    script = (
        "import argparse, sys\n"
        "from stackproof.cli import publish\n"
        "parser = argparse.ArgumentParser(prog='stackproof')\n"
        "publish.add_parser(parser.add_subparsers(dest='command', required=True))\n"
        f"args = parser.parse_args(['publish', 'securityhub', {str(report_dir)!r}, '--region', 'eu-west-1'])\n"
        "code = args.func(args)\n"
        "print('imported:', sorted(m for m in ('boto3', 'botocore') if m in sys.modules))\n"
        "raise SystemExit(code)\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=False)
    assert proc.returncode == 2, proc.stderr
    assert "imported: []" in proc.stdout
    count = len(json.loads((report_dir / "report.asff.json").read_text()))
    assert f"refusing to send {count} findings" in proc.stderr
    assert "add --yes-send-findings" in proc.stderr


def test_without_the_flag_nothing_arrives(report_dir: Path, hub: list[tuple[str, int]]) -> None:
    assert command("securityhub", str(report_dir), "--region", REGION) == 2
    assert hub == []
    assert hub_findings() == []


def test_the_findings_arrive_in_batches_filled_with_the_caller(
    report_dir: Path, hub: list[tuple[str, int]], capsys: pytest.CaptureFixture[str]
) -> None:
    sent = json.loads((report_dir / "report.asff.json").read_text())
    assert len(sent) > 100
    assert command("securityhub", str(report_dir), "--region", REGION, "--yes-send-findings") == 0
    assert hub == [("BatchImportFindings", 100), ("BatchImportFindings", len(sent) - 100)]
    arrived = {f["Id"]: f for f in hub_findings()}
    assert set(arrived) == {f["Id"] for f in sent}
    product = f"arn:aws:securityhub:{REGION}:{MOTO_ACCOUNT}:product/{MOTO_ACCOUNT}/default"
    assert {f["ProductArn"] for f in arrived.values()} == {product}
    assert {(f["AwsAccountId"], f["Region"]) for f in arrived.values()} == {(MOTO_ACCOUNT, REGION)}
    for finding in sent:
        assert arrived[finding["Id"]]["Compliance"] == finding["Compliance"]
        assert arrived[finding["Id"]]["GeneratorId"] == finding["GeneratorId"]
    out, err = capsys.readouterr()
    assert f"{len(sent)} of {len(sent)} findings imported into Security Hub, account {MOTO_ACCOUNT}" in out
    # The same run sent again updates the same findings: none is added.
    assert command("securityhub", str(report_dir / "report.asff.json"), "--region", REGION, "--yes-send-findings") == 0
    assert len(hub_findings()) == len(sent)
    out2, err2 = capsys.readouterr()
    assert SECRET not in out + err + out2 + err2


def test_a_finding_security_hub_refuses_is_an_error_naming_it(
    tmp_path: Path, hub: list[tuple[str, int]], capsys: pytest.CaptureFixture[str]
) -> None:
    """moto refuses a finding without resources (FailedFindings), as Security Hub does."""
    findings = json.loads((GOLDEN / "ssh-suppressed" / "report.asff.json").read_text())[:3]
    findings[1]["Resources"] = []
    path = tmp_path / "report.asff.json"
    path.write_text(json.dumps(findings))
    assert command("securityhub", str(path), "--region", REGION, "--yes-send-findings") == 1
    out, err = capsys.readouterr()
    assert "2 of 3 findings imported" in out
    assert f"did not import 1 findings:\n  {findings[1]['Id']}: InvalidInput" in err
    assert {f["Id"] for f in hub_findings()} == {findings[0]["Id"], findings[2]["Id"]}


def test_findings_about_another_account_or_region_are_refused_before_sending(
    tmp_path: Path, hub: list[tuple[str, int]], capsys: pytest.CaptureFixture[str]
) -> None:
    findings = json.loads((GOLDEN / "reference" / "report.asff.json").read_text())[:2]
    findings[0].update({"AwsAccountId": "111122223333", "Region": REGION})
    path = tmp_path / "report.asff.json"
    path.write_text(json.dumps(findings))
    assert command("securityhub", str(path), "--region", REGION, "--yes-send-findings") == 2
    assert "1 findings are about another account or region" in capsys.readouterr().err
    assert command("securityhub", str(GOLDEN / "reference"), "--region", "us-west-2", "--yes-send-findings") == 0
    findings[0].update({"AwsAccountId": MOTO_ACCOUNT, "Region": "us-west-2"})
    path.write_text(json.dumps(findings))
    assert command("securityhub", str(path), "--region", REGION, "--yes-send-findings") == 2
    assert hub == [("BatchImportFindings", len(json.loads((GOLDEN / "reference" / "report.asff.json").read_text())))]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        ("{not json", "not JSON"),
        ('{"Findings": []}', "not a list of ASFF findings"),
    ],
)
def test_unreadable_input_is_a_usage_error(
    tmp_path: Path, content: str | None, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "report.asff.json"
    if content is not None:
        path.write_text(content)
    assert command("securityhub", str(path), "--region", REGION, "--yes-send-findings") == 2
    assert message in capsys.readouterr().err
