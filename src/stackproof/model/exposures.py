"""Facts read from a stack's template as written, not as resolved: where secrets surface
(DAT-07) and how big the template is (QTA-04).

Secrets are traced through the template's own syntax because resolving loses them: a NoEcho
parameter given no value resolves to an Unknown that swallows the whole user data script,
and ``{{resolve:secretsmanager:...}}`` built with ``Fn::Join`` is only text. Walking the
intrinsics keeps every path a secret can take to an output, user data, a tag or a default.
Both the template target and the deployed targets (on the template GetTemplate returns)
build these facts here, so the two agree by construction.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from typing import Any

from stackproof.model import types as m
from stackproof.template.values import Unknown

# Words that make a name a secret's: the reports redact by the first five; vendors also name a
# password DBPass or AdminPwd, and keys and credentials as such.
SECRET_WORDS = ("password", "passwd", "secret", "token", "privatekey", "passphrase", "apikey", "credential")
# DBPass, ADMIN_PWD, db-pass: the word at the end, never the letters (Bypass, Compass).
SECRET_SUFFIX = re.compile(r"(?:(?<=[A-Za-z0-9])(?:Pass|Pwd)|(?:^|[_-])(?:pass|pwd|PASS|PWD)|(?<=[A-Z])(?:PASS|PWD))$")
# A name that ends like this names a secret (its ARN, ID or name); it does not hold one.
REFERENCE_SUFFIXES = ("arn", "id", "name")
DYNAMIC_SECRETS = (
    ("{{resolve:secretsmanager:", "a Secrets Manager dynamic reference"),
    ("{{resolve:ssm-secure:", "an SSM SecureString dynamic reference"),
)
# NAME_PASSWORD=value or --password value in a script, the value written out (not $VAR,
# not $(command), not a ${Placeholder}); at least six characters, so ``token=1`` flags are not secrets.
LITERAL_ASSIGNMENT = re.compile(
    r"\b(\w*(?:password|passwd|secret|token)\w*)\s*[=:]\s*(['\"]?)(?![$`])([^\s'\"$`{}()\\;|&]{6,})\2(?=[\s;]|$)",
    re.IGNORECASE,
)
PLACEHOLDER = re.compile(r"\$\{([^}!][^}]*)\}")
USER_DATA = {
    "AWS::EC2::LaunchTemplate": ("LaunchTemplateData", "UserData"),
    "AWS::AutoScaling::LaunchConfiguration": ("UserData",),
    "AWS::EC2::Instance": ("UserData",),
}
# Attributes that hold a secret's value whatever their name says.
SECRET_ATTRIBUTES = {("AWS::IAM::AccessKey", "SecretAccessKey")}


def secret_named(name: str) -> bool:
    """Whether ``name`` (a parameter, an attribute) is a secret's by its words."""
    lowered = name.lower().replace("_", "").replace("-", "")
    secret = any(w in lowered for w in SECRET_WORDS) or bool(SECRET_SUFFIX.search(name))
    return secret and not lowered.endswith(REFERENCE_SUFFIXES)


def secret_parameters(data: Mapping[str, Any]) -> dict[str, str]:
    """The template's parameters that hold secrets, each with why: NoEcho, or its name."""
    found = {}
    params = data.get("Parameters")
    for name, spec in params.items() if isinstance(params, dict) else ():
        spec = spec if isinstance(spec, dict) else {}
        if str(spec.get("NoEcho", "false")).lower() == "true":
            found[str(name)] = f"parameter {name} (NoEcho)"
        elif secret_named(str(name)):
            found[str(name)] = f"parameter {name} (named like a secret)"
    return found


