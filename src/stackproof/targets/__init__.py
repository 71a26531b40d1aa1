"""Targets: where a deployment model comes from. Registered by dotted path and imported
only when selected, so a template-only run never imports boto3 (pytest-testinfra's backends
work the same way)."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from stackproof.model.deployment import Deployment

REGISTRY: dict[str, str] = {
    "template": "stackproof.targets.template:TemplateTarget",
    "moto": "stackproof.targets.moto:MotoTarget",
    "moto-server": "stackproof.targets.moto:MotoServerTarget",
    "localstack": "stackproof.targets.localstack:LocalStackTarget",
    "aws": "stackproof.targets.aws:AwsTarget",
}


class TargetError(Exception):
    """The target cannot produce a deployment (bad input, unavailable service)."""


@dataclass(frozen=True)
class TargetOptions:
    template: str
    params: str | None
    region: str
    stack_name: str | None = None  # aws: the existing stack to read
    profile: str | None = None  # aws: a named profile of the standard credential chain
    probe_tls: bool = True  # aws: handshake with the load balancers (TLS-05); the only non-AWS traffic
    templates: tuple[str, ...] = ()  # a set: every --template (files, directories, globs); template is the first
    template_urls: tuple[tuple[str, str], ...] = ()  # nested stacks: TemplateURL prefix -> local directory
    deadline: float | None = None  # aws: seconds for the whole read (--deadline); None: STACKPROOF_DEADLINE, or 900


def parse_deadline(text: str, given_as: str) -> float:
    """A deadline in seconds from ``text`` (``given_as`` names where it came from: --deadline,
    STACKPROOF_DEADLINE). Anything but a finite number greater than 0 is refused: a run that
    meant to be bounded must not read without a bound."""
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value < float("inf"):
        raise TargetError(f"{given_as}: {text!r} is not a number of seconds greater than 0")
    return value


class Target(Protocol):
    name: str

    def deployment(self) -> Deployment: ...

    def close(self) -> None: ...


def names() -> list[str]:
    return list(REGISTRY)


def parse_targets(text: str) -> list[str]:
    chosen = [t.strip() for t in text.split(",") if t.strip()]
    unknown = [t for t in chosen if t not in REGISTRY]
    if unknown or not chosen:
        raise TargetError(f"unknown target {', '.join(unknown) or repr(text)} (available: {', '.join(REGISTRY)})")
    return list(dict.fromkeys(chosen))


def load(name: str, options: TargetOptions) -> Target:
    module_name, _, class_name = REGISTRY[name].partition(":")
    module = importlib.import_module(module_name)
    target: Target = getattr(module, class_name)(options)
    return target
