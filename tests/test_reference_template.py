"""The reference template: lint-clean, its user data is the script, its exceptions justified."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from stackproof.build.userdata import sync
from stackproof.template.cfn_yaml import load_text
from tests.conftest import ROOT, TEMPLATE

SCRIPT = ROOT / "reference" / "bootstrap" / "dashboard-userdata.sh"


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_text(TEMPLATE.read_text(encoding="utf-8"), str(TEMPLATE))


def test_cfn_lint_accepts_every_reference_template() -> None:
    cfn_lint = Path(sys.executable).parent / "cfn-lint"
    templates = REFERENCES
    proc = subprocess.run([str(cfn_lint), *map(str, templates)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_launch_template_user_data_is_exactly_the_bootstrap_script(template: dict[str, Any]) -> None:
    data = template["Resources"]["LaunchTemplate"]["Properties"]["LaunchTemplateData"]
    sub = data["UserData"]["Fn::Base64"]["Fn::Sub"]
    assert sub[0] == SCRIPT.read_text(encoding="utf-8")


def test_user_data_check_fails_when_script_and_template_drift(tmp_path: Path) -> None:
    (tmp_path / "reference" / "bootstrap").mkdir(parents=True)
    script = tmp_path / "reference" / "bootstrap" / SCRIPT.name
    script.write_text(SCRIPT.read_text(encoding="utf-8"), encoding="utf-8")
    copy = tmp_path / "dashboard.yaml"
    shutil.copy(TEMPLATE, copy)
    assert sync(copy, tmp_path, check=True) is True

    script.write_text(script.read_text(encoding="utf-8") + "echo drifted\n", encoding="utf-8")
    assert sync(copy, tmp_path, check=True) is False
    assert "echo drifted" not in copy.read_text(encoding="utf-8"), "--check must not rewrite"
    assert sync(copy, tmp_path, check=False) is False
    assert "echo drifted" in copy.read_text(encoding="utf-8")
    assert sync(copy, tmp_path, check=True) is True


def test_bootstrap_script_uses_only_placeholders_the_template_supplies(template: dict[str, Any]) -> None:
    data = template["Resources"]["LaunchTemplate"]["Properties"]["LaunchTemplateData"]
    script, variables = data["UserData"]["Fn::Base64"]["Fn::Sub"]
    placeholders = set(re.findall(r"\$\{([^}!]+)\}", script))
    pseudo = {p for p in placeholders if p.startswith("AWS::")}
    assert placeholders - pseudo == set(variables), "every placeholder needs a value and every value a use"


def _rendered_script(template: dict[str, Any]) -> str:
    """The script as an instance receives it: placeholders filled in as Fn::Sub would."""
    data = template["Resources"]["LaunchTemplate"]["Properties"]["LaunchTemplateData"]
    script, variables = data["UserData"]["Fn::Base64"]["Fn::Sub"]
    values = {name: f"sample-{name.lower()}" for name in variables} | {"AWS::Region": "eu-west-1"}
    return re.sub(r"\$\{([^}!]+)\}", lambda m: values[m[1]], script)


def test_rendered_bootstrap_script_is_valid_bash_and_shellcheck_clean(template: dict[str, Any], tmp_path: Path) -> None:
    rendered = tmp_path / "userdata.sh"
    rendered.write_text(_rendered_script(template), encoding="utf-8")
    syntax = subprocess.run(["bash", "-n", str(rendered)], capture_output=True, text=True, check=False)
    assert syntax.returncode == 0, syntax.stderr
    shellcheck = Path(sys.executable).parent / "shellcheck"
    lint = subprocess.run(
        [str(shellcheck), "--shell=bash", "--severity=style", str(rendered)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert lint.returncode == 0, lint.stdout


def _checkov_skips(template: dict[str, Any]) -> list[tuple[str, str, str]]:
    skips = []
    for logical_id, resource in template["Resources"].items():
        for entry in (resource.get("Metadata") or {}).get("checkov", {}).get("skip", []):
            skips.append((logical_id, entry.get("id", ""), entry.get("comment", "")))
    return skips


REFERENCES = sorted(
    p for p in (ROOT / "reference" / "cloudformation").glob("*.yaml") if not p.name.endswith(".parts.yaml")
)


@pytest.mark.parametrize("path", REFERENCES, ids=[p.stem for p in REFERENCES])
def test_every_checkov_exception_is_per_resource_and_justified(path: Path) -> None:
    template = load_text(path.read_text(encoding="utf-8"), str(path))
    skips = _checkov_skips(template)
    assert skips, "the reference documents its checkov exceptions (see the gate)"
    for logical_id, check_id, comment in skips:
        assert re.fullmatch(r"CKV2?_AWS_\d+", check_id), (logical_id, check_id)
        assert len(comment.split()) >= 8, f"{logical_id}/{check_id}: justification too thin: {comment!r}"
    for name in (".checkov.yaml", ".checkov.yml"):
        assert not (ROOT / name).exists(), "no repository-wide checkov configuration (blanket skips)"
    for path in [
        ROOT / "tox.ini",
        ROOT / ".ci" / "run",
        ROOT / "src" / "stackproof" / "gate" / "tools.py",
        ROOT / "src" / "stackproof" / "gate" / "findings.py",
    ]:
        text = path.read_text(encoding="utf-8")
        assert "--skip-check" not in text, path
        assert "--soft-fail" not in text, path


def test_cfn_lint_exceptions_are_justified(template: dict[str, Any]) -> None:
    for logical_id, resource in template["Resources"].items():
        ignored = (resource.get("Metadata") or {}).get("cfn-lint", {}).get("config", {}).get("ignore_checks")
        if ignored:
            assert (resource["Metadata"]["cfn-lint"].get("comment") or "").strip(), logical_id


@pytest.mark.parametrize("path", REFERENCES, ids=[p.stem for p in REFERENCES])
def test_checkov_passes_every_reference_template(path: Path) -> None:
    """The gate of both references: no failed check, only the justified skips (offline)."""
    from stackproof.gate.findings import run_tool
    from stackproof.gate.tools import ToolMissing, find_tool

    try:
        find_tool("checkov", "STACKPROOF_CHECKOV")
    except ToolMissing as exc:
        pytest.skip(f"checkov is not installed here ({exc}); tox -e test installs it")
    report = run_tool("checkov", str(path))
    assert report.status == "ran", report.message
    assert [f.rule for f in report.findings if f.status != "SUPPRESSED"] == []
    skipped = sorted((f.resource, f.rule) for f in report.findings if f.status == "SUPPRESSED")
    expected = sorted((logical_id, check) for logical_id, check, _ in _checkov_skips(load_text(path.read_text())))
    assert skipped == expected
    assert report.passed > 100
