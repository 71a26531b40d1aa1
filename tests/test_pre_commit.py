"""``.pre-commit-hooks.yaml`` through pre-commit itself: ``pre-commit try-repo`` installs this
repository's committed HEAD into a hook virtualenv of its own (from PyPI, under a
PRE_COMMIT_HOME in tmp) and runs hook ``stackproof`` on a sample repository: the reference
template with its parameters file beside it passes, and a broken one fails naming its control.
The hook module's own choices (what is a template, which parameters file) are tested directly."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from stackproof.cli import precommit
from tests.conftest import ROOT
from tests.mutants import MUTANTS

TEMPLATE = "reference/cloudformation/dashboard.yaml"
PARAMS = "reference/cloudformation/dashboard.params.json"


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout


def committed_head() -> str:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    try:
        head = git("rev-parse", "HEAD", cwd=ROOT).strip()
    except subprocess.CalledProcessError:
        pytest.skip("not a git checkout: pre-commit installs hooks from a repository's commits")
    git("cat-file", "-e", f"{head}:.pre-commit-hooks.yaml", cwd=ROOT)
    return head


def try_repo(sample: Path, home: Path, head: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PRE_COMMIT_HOME": str(home), "PRE_COMMIT_COLOR": "never"}
    environment.pop("PYTHONPATH", None)
    command = [sys.executable, "-m", "pre_commit", "try-repo", str(ROOT), "stackproof", "--ref", head]
    command += ["--all-files", "--verbose"]
    return subprocess.run(
        command, cwd=sample, env=environment, capture_output=True, text=True, timeout=900, check=False
    )


@pytest.mark.slow
def test_the_hook_passes_a_good_template_and_fails_a_broken_one_naming_the_control(tmp_path: Path) -> None:
    head = committed_head()
    sample = tmp_path / "infra"
    (sample / "cfn").mkdir(parents=True)
    (sample / ".github" / "workflows").mkdir(parents=True)
    git("init", "-q", cwd=sample)
    reference = git("show", f"{head}:{TEMPLATE}", cwd=ROOT)
    params = git("show", f"{head}:{PARAMS}", cwd=ROOT)
    (sample / "cfn" / "dashboard.yaml").write_text(reference)
    (sample / "cfn" / "dashboard.params.json").write_text(params)
    (sample / ".github" / "workflows" / "ci.yml").write_text("on: push\njobs: {}\n")
    git("add", ".", cwd=sample)
    home = tmp_path / "pre-commit-home"

    good = try_repo(sample, home, head)
    assert good.returncode == 0, good.stdout + good.stderr
    assert "Passed" in good.stdout
    assert "cfn/dashboard.params.json: not a CloudFormation template, skipped" in good.stdout
    assert ".github/workflows/ci.yml: not a CloudFormation template, skipped" in good.stdout
    assert "stackproof: passed" in good.stdout

    mutant = next(m for m in MUTANTS if m.name == "tls10-policy")
    (tmp_path / "head.yaml").write_text(reference)
    broken = mutant.apply(tmp_path / "head.yaml", tmp_path)
    shutil.copy(broken, sample / "cfn" / "app.json")
    (sample / "cfn" / "app.params.json").write_text(params)
    git("add", ".", cwd=sample)
    bad = try_repo(sample, home, head)
    assert bad.returncode != 0, bad.stdout
    assert "Failed" in bad.stdout
    assert "FAIL TLS-03 [template]" in bad.stdout
    assert "ELBSecurityPolicy-2016-08" in bad.stdout


def test_what_the_hook_takes_for_a_template(tmp_path: Path) -> None:
    yaml_template = tmp_path / "a.yaml"
    yaml_template.write_text("Resources:\n  Logs:\n    Type: AWS::Logs::LogGroup\n")
    declared = tmp_path / "b.template"
    declared.write_text("AWSTemplateFormatVersion: '2010-09-09'\n")
    json_template = tmp_path / "c.json"
    json_template.write_text(json.dumps({"Resources": {"Logs": {"Type": "AWS::Logs::LogGroup"}}}))
    params = tmp_path / "c.params.json"
    params.write_text(json.dumps([{"ParameterKey": "A", "ParameterValue": "b"}]))
    workflow = tmp_path / "ci.yml"
    workflow.write_text("on: push\njobs:\n  Resources: {}\n")
    assert [precommit.is_template(p) for p in (yaml_template, declared, json_template, params, workflow)] == [
        True,
        True,
        True,
        False,
        False,
    ]
    assert precommit.params_for(json_template, None) == str(params)
    assert precommit.params_for(yaml_template, None) is None
    assert precommit.params_for(yaml_template, "all.json") == "all.json"


def test_nothing_to_check_passes_and_says_what_was_skipped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    other = tmp_path / "values.yaml"
    other.write_text("replicas: 2\n")
    assert precommit.main([str(other)]) == 0
    assert f"{other}: not a CloudFormation template, skipped" in capsys.readouterr().out


def test_the_readme_recipes_name_what_exists() -> None:
    """The README's pre-commit snippet and GitHub Actions recipe parse, use the hook's id and the
    files a run writes, and publish only with the opt-in flag."""
    import re

    import yaml

    from tests.golden import FILES

    section = (ROOT / "README.md").read_text().split("## In CI and pre-commit", 1)[1].split("\n## ", 1)[0]
    blocks = [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", section, re.DOTALL)]
    config, workflow = blocks
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert config["repos"][0]["hooks"][0]["id"] in {h["id"] for h in hooks}
    steps = workflow["jobs"]["stackproof"]["steps"]
    files = {Path(s["with"][k]).name for s in steps for k in ("sarif_file", "report_paths") if k in s.get("with", {})}
    assert files == {"report.sarif", "junit.xml"}
    assert files <= set(FILES)
    published = [s["run"] for s in steps if "publish securityhub" in s.get("run", "")]
    assert published
    assert all("--yes-send-findings" in p for p in published)
    assert workflow["jobs"]["stackproof"]["permissions"]["security-events"] == "write"
