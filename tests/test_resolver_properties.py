"""Hypothesis: the resolver agrees with a plain reference evaluation of generated
Sub/Join/Select/Split/If expressions, including parameters that have no value (Unknown)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from stackproof.template.cfn_yaml import load_text
from stackproof.template.loader import Template
from stackproof.template.resolver import resolve
from stackproof.template.values import Unknown

UNKNOWN = object()
PARAMS = {"P0": "alpha", "P1": "b,c,d", "P2": "", "P3": None}  # P3 has no default and no value
WORD = st.text(alphabet="abcxyz019-_. ", max_size=6)


def conditions() -> st.SearchStrategy[Any]:
    equals = st.builds(lambda p, w: {"Fn::Equals": [{"Ref": p}, w]}, st.sampled_from(sorted(PARAMS)), WORD)
    return st.recursive(
        equals,
        lambda inner: st.one_of(
            st.builds(lambda c: {"Fn::Not": [c]}, inner),
            st.builds(lambda cs: {"Fn::And": cs}, st.lists(inner, min_size=2, max_size=3)),
            st.builds(lambda cs: {"Fn::Or": cs}, st.lists(inner, min_size=2, max_size=3)),
        ),
        max_leaves=4,
    )


def strings() -> st.SearchStrategy[Any]:
    leaf = st.one_of(WORD, st.builds(lambda p: {"Ref": p}, st.sampled_from(sorted(PARAMS))))

    def extend(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        lists = st.one_of(
            st.lists(inner, min_size=1, max_size=3),
            st.builds(lambda d, s: {"Fn::Split": [d, s]}, st.sampled_from([",", "-", "."]), inner),
        )
        sub = st.builds(
            lambda chunks, refs, values: {
                "Fn::Sub": [
                    "".join(c + "${" + r + "}" for c, r in zip(chunks, refs, strict=False)) + chunks[-1],
                    values,
                ]
            },
            st.lists(st.text(alphabet="abc -/", max_size=4), min_size=1, max_size=4),
            st.lists(st.sampled_from([*sorted(PARAMS), "V0", "V1"]), max_size=3),
            st.fixed_dictionaries({"V0": inner, "V1": inner}),
        )
        return st.one_of(
            st.builds(
                lambda d, items: {"Fn::Join": [d, items]}, st.sampled_from(["", ",", "/"]), st.lists(inner, max_size=3)
            ),
            st.builds(lambda i, items: {"Fn::Select": [i, items]}, st.integers(0, 3), lists),
            st.builds(lambda c, a, b: {"Fn::If": [c, a, b]}, st.sampled_from(["C0", "C1"]), inner, inner),
            sub,
        )

    return st.recursive(leaf, extend, max_leaves=8)


def reference_eval(node: Any, conds: dict[str, Any]) -> Any:
    """Straightforward evaluation, written independently of the resolver."""
    if isinstance(node, str):
        return node
    if isinstance(node, list):
        values = [reference_eval(x, conds) for x in node]
        return UNKNOWN if UNKNOWN in values else values
    ((key, arg),) = node.items()
    if key == "Ref":
        return UNKNOWN if PARAMS[arg] is None else PARAMS[arg]
    if key == "Fn::Join":
        items = reference_eval(arg[1], conds)
        if items is UNKNOWN or any(not isinstance(i, str) for i in items):
            return UNKNOWN
        return arg[0].join(items)
    if key == "Fn::Split":
        source = reference_eval(arg[1], conds)
        return UNKNOWN if not isinstance(source, str) else source.split(arg[0])
    if key == "Fn::Select":
        items = reference_eval(arg[1], conds)
        if items is UNKNOWN or not isinstance(items, list) or arg[0] >= len(items):
            return UNKNOWN
        return items[arg[0]]
    if key == "Fn::If":
        truth = conds[arg[0]]
        return UNKNOWN if truth is UNKNOWN else reference_eval(arg[1] if truth else arg[2], conds)
    if key == "Fn::Sub":
        text, variables = arg
        out = ""
        while "${" in text:
            before, _, rest = text.partition("${")
            name, _, text = rest.partition("}")
            value = (
                reference_eval(variables[name], conds) if name in variables else reference_eval({"Ref": name}, conds)
            )
            if not isinstance(value, str):
                return UNKNOWN
            out += before + value
        return out + text
    raise AssertionError(key)


def reference_truth(node: Any) -> Any:
    ((key, arg),) = node.items()
    if key == "Fn::Equals":
        value = PARAMS[arg[0]["Ref"]]
        return UNKNOWN if value is None else value == arg[1]
    parts = [reference_truth(x) for x in arg]
    if key == "Fn::Not":
        return UNKNOWN if parts[0] is UNKNOWN else not parts[0]
    if key == "Fn::And":
        return False if False in parts else (UNKNOWN if UNKNOWN in parts else True)
    return True if True in parts else (UNKNOWN if UNKNOWN in parts else False)


def template_for(expression: Any, c0: Any, c1: Any) -> Template:
    parameters = {
        name: ({"Type": "String"} if value is None else {"Type": "String", "Default": value})
        for name, value in PARAMS.items()
    }
    data = {
        "Parameters": parameters,
        "Conditions": {"C0": c0, "C1": c1},
        "Resources": {"Thing": {"Type": "AWS::SSM::Parameter", "Properties": {"Value": expression}}},
    }
    return Template(Path("generated.json"), load_text(json.dumps(data), "generated.json"))


@settings(max_examples=400, deadline=None)
@given(expression=strings(), c0=conditions(), c1=conditions())
def test_resolver_agrees_with_reference_evaluation(expression: Any, c0: Any, c1: Any) -> None:
    conds = {"C0": reference_truth(c0), "C1": reference_truth(c1)}
    expected = reference_eval(expression, conds)
    got = resolve(template_for(expression, c0, c1)).resources["Thing"].properties["Value"]
    if expected is UNKNOWN:
        assert isinstance(got, Unknown) or (isinstance(got, list) and any(isinstance(x, Unknown) for x in got))
    else:
        assert got == expected
