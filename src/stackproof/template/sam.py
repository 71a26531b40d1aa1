"""``Transform: AWS::Serverless-2016-10-31`` expanded with the real SAM translator, offline.

The translator is the one CloudFormation runs (``aws-sam-translator``), so the resources
judged are the ones that would be deployed. It is kept off the network: the region comes
from the caller, managed policies from the translator's bundled map, and artefacts that
``sam package`` would upload (local ``CodeUri``, ``DefinitionUri``, ``ContentUri``) or that
the Serverless Application Repository would serve are replaced by placeholders before
translating and by :class:`Unknown` values after. When the translator refuses the template,
the SAM resources stay as they were written with an unknown existence and a warning: they
are never judged as if untransformed.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping
from typing import Any

from stackproof.template.cfn_yaml import LocatedDict, TemplateWarning
from stackproof.template.values import Unknown

SERVERLESS_PREFIX = "AWS::Serverless::"
_PLACEHOLDER_S3 = "s3://stackproof-offline/placeholder"
_PLACEHOLDER_URL = "https://stackproof-offline.invalid/application.yaml"

# (resource type, property): what `sam package` uploads from a local path.
_PACKAGED = {
    ("AWS::Serverless::Function", "CodeUri"),
    ("AWS::Serverless::Function", "ImageUri"),
    ("AWS::Serverless::LayerVersion", "ContentUri"),
    ("AWS::Serverless::Api", "DefinitionUri"),
    ("AWS::Serverless::HttpApi", "DefinitionUri"),
    ("AWS::Serverless::StateMachine", "DefinitionUri"),
    ("AWS::Serverless::GraphQLApi", "SchemaUri"),
}


class SamUnavailable(Exception):
    """aws-sam-translator is not installed."""


def translate(
    data: LocatedDict, parameters: Mapping[str, Any], region: str, source: str
) -> tuple[LocatedDict, dict[str, Unknown], list[TemplateWarning]]:
    """The template ``data`` translated; SAM resources that could not be are in the second value."""
    plain = _plain(data)
    resources = plain.get("Resources") if isinstance(plain.get("Resources"), dict) else {}
    packaged: dict[str, str] = {}
    applications: list[str] = []
    for logical_id, resource in resources.items():
        if not isinstance(resource, dict) or not isinstance(resource.get("Properties"), dict):
            continue
        props = resource["Properties"]
        for rtype, prop in _PACKAGED:
            value = props.get(prop)
            if resource.get("Type") == rtype and isinstance(value, str) and not value.startswith("s3://"):
                if prop == "ImageUri":
                    continue
                packaged[logical_id] = value
                props[prop] = _PLACEHOLDER_S3
        if resource.get("Type") == "AWS::Serverless::Application" and isinstance(props.get("Location"), dict):
            props["Location"] = _PLACEHOLDER_URL
            applications.append(logical_id)
    try:
        translated = _run_translator(plain, parameters, region)
    except SamUnavailable:
        return _untranslated(data, source, "aws-sam-translator is not installed")
    except Exception as exc:  # the translator's own errors and whatever it trips over
        return _untranslated(data, source, _message(exc))
    out_resources = translated.get("Resources") or {}
    for logical_id, path in packaged.items():
        function = out_resources.get(logical_id)
        if isinstance(function, dict) and isinstance(function.get("Properties"), dict):
            for prop in ("Code", "Content", "DefinitionS3Location", "BodyS3Location", "DefinitionUri"):
                if prop in function["Properties"]:
                    function["Properties"][prop] = Unknown(f"local artefact {path!r}: uploaded by `sam package`")
    for logical_id in applications:
        stack = out_resources.get(logical_id)
        if isinstance(stack, dict) and isinstance(stack.get("Properties"), dict):
            stack["Properties"]["TemplateURL"] = Unknown(
                "application from the Serverless Application Repository: not read offline"
            )
    return _locate(translated, data), {}, []


def _run_translator(plain: dict[str, Any], parameters: Mapping[str, Any], region: str) -> dict[str, Any]:
    try:
        import boto3
        from samtranslator.parser.parser import Parser  # type: ignore[import-untyped]
        from samtranslator.translator.arn_generator import ArnGenerator  # type: ignore[import-untyped]
        from samtranslator.translator.translator import Translator  # type: ignore[import-untyped]
    except ImportError:
        raise SamUnavailable from None
    logging.getLogger("samtranslator").setLevel(logging.CRITICAL)
    values = {
        name: value
        for name, value in parameters.items()
        if isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value))
    }
    previous = ArnGenerator.BOTO_SESSION_REGION_NAME
    ArnGenerator.BOTO_SESSION_REGION_NAME = region
    try:
        translator = Translator(
            managed_policy_map=None, sam_parser=Parser(), boto_session=boto3.session.Session(region_name=region)
        )
        result: dict[str, Any] = translator.translate(
            sam_template=plain, parameter_values={k: _plain(v) for k, v in values.items()}, passthrough_metadata=True
        )
    finally:
        ArnGenerator.BOTO_SESSION_REGION_NAME = previous
    return result


def _message(exc: Exception) -> str:
    causes = getattr(exc, "causes", None)
    if causes:
        return "; ".join(str(getattr(cause, "message", cause)) for cause in causes)
    text = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return str(text).splitlines()[0][:300]


def _untranslated(
    data: LocatedDict, source: str, reason: str
) -> tuple[LocatedDict, dict[str, Unknown], list[TemplateWarning]]:
    resources = data.get("Resources")
    uncertain: dict[str, Unknown] = {}
    warnings: list[TemplateWarning] = []
    if isinstance(resources, LocatedDict):
        for logical_id, resource in resources.items():
            if isinstance(resource, dict) and str(resource.get("Type", "")).startswith(SERVERLESS_PREFIX):
                line = resources.line_of(logical_id)
                uncertain[logical_id] = Unknown(f"the SAM transform failed: {reason}", line)
                warnings.append(TemplateWarning(source, line, f"SAM resource {logical_id} not transformed: {reason}"))
    if not warnings:
        warnings.append(TemplateWarning(source, data.line_of("Transform"), f"the SAM transform failed: {reason}"))
    result = copy.copy(data)
    result.line, result.key_lines = data.line, dict(data.key_lines)
    result.pop("Transform", None)
    return result, uncertain, warnings


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, str):
        return str(value)
    return value


def _locate(value: Any, like: Any, line: int = 0) -> Any:
    """``value`` as LocatedDicts, taking lines from ``like`` (the source node at the same place)."""
    if isinstance(value, dict):
        result = LocatedDict()
        source = like if isinstance(like, LocatedDict) else None
        result.line = source.line if source is not None and source.line else line
        for key, item in value.items():
            if source is not None and key in source:
                key_line, child = source.line_of(key), source[key]
            else:
                key_line, child = _nearest_line(source, key, result.line), None
            result[key] = _locate(item, child, key_line)
            result.key_lines[key] = key_line
        return result
    if isinstance(value, list):
        items = like if isinstance(like, list) and len(like) == len(value) else [None] * len(value)
        return [_locate(v, c, line) for v, c in zip(value, items, strict=True)]
    return value


def _nearest_line(source: LocatedDict | None, key: str, default: int) -> int:
    """A generated resource (``MyFunctionRole``) stands at the line of the one it came from."""
    if source is None:
        return default
    prefixes = [k for k in source if isinstance(k, str) and key.startswith(k)]
    return source.line_of(max(prefixes, key=len)) if prefixes else default
