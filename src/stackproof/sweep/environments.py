"""The environments file of ``stackproof sweep``: which deployments to read, where, and as whom.

Read once, before anything runs, so a mistake ends the sweep with one line naming file, line and
field (exit 2) rather than as ERROR rows of environments that were never meant to be read. The
file holds names of profiles and roles, never keys: credentials stay in each worker's own chain.

    environments:
      - name: prod-eu
        role_arn: arn:aws:iam::111122223333:role/stackproof-reader
        region: eu-west-1
        stacks: [dashboard-network, dashboard-storage, dashboard-app]
        system: dashboard
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from stackproof.support.paths import REFERENCE_NAMES

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
ACCOUNT = re.compile(r"^[0-9]{12}$")
ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::([0-9]{12}):role/[\w+=,.@/-]{1,512}$")
REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-[0-9]$")
STACK = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,127}$|^arn:aws[a-z-]*:cloudformation:\S+$")
PROFILE = re.compile(r"^[\w+=,.@-]{1,128}$")
FIELDS = ("name", "account", "profile", "role_arn", "region", "stacks", "system", "tls_probe")


class EnvironmentsError(Exception):
    """The environments file is unusable; the message is one line: file:line: field: why."""


@dataclass(frozen=True)
class Environment:
    """One deployment to read: what a worker is sent (names and ARNs, never secrets)."""

    name: str
    region: str
    stacks: tuple[str, ...]
    account: str | None = None  # the account the stacks must be in (the role's, when role_arn names one)
    profile: str | None = None  # a profile of the worker's own credential chain
    role_arn: str | None = None  # assumed via STS from the worker's chain (or from ``profile``)
    system: str | None = None  # dashboard or analytics (default: the stacks' Metadata, else dashboard)
    tls_probe: bool = True  # handshake with the load balancers (TLS-05): the only traffic not to AWS APIs

    @property
    def stack_name(self) -> str:
        """As ``stackproof run --stack-name a,b,c`` takes a deployment of several stacks."""
        return ",".join(self.stacks)


def load(path: Path) -> list[Environment]:
    """The environments of ``path``, validated; :class:`EnvironmentsError` names the first problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise EnvironmentsError(f"{path}: cannot be read: {exc}") from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise EnvironmentsError(f"{path}{line}: not YAML: {getattr(exc, 'problem', None) or exc}") from None
    return _Reader(path).environments(root)


