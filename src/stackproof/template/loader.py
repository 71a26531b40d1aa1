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
    judged, as the default reference). Inside the mapping the schema is ours, so a
    ``reference`` that names no reference system (every control would be a SKIP about another
    system) and ``quota_increases`` that are not ``{code, value, reason}`` entries are refused."""
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

    def at(key: str) -> int:
        return own.line_of(key) if isinstance(own, LocatedDict) else line

    reference = own.get("reference")
    if reference is not None and reference not in REFERENCES:
        raise TemplateError(
            f"{template.path}:{at('reference')}: Metadata.stackproof.reference {reference!r}"
            f" is not one of {', '.join(REFERENCES)}"
        )
    increases = own.get("quota_increases")
    if increases is not None and not (isinstance(increases, list) and all(_is_increase(entry) for entry in increases)):
        raise TemplateError(
            f"{template.path}:{at('quota_increases')}: Metadata.stackproof.quota_increases must be a list of"
            " {code, value, reason} with a quota code and a whole-number value"
        )


def _is_increase(entry: object) -> bool:
    if not isinstance(entry, dict):
        return False
    value = entry.get("value")
    return isinstance(entry.get("code"), str) and isinstance(value, int) and not isinstance(value, bool)


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
