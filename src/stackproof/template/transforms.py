"""Transforms: ``AWS::Include``, ``AWS::LanguageExtensions``, ``AWS::Serverless-2016-10-31``
and macros.

CloudFormation runs these before anything is deployed, so a template is judged as it would
be after them. ``AWS::Include`` does not depend on parameters and runs when the template is
loaded (a local ``Location`` relative to the template; anything else is unknown offline).
The others do depend on parameter values and run, in the order the ``Transform`` section
lists them, when the template is resolved. A macro stackproof cannot run leaves everything
it could change unknown, with a warning.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from stackproof.template import foreach, sam
from stackproof.template.base import (
    LANGUAGE_EXTENSIONS,
    SERVERLESS,
    Template,
    TemplateError,
    read_text,
    transform_names,
    validate,
)
from stackproof.template.cfn_yaml import LocatedDict, TemplateSyntaxError, TemplateWarning, load_text
from stackproof.template.values import Unknown

INCLUDE = "AWS::Include"
MAX_INCLUDE_DEPTH = 8


def apply_includes(template: Template) -> None:
    """Replace every ``AWS::Include`` in ``template`` by the snippet it names, in place."""
    data = template.data
    section = data.get("Transform")
    entries = section if isinstance(section, list) else [section]
    for entry in entries:
        if isinstance(entry, dict) and entry.get("Name") == INCLUDE:
            snippet = _snippet(template, entry, data.line_of("Transform"), template.path, 0)
            if isinstance(snippet, dict):
                for key, value in snippet.items():
                    if isinstance(data.get(key), dict) and isinstance(value, dict):
                        for inner_key, inner_value in value.items():
                            data[key].setdefault(inner_key, inner_value)
                    else:
                        data.setdefault(key, value)
    if isinstance(section, list):
        kept = [e for e in section if not (isinstance(e, dict) and e.get("Name") == INCLUDE)]
        if kept:
            data["Transform"] = kept
        else:
            del data["Transform"]
    elif isinstance(section, dict) and section.get("Name") == INCLUDE:
        del data["Transform"]
    template.data = _walk_includes(template, data, template.path, 0)


def _walk_includes(template: Template, node: Any, base: Path, depth: int) -> Any:
    if isinstance(node, dict):
        if "Fn::Transform" in node:
            spec = node["Fn::Transform"]
            line = getattr(node, "line", 0)
            snippet = _snippet(template, spec, line, base, depth)
            if len(node) == 1 and not isinstance(snippet, dict):
                return snippet
            rest = LocatedDict({k: v for k, v in node.items() if k != "Fn::Transform"})
            rest.line = line
            rest.key_lines = {k: v for k, v in getattr(node, "key_lines", {}).items() if k != "Fn::Transform"}
            if isinstance(snippet, dict):
                for key, value in snippet.items():
                    if key not in rest:
                        rest[key] = value
                        rest.key_lines[key] = line
            elif isinstance(snippet, Unknown) and len(node) == 1:
                return snippet
            node = rest
        for key in list(node):
            node[key] = _walk_includes(template, node[key], base, depth)
        return node
    if isinstance(node, list):
        return [_walk_includes(template, item, base, depth) for item in node]
    return node


def _snippet(template: Template, spec: Any, line: int, base: Path, depth: int) -> Any:
    """The content ``spec`` includes, or an Unknown (with a warning) when it cannot be read."""
    name = spec.get("Name") if isinstance(spec, dict) else None
    if name != INCLUDE:
        reason = f"macro {name!r} runs in CloudFormation, not offline"
        template.warnings.append(
            TemplateWarning(str(template.path), line, f"Fn::Transform: {reason}; its result is unknown")
        )
        return Unknown(reason, line)
    parameters = spec.get("Parameters")
    location = parameters.get("Location") if isinstance(parameters, dict) else None
    if not isinstance(location, str):
        reason = "AWS::Include Location is not a literal path"
    elif "://" in location:
        reason = f"AWS::Include of {location} is not read offline"
    elif depth >= MAX_INCLUDE_DEPTH:
        raise TemplateError(f"{template.path}:{line}: AWS::Include nested more than {MAX_INCLUDE_DEPTH} deep")
    else:
        path = (base.parent / location).resolve()
        if not path.is_file():
            raise TemplateError(f"{template.path}:{line}: AWS::Include: no file {location} beside the template")
        warnings: list[TemplateWarning] = []
        try:
            snippet = load_text(read_text(path, "included snippet"), str(path), warnings=warnings)
        except TemplateSyntaxError as exc:
            raise TemplateError(str(exc)) from None
        template.warnings.extend(warnings)
        return _walk_includes(template, snippet, path, depth + 1)
    template.warnings.append(TemplateWarning(str(template.path), line, f"{reason}; the included part is unknown"))
    return Unknown(reason, line)


def expand(template: Template, evaluate: Callable[[Any], Any], parameters: Mapping[str, Any], region: str) -> Template:
    """``template`` after the transforms its ``Transform`` section names; the same object when none.

    ``evaluate`` resolves an expression against the template's parameters and mappings (a
    ``Fn::ForEach`` collection); ``parameters`` are the values SAM sees.
    """
    names = template.transforms
    if not names:
        return template
    data = template.data
    warnings = list(template.warnings)
    uncertain = dict(template.uncertain)
    unresolved: list[str] = []
    for name in names:
        if name == LANGUAGE_EXTENSIONS:
            expansion = foreach.Expansion()
            data = _copy_top(data)
            try:
                for section in ("Resources", "Outputs", "Conditions"):
                    if isinstance(data.get(section), dict):
                        data[section] = foreach.expand(data[section], evaluate, expansion, top=section == "Resources")
            except foreach.ForEachError as exc:
                raise TemplateError(f"{template.path}:{exc}") from None
            uncertain.update(expansion.uncertain)
        elif name == SERVERLESS:
            data, failed, notes = sam.translate(data, parameters, region, str(template.path))
            uncertain.update(failed)
            warnings.extend(notes)
            if failed:
                unresolved.append(name)
        else:
            unresolved.append(name)
            line = data.line_of("Transform")
            reason = f"macro {name!r} runs in CloudFormation, not offline"
            warnings.append(
                TemplateWarning(str(template.path), line, f"Transform {name}: {reason}; every resource is unknown")
            )
            resources = data.get("Resources")
            if isinstance(resources, dict):
                for logical_id in resources:
                    uncertain.setdefault(logical_id, Unknown(f"Transform {name}: {reason}", line))
    data = _copy_top(data)
    data.pop("Transform", None)
    expanded = Template(template.path, data, warnings, uncertain)
    validate(expanded, complete=not unresolved)
    return expanded


def _copy_top(data: LocatedDict) -> LocatedDict:
    result = LocatedDict(data)
    result.line, result.key_lines = data.line, dict(data.key_lines)
    return result


__all__ = ["INCLUDE", "apply_includes", "expand", "transform_names"]
