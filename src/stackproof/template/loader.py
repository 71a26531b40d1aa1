"""Load a template and its parameters, rejecting bad input with one clear message.

Every error is a :class:`TemplateError` whose text starts with ``file:line``; the command
line prints it and exits 2, never a traceback. What CloudFormation accepts but is probably a
mistake (a duplicate key) is loaded as CloudFormation deploys it and kept in
:attr:`Template.warnings` for the reports.
"""

from __future__ import annotations

import json
from pathlib import Path

from stackproof.catalogue import REFERENCES
from stackproof.template.base import (
    SUB_REFERENCE,
    Template,
    TemplateError,
    dependencies,
    read_text,
    references,
    validate,
)
from stackproof.template.cfn_yaml import LocatedDict, TemplateSyntaxError, TemplateWarning, load_text
from stackproof.template.transforms import apply_includes

__all__ = [
    "SUB_REFERENCE",
    "Template",
    "TemplateError",
    "TemplateWarning",
    "dependencies",
    "load_parameters",
    "load_template",
    "read_text",
    "references",
    "validate",
]


def load_template(path: Path) -> Template:
    """Load, include ``AWS::Include`` snippets and check ``path``.

    Transforms that depend on parameter values (``Fn::ForEach``, SAM) run when the template
    is resolved; until then the parts they generate are checked only for their shape.
    """
    text = read_text(path, "template")
    warnings: list[TemplateWarning] = []
    try:
        data = load_text(text, str(path), warnings=warnings)
    except TemplateSyntaxError as exc:
        raise TemplateError(str(exc)) from None
    template = Template(path, data, warnings)
    apply_includes(template)
    validate(template)
    _check_declaration(template)
    return template


def _check_declaration(template: Template) -> None:
    """``Metadata.stackproof`` is stackproof's own: a declaration that is not a mapping is
    ignored with a warning (CloudFormation accepts any Metadata, so the template is still
    judged, as the default reference); a ``reference`` that names no reference system is
    refused, since it would otherwise make every control a SKIP about another system."""
    metadata = template.data.get("Metadata")
    if not isinstance(metadata, LocatedDict) or "stackproof" not in metadata:
        return
    line = metadata.line_of("stackproof")
    own = metadata["stackproof"]
    if not isinstance(own, dict):
        template.warnings.append(
            TemplateWarning(
                str(template.path), line, "Metadata.stackproof is not a mapping, so it declares nothing; ignored"
            )
        )
        return
    reference = own.get("reference")
    if reference is not None and reference not in REFERENCES:
        at = own.line_of("reference") if isinstance(own, LocatedDict) else line
        raise TemplateError(
            f"{template.path}:{at}: Metadata.stackproof.reference {reference!r} is not one of {', '.join(REFERENCES)}"
        )


def load_parameters(path: Path) -> dict[str, str]:
    """Parameters from the CloudFormation CLI format (a list of ParameterKey/ParameterValue)
    or a plain JSON mapping of names to values."""
    text = read_text(path, "parameters")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TemplateError(f"{path}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from None
    except RecursionError:
        raise TemplateError(f"{path}:1: parameters nested too deeply") from None
    if isinstance(data, dict):
        return {str(k): _parameter_text(path, k, v) for k, v in data.items()}
    if isinstance(data, list):
        values: dict[str, str] = {}
        for index, entry in enumerate(data):
            if not isinstance(entry, dict) or not isinstance(entry.get("ParameterKey"), str):
                raise TemplateError(f"{path}: entry {index} needs ParameterKey and ParameterValue")
            if entry.get("UsePreviousValue"):
                raise TemplateError(f"{path}: entry {index} ({entry['ParameterKey']}) uses UsePreviousValue")
            if "ParameterValue" not in entry:
                raise TemplateError(f"{path}: entry {index} ({entry['ParameterKey']}) has no ParameterValue")
            values[entry["ParameterKey"]] = _parameter_text(path, entry["ParameterKey"], entry["ParameterValue"])
        return values
    raise TemplateError(f"{path}: parameters must be a JSON list or mapping")


def _parameter_text(path: Path, key: object, value: object) -> str:
    if isinstance(value, list):
        if not all(isinstance(v, (str, int, float, bool)) for v in value):
            raise TemplateError(f"{path}: parameter {key} must be a string, number or list of them")
        return ",".join(_scalar(v) for v in value)
    if isinstance(value, (dict, type(None))):
        raise TemplateError(f"{path}: parameter {key} must be a string, number or list")
    return _scalar(value)


def _scalar(value: object) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)