class Tracer:
    """Finds the secrets a template value carries, following the intrinsics that can pass one
    on. A branch of ``Fn::If`` whose condition is not known is followed too; what it carries is
    then uncertain, recorded apart so the surface is Unknown rather than clean or leaking."""

    def __init__(self, data: Mapping[str, Any], conditions: Mapping[str, Any]) -> None:
        self.secrets = secret_parameters(data)
        self.conditions = conditions
        self.script = False
        resources = data.get("Resources")
        self.types = {
            str(k): str(v.get("Type"))
            for k, v in (resources.items() if isinstance(resources, dict) else ())
            if isinstance(v, dict)
        }

    def carries(self, value: Any, script: bool = False) -> list[str] | Unknown:
        """The secrets ``value`` carries; in a ``script`` (user data) also a secret assigned
        as a literal (``DB_PASSWORD=hunter2``), never one read at boot (``$(aws ...)``)."""
        certain: list[str] = []
        uncertain: list[str] = []
        self.script = script
        self._walk(value, certain, uncertain)
        if certain:
            return sorted(set(certain))
        if uncertain:
            return Unknown(f"it carries {', '.join(sorted(set(uncertain)))} if a condition that is not known holds")
        return []

    def _walk(self, node: Any, certain: list[str], uncertain: list[str]) -> None:
        if isinstance(node, str):
            certain += [what for marker, what in DYNAMIC_SECRETS if marker in node]
            if self.script:
                certain += [f"a literal value assigned to {hit[1]}" for hit in LITERAL_ASSIGNMENT.finditer(node)]
            return
        if isinstance(node, list):
            for item in node:
                self._walk(item, certain, uncertain)
            return
        if not isinstance(node, dict):
            return
        if len(node) == 1:
            ((key, arg),) = node.items()
            if key == "Ref":
                if isinstance(arg, str) and arg in self.secrets:
                    certain.append(self.secrets[arg])
                return
            if key == "Fn::GetAtt":
                self._attribute(arg, certain)
                return
            if key == "Fn::Sub":
                self._sub(arg, certain, uncertain)
                return
            if key == "Fn::Join" and isinstance(arg, list) and len(arg) == 2:
                parts = arg[1] if isinstance(arg[1], list) else [arg[1]]
                delimiter = arg[0] if isinstance(arg[0], str) else ""
                self._walk(delimiter.join(p if isinstance(p, str) else "\x00" for p in parts), certain, uncertain)
                self._walk(parts, certain, uncertain)
                return
            if key == "Fn::If" and isinstance(arg, list) and len(arg) == 3:
                truth = self.conditions.get(arg[0]) if isinstance(arg[0], str) else None
                if truth is True or truth is False:
                    self._walk(arg[1] if truth else arg[2], certain, uncertain)
                else:
                    self._walk(arg[1:], uncertain, uncertain)
                return
        for value in node.values():
            self._walk(value, certain, uncertain)

    def _attribute(self, arg: Any, certain: list[str]) -> None:
        if isinstance(arg, str):
            arg = arg.split(".", 1)
        if not isinstance(arg, list) or len(arg) != 2 or not all(isinstance(a, str) for a in arg):
            return
        logical_id, attribute = arg
        if (self.types.get(logical_id), attribute) in SECRET_ATTRIBUTES or secret_named(attribute.rsplit(".", 1)[-1]):
            certain.append(f"attribute {attribute} of {logical_id}")

    def _sub(self, arg: Any, certain: list[str], uncertain: list[str]) -> None:
        text, variables = (arg[0], arg[1]) if isinstance(arg, list) and len(arg) == 2 else (arg, {})
        if not isinstance(text, str):
            self._walk(text, certain, uncertain)
            return
        variables = variables if isinstance(variables, dict) else {}
        self._walk(text.replace("${!", "$\x00"), certain, uncertain)
        for name in PLACEHOLDER.findall(text):
            if name in variables:
                self._walk(variables[name], certain, uncertain)
            elif "." in name:
                self._attribute(name.split(".", 1), certain)
            elif name in self.secrets:
                certain.append(self.secrets[name])


