"""Hypothesis over the whole pipeline: CloudFormation-shaped templates of every resource type the
model builds, with property values of every shape a template can hold (scalars of each JSON
type, lists, mappings, Ref/GetAtt to resources and parameters that exist or not, Fn::If on true,
false and unknown conditions, ImportValue, Sub with unknown variables, AWS::NoValue, nesting).

Load, resolve, build and every control's checks may end only in the project's input error
(:class:`TemplateError`, one line starting with the file) or in a verdict: never a Python
exception, and never an ERROR that is really a crash (``evaluate(..., crashes=True)`` lets those
propagate). A sample also goes through the real command line: exit 0, 1 or 2, no traceback.

Deterministic (``derandomize``) and bounded: the in-process test takes about 20 s, the
command-line sample about 15 s.
"""

from __future__ import annotations

import copy
import inspect
import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stackproof import catalogue
from stackproof.model import from_template
from stackproof.model.from_stack_set import build_set
from stackproof.model.from_template import BUILDERS, LINKS, build
from stackproof.results.evaluate import evaluate
from stackproof.support import paths
from stackproof.template.loader import TemplateError, load_parameters, load_template
from stackproof.template.resolver import resolve
from stackproof.template.stack_set import resolve_set

TYPES = sorted(set(BUILDERS) | set(LINKS))
_NAME = re.compile(r'"([A-Z][A-Za-z0-9]+)"')
ALL_NAMES = sorted(set(_NAME.findall(inspect.getsource(from_template))))


def _names_of(builder: Callable[..., None]) -> list[str]:
    """The property names a builder reads: its own string literals, else every name the
    model reads (closures made by a factory share the factory's source)."""
    found = sorted(set(_NAME.findall(inspect.getsource(builder))))
    return found or ALL_NAMES


PROPERTY_NAMES = {rtype: _names_of({**BUILDERS, **LINKS}[rtype]) for rtype in TYPES}
PARAMETERS = {
    "Known": {"Type": "String", "Default": "known"},
    "NoDefault": {"Type": "String"},
    "Numbers": {"Type": "CommaDelimitedList", "Default": "1,2"},
    "Secret": {"Type": "String", "NoEcho": True, "Default": "hunter2"},
}
CONDITIONS = {
    "IsTrue": {"Fn::Equals": ["a", "a"]},
    "IsFalse": {"Fn::Equals": ["a", "b"]},
    "IsUnknown": {"Fn::Equals": [{"Ref": "NoDefault"}, "x"]},
}
TEXTS = [
    "0.0.0.0/0",
    "::/0",
    "0.0.0.0/33",
    "10.0.0.0/8 ",
    "10.0.0.0/16",
    "fe80::/10",
    "not-a-cidr",
    "-1",
    "tcp",
    "6",
    "all",
    "22",
    "443",
    "65536",
    "true",
    "True",
    "yes",
    "false",
    "required",
    "optional",
    "HTTPS",
    "HTTP",
    "TLS",
    "application",
    "network",
    "internet-facing",
    "forward",
    "redirect",
    "Allow",
    "*",
    "",
    "ChangeInCapacity",
    "StepScaling",
    "SimpleScaling",
    "TargetTrackingScaling",
    "GreaterThanOrEqualToThreshold",
    "CPUUtilization",
    "AutoScalingGroupName",
    "arn:aws:iam::aws:policy/AdministratorAccess",
    "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore",
    "ELBSecurityPolicy-TLS13-1-2-2021-06",
    "mariadb",
    "postgres",
    "IyEvYmluL2Jhc2gKbW91bnQgLXQgbmZzNA==",
    "#!/bin/bash\nmount -t efs -o tls fs-1:/ /mnt\n",
    '{"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}',
    '{"Statement": 5}',
    "[1, 2]",
    "not json",
    "unicode ünï ☃ \u202e",
]
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(TEXTS),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=8),
)
SUBS = [
    "${NoDefault}-x",
    "${Known}",
    "${Missing}",
    "${Missing.Arn}",
    "${AWS::StackName}-${AWS::Region}",
    '{"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "${Missing.Arn}"}]}',
    '{"Statement": [{"Effect": "${NoDefault}", "Action": "s3:*", "Resource": "*"}]}',
    "plain",
]


