"""The command line: build steps and the gate, with clear errors and exit codes."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from stackproof.cli import main
from stackproof.template.cfn_yaml import TemplateSyntaxError, load_text


def test_lambda_zip_holds_the_handler_and_is_reproducible(tmp_path: Path) -> None:
    first, second = tmp_path / "a.zip", tmp_path / "b.zip"
    assert main(["build", "lambda", "--output", str(first)]) == 0
    assert main(["build", "lambda", "--output", str(second)]) == 0
    assert first.read_bytes() == second.read_bytes()
    with zipfile.ZipFile(first) as archive:
        assert archive.namelist() == ["handler.py"]
        assert "def lambda_handler" in archive.read("handler.py").decode()


def test_userdata_check_passes_on_the_reference(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["build", "userdata", "--check"]) == 0
    assert "up to date" in capsys.readouterr().out


def test_userdata_on_a_template_without_markers_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    template = tmp_path / "t.yaml"
    template.write_text("Resources: {}\n")
    assert main(["build", "userdata", "--template", str(template)]) == 2
    err = capsys.readouterr().err
    assert str(template) in err
    assert "BEGIN USERDATA" in err
    assert "Traceback" not in err


def test_gate_with_unknown_tool_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gate", "--tools", "tfsec"]) == 2
    assert "unknown gate tool 'tfsec'" in capsys.readouterr().err


def test_gate_fails_on_a_template_cfn_lint_rejects(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "bad.yaml").write_text(
        "Resources:\n  Bucket:\n    Type: AWS::S3::Bucket\n    Properties:\n      NoSuchProperty: 1\n"
    )
    assert main(["gate", "--tools", "cfn-lint", "--directory", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "cfn-lint FAILED" in out
    assert "NoSuchProperty" in out


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Resources:\n  A: 1\n  A: 2\n", "<t>:3:3: duplicate key 'A' (first at line 2)"),
        ("Resources:\n  A: !Bogus x\n", "<t>:2:6: unknown tag !Bogus"),
        ("Resources: [\n", "<t>:2:1:"),
        ("- just a list\n", "<t>: a template must be a mapping"),
    ],
)
def test_template_syntax_errors_name_file_and_line(text: str, message: str) -> None:
    with pytest.raises(TemplateSyntaxError) as error:
        load_text(text, "<t>")
    assert str(error.value).startswith(message)


def test_short_forms_become_long_forms() -> None:
    data = load_text("A: !GetAtt Db.Endpoint.Address\nB: !Ref X\nC: !Sub 'a-${X}'\nD: !If [C, 1, 2]\n")
    assert data == {
        "A": {"Fn::GetAtt": ["Db", "Endpoint.Address"]},
        "B": {"Ref": "X"},
        "C": {"Fn::Sub": "a-${X}"},
        "D": {"Fn::If": ["C", 1, 2]},
    }


def test_run_writes_to_the_stdout_of_the_moment(capsys: pytest.CaptureFixture[str]) -> None:
    """A stream bound when the module was imported can be closed by the time of the call (a
    test's captured stdout was, under xdist): the output goes to sys.stdout as it is then."""
    import io
    import sys

    from stackproof.cli.run import RunOptions
    from stackproof.cli.run import main as run_main

    replaced = io.StringIO()
    original, sys.stdout = sys.stdout, replaced
    try:
        code = run_main(RunOptions(targets="template", tools="none", write_reports=False, keyword="every_tier"))
    finally:
        sys.stdout = original
    assert code == 0
    assert "stackproof: passed" in replaced.getvalue()