class _Reader:
    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, node: yaml.Node | None, what: str) -> EnvironmentsError:
        line = f":{node.start_mark.line + 1}" if node is not None else ""
        return EnvironmentsError(f"{self.path}{line}: {what}")

    def environments(self, root: yaml.Node | None) -> list[Environment]:
        items = root
        if isinstance(root, yaml.MappingNode):
            found = self.mapping(root, "the file")
            unknown = [k for k in found if k != "environments"]
            if unknown:
                raise self.fail(found[unknown[0]][0], f"{unknown[0]}: unknown key (expected: environments)")
            if "environments" not in found:
                raise self.fail(root, "environments: missing (a list of environments)")
            items = found["environments"][1]
        if not isinstance(items, yaml.SequenceNode) or not items.value:
            raise self.fail(items or root, "environments: expected a non-empty list of environments")
        chosen = [self.environment(node) for node in items.value]
        seen: dict[str, yaml.Node] = {}
        for node, environment in zip(items.value, chosen, strict=True):
            if environment.name in seen:
                first = seen[environment.name].start_mark.line + 1
                raise self.fail(node, f"name: {environment.name!r} is used twice (first on line {first})")
            seen[environment.name] = node
        return chosen

    def mapping(self, node: yaml.Node, what: str) -> dict[str, tuple[yaml.Node, yaml.Node]]:
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(node, f"{what}: expected a mapping of fields")
        found: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for key, value in node.value:
            if not isinstance(key, yaml.ScalarNode):
                raise self.fail(key, f"{what}: keys must be plain names")
            if key.value in found:
                raise self.fail(key, f"{key.value}: given twice")
            found[key.value] = (key, value)
        return found

    def scalar(self, node: yaml.Node, field: str) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            raise self.fail(node, f"{field}: expected a single value")
        return yaml.SafeLoader("").construct_object(node)

    def text(self, node: yaml.Node, field: str, pattern: re.Pattern[str], shape: str) -> str:
        value = self.scalar(node, field)
        if isinstance(value, int) and not isinstance(value, bool) and field == "account":
            raise self.fail(node, f'account: quote the account ID ("{node.value}"): YAML reads it as a number')
        if not isinstance(value, str) or not pattern.match(value):
            raise self.fail(node, f"{field}: {node.value!r} is not {shape}")
        return value

    def environment(self, node: yaml.Node) -> Environment:
        found = self.mapping(node, "environment")
        unknown = [k for k in found if k not in FIELDS]
        if unknown:
            raise self.fail(found[unknown[0]][0], f"{unknown[0]}: unknown field (fields: {', '.join(FIELDS)})")
        if "name" not in found:
            raise self.fail(node, "name: missing")
        name = self.text(found["name"][1], "name", NAME, "a name (letters, digits, . _ -; up to 63)")
        for required in ("region", "stacks"):
            if required not in found:
                raise self.fail(node, f"{required}: missing")
        where = f"environment {name}"
        values: dict[str, Any] = {"name": name}
        values["region"] = self.text(found["region"][1], "region", REGION, "a region such as eu-west-1")
        values["stacks"] = self.stacks(found["stacks"][1])
        if "account" in found:
            values["account"] = self.text(found["account"][1], "account", ACCOUNT, "a 12-digit account ID")
        if "profile" in found:
            values["profile"] = self.text(found["profile"][1], "profile", PROFILE, "a profile name")
        if "role_arn" in found:
            arn_node = found["role_arn"][1]
            arn = self.text(arn_node, "role_arn", ROLE_ARN, "an IAM role ARN (arn:aws:iam::<account>:role/<name>)")
            values["role_arn"] = arn
            role_account = ROLE_ARN.match(arn).group(1)  # type: ignore[union-attr]
            if values.setdefault("account", role_account) != role_account:
                raise self.fail(
                    arn_node, f"role_arn: the role is in {role_account}, the account given is {values['account']}"
                )
        if "system" in found:
            system = self.scalar(found["system"][1], "system")
            if system not in REFERENCE_NAMES:
                raise self.fail(found["system"][1], f"system: {system!r} is not one of {', '.join(REFERENCE_NAMES)}")
            values["system"] = system
        if "tls_probe" in found:
            probe = self.scalar(found["tls_probe"][1], "tls_probe")
            if not isinstance(probe, bool):
                raise self.fail(
                    found["tls_probe"][1], f"tls_probe: {found['tls_probe'][1].value!r} is not true or false"
                )
            values["tls_probe"] = probe
        if not any(k in values for k in ("account", "profile", "role_arn")):
            raise self.fail(node, f"{where}: give account, profile or role_arn (whose credentials read it)")
        return Environment(**values)

    def stacks(self, node: yaml.Node) -> tuple[str, ...]:
        if isinstance(node, yaml.ScalarNode):
            value = self.scalar(node, "stacks")
            names = [n.strip() for n in value.split(",")] if isinstance(value, str) else []
        elif isinstance(node, yaml.SequenceNode):
            names = []
            for item in node.value:
                value = self.scalar(item, "stacks")
                if not isinstance(value, str):
                    raise self.fail(item, f"stacks: {getattr(item, 'value', value)!r} is not a stack name")
                names.append(value.strip())
        else:
            raise self.fail(node, "stacks: expected a stack name or a list of them")
        if not names or not all(names):
            raise self.fail(node, "stacks: expected at least one stack name, none empty")
        for name in names:
            if not STACK.match(name):
                raise self.fail(node, f"stacks: {name!r} is not a stack name or ARN")
        if len(set(names)) != len(names):
            raise self.fail(node, "stacks: a stack is named twice")
        return tuple(names)