def values(ids: list[str]) -> st.SearchStrategy[Any]:
    """Values referring to the resources ``ids`` (those declared before the one being drawn,
    so that most templates have no dependency cycle and get past the loader)."""
    ids = ids or ["Missing"]
    refs = ids + sorted(PARAMETERS) + ["AWS::NoValue", "AWS::Region", "AWS::AccountId", "AWS::NotificationARNs"]

    def extend(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        return st.one_of(
            st.lists(children, max_size=4),
            st.dictionaries(st.sampled_from(ALL_NAMES), children, max_size=4),
            st.builds(lambda c, a, b: {"Fn::If": [c, a, b]}, st.sampled_from(sorted(CONDITIONS)), children, children),
            st.builds(lambda xs: {"Fn::Join": [",", xs]}, st.lists(children, max_size=3)),
            st.builds(lambda i, xs: {"Fn::Select": [i, xs]}, st.integers(0, 2), st.lists(children, max_size=3)),
            st.builds(lambda x: {"Fn::Base64": x}, children),
        )

    leaves = st.one_of(
        SCALARS,
        st.builds(lambda x: {"Ref": x}, st.sampled_from(refs)),
        st.builds(
            lambda x, a: {"Fn::GetAtt": [x, a]},
            st.sampled_from(ids),
            st.sampled_from(["Arn", "GroupId", "DNSName", "Outputs.X"]),
        ),
        st.builds(lambda x: {"Fn::ImportValue": x}, st.sampled_from(["Exported", "Elsewhere"])),
        st.builds(lambda x: {"Fn::Sub": x}, st.sampled_from(SUBS)),
        st.builds(lambda x: {"Fn::Sub": "arn:${AWS::Partition}:${" + x + ".Arn}/*"}, st.sampled_from(ids)),
        st.just({"Fn::GetAZs": ""}),
        st.just({"Fn::Split": [",", {"Ref": "NoDefault"}]}),
    )
    return st.recursive(leaves, extend, max_leaves=12)


@st.composite
def templates(draw: st.DrawFn) -> dict[str, Any]:
    count = draw(st.integers(min_value=1, max_value=6))
    ids = [f"R{i}" for i in range(count)]
    resources: dict[str, Any] = {}
    for index, logical_id in enumerate(ids):
        value = values(ids[:index])
        rtype = draw(st.sampled_from(TYPES))
        resource: dict[str, Any] = {"Type": rtype}
        shape = draw(st.sampled_from(["props", "props", "props", "none", "absent", "empty"]))
        if shape == "props":
            resource["Properties"] = draw(
                st.dictionaries(st.sampled_from(PROPERTY_NAMES[rtype]), value, min_size=1, max_size=6)
            )
        elif shape == "none":
            resource["Properties"] = None
        elif shape == "empty":
            resource["Properties"] = {}
        condition = draw(st.sampled_from([None, None, *sorted(CONDITIONS)]))
        if condition:
            resource["Condition"] = condition
        resources[logical_id] = resource
    template: dict[str, Any] = {"Parameters": PARAMETERS, "Conditions": CONDITIONS, "Resources": resources}
    value = values(ids)
    if draw(st.booleans()):
        template["Outputs"] = {"O": {"Value": draw(value), "Export": {"Name": "Exported"}}}
    if draw(st.booleans()):
        declared = st.builds(
            lambda reference, increases: {"reference": reference, "quota_increases": increases},
            st.sampled_from(["dashboard", "analytics"]),
            st.one_of(
                value,
                st.lists(
                    st.fixed_dictionaries(
                        {
                            "code": st.sampled_from(["L-1216C47A", "L-0263D0A3"]),
                            "value": st.one_of(st.integers(0, 10_000), value),
                            "reason": value,
                        }
                    )
                ),
            ),
        )
        template["Metadata"] = {"stackproof": draw(st.one_of(value, declared))}
    return template


CONTROLS = sorted(cid for cid, control in catalogue.load().items() if control.active)
FUZZ = settings(
    derandomize=True,
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _write(template: dict[str, Any], directory: str) -> Path:
    path = Path(directory) / "fuzz.json"
    path.write_text(json.dumps(template, ensure_ascii=False, indent=0), encoding="utf-8")
    return path


def _one_line_at(path: Path, message: str) -> None:
    assert message.startswith(f"{path}:"), message
    assert "\n" not in message, message


def run_pipeline(path: Path, params: Path | None = None, *, as_set: bool = True) -> None:
    """Everything a run does in process (``as_set``: also as the command line builds it, a set
    of one); raises only on a crash."""
    given = load_parameters(params) if params else {}
    try:
        resolved = resolve(load_template(path), given, "us-east-1")
    except TemplateError as exc:
        _one_line_at(path, str(exc))
        return
    deployment = build(resolved)
    if as_set:
        build_set(resolve_set([path], given, "us-east-1"), "fuzz")
    for reference in ("dashboard", "analytics"):
        deployment.declared = {**deployment.declared, "reference": reference}
        for control in CONTROLS:
            evaluate(deployment, control, crashes=True)


@FUZZ
@given(templates())
def test_no_template_crashes_the_pipeline(template: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as directory:
        run_pipeline(_write(template, directory))


def _plain(node: Any) -> Any:
    """A loaded template as plain JSON data (its short-form tags are already Fn:: mappings)."""
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node


REFERENCES = {
    name: _plain(load_template(paths.reference_dir() / "cloudformation" / f"{name}.yaml").data)
    for name in ("dashboard", "analytics")
}


def _places(node: Any, at: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    """Every path below ``at`` to a value a mutation can replace."""
    found = [at]
    if isinstance(node, dict):
        for k, v in node.items():
            found += _places(v, (*at, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            found += _places(v, (*at, i))
    return found


PLACES = {
    name: [
        place
        for logical_id, resource in data["Resources"].items()
        for place in _places(resource.get("Properties") or {}, ("Resources", logical_id, "Properties"))
    ]
    for name, data in REFERENCES.items()
}


def _mutated(value: Any, how: str, replacement: Any) -> Any:
    return {
        "replace": replacement,
        "unknown": {"Fn::If": ["IsUnknown", value, {"Ref": "AWS::NoValue"}]},
        "either": {"Fn::If": ["IsUnknown", value, replacement]},
        "list": [value],
        "text": json.dumps(value),
        "null": None,
    }[how]


@st.composite
def reference_mutants(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """A reference template (real shapes, real relationships) with a few of its property
    values replaced, wrapped in an Fn::If on an unknown condition, listed, stringified or nulled."""
    name = draw(st.sampled_from(sorted(REFERENCES)))
    template = copy.deepcopy(REFERENCES[name])
    template.setdefault("Parameters", {}).update({"NoDefault": {"Type": "String"}})
    template.setdefault("Conditions", {}).update(CONDITIONS)
    value = values(sorted(template["Resources"]))
    for place in draw(st.lists(st.sampled_from(PLACES[name]), min_size=1, max_size=4, unique=True)):
        how = draw(st.sampled_from(["replace", "replace", "unknown", "either", "list", "text", "null"]))
        replacement = draw(value)
        parent: Any = template
        try:
            for step in place[:-1]:
                parent = parent[step]
            parent[place[-1]] = _mutated(parent[place[-1]], how, replacement)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation replaced the container of this place
    return name, template


@settings(FUZZ, max_examples=60)
@given(reference_mutants())
def test_no_mutant_of_a_reference_crashes_the_pipeline(mutant: tuple[str, dict[str, Any]]) -> None:
    name, template = mutant
    with tempfile.TemporaryDirectory() as directory:
        params = paths.reference_dir() / "cloudformation" / f"{name}.params.json"
        run_pipeline(_write(template, directory), params, as_set=False)


ENV = {
    **os.environ,
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "eu-west-1",
    "AWS_CONFIG_FILE": "/dev/null",
    "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
}


@settings(FUZZ, max_examples=5)
@given(templates())
def test_the_command_line_never_shows_a_traceback(template: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = _write(template, directory)
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "stackproof.cli",
                "run",
                "--target",
                "template",
                "--tools",
                "none",
                "--no-reports",
                "--template",
                str(path),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            env=ENV,
            cwd=directory,
        )
    assert done.returncode in (0, 1, 2), done.stderr[-2000:]
    assert "Traceback" not in done.stderr + done.stdout, done.stderr[-2000:]
    if done.returncode == 2:
        message = done.stderr.strip().removeprefix("stackproof: ")
        _one_line_at(path, message)