def _user_data(spec: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = spec.get("Properties")
    for name in path:
        if not isinstance(node, dict):
            return None
        node = node.get(name)
    return node


BASE64 = re.compile(r"^[A-Za-z0-9+/\s]+={0,2}\s*$")


def _decoded(user_data: Any) -> Any:
    """User data given as encoded text (as launch configurations often are) is read as the
    script it encodes; anything else as it is."""
    if not isinstance(user_data, str) or not BASE64.match(user_data) or len(user_data.strip()) < 8:
        return user_data
    try:
        return base64.b64decode("".join(user_data.split()), validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return user_data


def _tags(node: Any, found: list[Any]) -> None:
    """Every ``Tags`` (and ``FileSystemTags``, ``TagSpecifications``' ``Tags`` ...) inside a
    resource's properties."""
    if isinstance(node, dict):
        for name, value in node.items():
            if isinstance(name, str) and name.endswith("Tags"):
                found.append(value)
            else:
                _tags(value, found)
    elif isinstance(node, list):
        for item in node:
            _tags(item, found)


def _false(condition: Any, conditions: Mapping[str, Any]) -> bool:
    """Whether a resource's or output's condition is known to be false (it is not created)."""
    return isinstance(condition, str) and conditions.get(condition) is False


def _tag_entries(tags: list[Any]) -> list[dict[str, Any]]:
    """``{Key, Value}`` entries whose value is written out (not an intrinsic), and tag maps
    as such entries."""
    found = []
    for group in tags:
        entries = group if isinstance(group, list) else [group]
        for entry in entries:
            if isinstance(entry, dict) and "Key" in entry:
                if isinstance(entry.get("Value"), (str, int)) and str(entry.get("Value")):
                    found.append(entry)
            elif isinstance(entry, dict):
                found += [{"Key": k, "Value": v} for k, v in entry.items() if isinstance(v, (str, int)) and str(v)]
    return found


def secret_surfaces(
    data: Mapping[str, Any], conditions: Mapping[str, Any], location: Any, stack: str | None = None
) -> list[m.SecretSurface]:
    """Every output, user data, tag set and secret parameter's default of one stack's template,
    with the secrets each carries. ``location(kind, name, resource_type)`` gives a surface its
    :class:`~stackproof.model.types.Location`."""
    tracer = Tracer(data, conditions)
    prefix = f"{stack}/" if stack else ""
    surfaces = []

    def add(surface: str, name: str, resource_type: str, value: Any, carries: Any = None) -> None:
        surfaces.append(
            m.SecretSurface(
                f"{prefix}{surface}:{name}",
                location(name, resource_type),
                surface=surface,
                name=name,
                carries=tracer.carries(value) if carries is None else carries,
            )
        )

    outputs = data.get("Outputs")
    for name, spec in outputs.items() if isinstance(outputs, dict) else ():
        if not isinstance(spec, dict) or _false(spec.get("Condition"), conditions):
            continue
        add("output", str(name), "Output", [spec.get("Value"), spec.get("Export")])
    resources = data.get("Resources")
    for name, spec in resources.items() if isinstance(resources, dict) else ():
        if not isinstance(spec, dict) or _false(spec.get("Condition"), conditions):
            continue
        resource_type = str(spec.get("Type"))
        if resource_type in USER_DATA:
            user_data = _decoded(_user_data(spec, USER_DATA[resource_type]))
            if user_data is not None:
                add("user data", str(name), resource_type, user_data, tracer.carries(user_data, script=True))
            metadata = spec.get("Metadata")
            init = metadata.get("AWS::CloudFormation::Init") if isinstance(metadata, dict) else None
            if init is not None:
                add("cfn-init metadata", str(name), resource_type, init, tracer.carries(init, script=True))
        tags: list[Any] = []
        _tags(spec.get("Properties"), tags)
        if tags:
            named = [f"a tag named {t['Key']}" for t in _tag_entries(tags) if secret_named(str(t["Key"]))]
            carried = tracer.carries(tags)
            add("tags", str(name), resource_type, tags, carried + named if isinstance(carried, list) else carried)
    params = data.get("Parameters")
    for name, why in tracer.secrets.items():
        spec = params.get(name) if isinstance(params, dict) else None
        default = spec.get("Default") if isinstance(spec, dict) else None
        if default not in (None, "", []):
            add("parameter default", name, "Parameter", None, [f"a secret value written in the template ({why})"])
    return surfaces


def template_size(data: Mapping[str, Any], body: bytes | Unknown, key: str, location: m.Location) -> m.StackTemplate:
    """One stack's counts against CloudFormation's per-template limits."""

    def count(section: str) -> int | Unknown:
        value = data.get(section)
        if value is None:
            return 0
        return len(value) if isinstance(value, dict) else Unknown(f"the template's {section} is not a mapping")

    return m.StackTemplate(
        key,
        location,
        resources=count("Resources"),
        parameters=count("Parameters"),
        outputs=count("Outputs"),
        mappings=count("Mappings"),
        body_bytes=len(body) if isinstance(body, bytes) else body,
    )
