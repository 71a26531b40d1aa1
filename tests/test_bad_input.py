"""Bad input, bounded: one line naming file and line, exit 2, never a Python exception."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from stackproof.cli.main import main
from stackproof.template.loader import TemplateError, load_parameters, load_template

BUCKET = "Resources:\n  Bucket:\n    Type: AWS::S3::Bucket\n"


def laughs() -> str:
    lines = [
        "Resources:",
        "  R:",
        "    Type: AWS::S3::Bucket",
        "    Properties:",
        "      a0: &a0 [x, x, x, x, x, x, x, x, x, x]",
    ]
    lines += [f"      a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 10)]
    return "\n".join(lines) + "\n"


TEMPLATES = [
    (
        "Conditions:\n  C: !Equals [a, a]\nResources:\n  B:\n    Type: AWS::S3::Bucket\n    Condition: [C]\n",
        "4: the Condition of B must be a condition name",
    ),
    (BUCKET + "    DependsOn: 5\n", "2: DependsOn of Bucket must be a resource name or a list of them"),
    ("Parameters:\n  P: text\n" + BUCKET, "2: parameter P must be a mapping with a Type"),
    (BUCKET + "Outputs:\n  A: 5\n", "5: output A must be a mapping with a Value"),
    (
        "Resources:\n  Sg:\n    Type: AWS::EC2::SecurityGroup\n    Properties:\n      SecurityGroupIngress: 5\n",
        "5: SecurityGroupIngress of Sg must be a list, not 5",
    ),
    (
        "Resources:\n  Sg:\n    Type: AWS::EC2::SecurityGroup\n    Properties:\n      SecurityGroupEgress: [5]\n",
        "5: each item of SecurityGroupEgress of Sg must be a mapping",
    ),
    ("Conditions:\n  C: !Equals [a]\n" + BUCKET, "2: Fn::Equals needs a list of two values, not a list of 1"),
    ("Conditions:\n  C: !Not x\n" + BUCKET, "2: Fn::Not needs a list of one condition, not 'x'"),
    (BUCKET + "    Properties:\n      BucketName: !Select [1]\n", "5: Fn::Select needs [index, list], not a list of 1"),
    (BUCKET + "    Properties:\n      BucketName: !Ref [x]\n", "5: Ref needs a name, not a list of 1"),
    (
        BUCKET + "    Properties:\n      Tags: !Cidr [10.0.0.0/8, 100000000, 8]\n",
        "5: Fn::Cidr count 100000000 is outside CloudFormation's 1..256",
    ),
    (laughs(), "10:11: aliases expand to more than 1,000,000 nodes"),
    ("A: " + "[" * 200 + "]" * 200 + "\n", "1:75: nested more than 128 levels deep"),
    ("A: " + "[" * 100_000 + "]" * 100_000 + "\n", "1:1003: exceeded maximum nesting depth"),
    ("A: &a [*a]\n" + BUCKET, "1:4: recursive alias"),
]


@pytest.mark.parametrize(("text", "message"), TEMPLATES, ids=[m for _, m in TEMPLATES])
def test_bad_templates_are_one_line_at_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(text)
    started = time.monotonic()
    with pytest.raises(TemplateError) as error:
        load_template(path)
    assert str(error.value) == f"{path}:{message}"
    assert time.monotonic() - started < 5


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (bytes(range(256)) * 4, "2: parameters is not UTF-8 text (byte 128)"),
        (b'{"P": "x\x00"}', "1: parameters is binary, not text"),
        (b"[" * 100_000 + b"]" * 100_000, "1: parameters nested too deeply"),
        (b'{"P": {"a": 1}}', " parameter P must be a string, number or list"),
        (b'[{"ParameterKey": ["P"], "ParameterValue": "x"}]', " entry 0 needs ParameterKey and ParameterValue"),
    ],
)
def test_bad_parameter_files_are_one_line(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "p.json"
    path.write_bytes(content)
    with pytest.raises(TemplateError) as error:
        load_parameters(path)
    assert str(error.value) == f"{path}:{message}"


def test_utf16_parameter_files_with_a_byte_order_mark_are_read(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_bytes('{"P": "ü"}'.encode("utf-16"))
    assert load_parameters(path) == {"P": "ü"}


def test_the_command_line_exits_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(BUCKET + "    DependsOn: 5\n")
    assert main(["run", "--target", "template", "--template", str(path), "--tools", "none", "--no-reports"]) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [
        f"stackproof: {path}:2: DependsOn of Bucket must be a resource name or a list of them"
    ]


def test_output_closed_early_is_not_a_traceback() -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "stackproof.cli", "controls"],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    finally:
        os.close(write_end)
    assert done.returncode == 1
    assert done.stderr == ""
