"""Drift: where the template and a deployed stack disagree on a value a control reads.

Objects are matched by logical ID (the template model's key, the deployed model's
``location.resource``). Values the template cannot know (Unknown, or strings naming other
resources) are not compared: they are not drift, they are unknown.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stackproof.model import types as m
from stackproof.model.deployment import Deployment
from stackproof.template.values import AttrRef, ResourceRef, Symbolic, Unknown

# The fields controls read, per kind.
FIELDS: dict[type[m.Obj], tuple[str, ...]] = {
    m.Subnet: ("map_public_ip", "cidr"),
    m.Vpc: ("cidr",),
    m.DbInstance: (
        "engine",
        "multi_az",
        "publicly_accessible",
        "storage_encrypted",
        "backup_retention",
        "deletion_protection",
        "copy_tags_to_snapshot",
        "port",
    ),
    m.LaunchTemplate: ("http_tokens", "instance_type", "key_name"),
    m.AutoScalingGroup: ("min_size", "max_size", "health_check_type"),
    m.Alarm: ("threshold", "comparison", "metric", "namespace", "statistic"),
    m.Listener: ("port", "protocol", "ssl_policy"),
    m.Function: ("timeout", "ephemeral_storage", "runtime"),
    m.LogGroup: ("retention_days",),
    m.Bucket: ("versioning",),
    m.FileSystem: ("encrypted",),
}


@dataclass(frozen=True)
class Drift:
    logical_id: str
    resource_type: str
    field: str
    template: Any
    deployed: Any
    physical_id: str | None

    def __str__(self) -> str:
        return (
            f"{self.logical_id} ({self.physical_id}) {self.field}: "
            f"template {self.template!r}, deployed {self.deployed!r}"
        )


def comparable(value: Any) -> bool:
    if isinstance(value, (Unknown, ResourceRef, AttrRef, Symbolic, list, dict)):
        return False
    return value is not None


def normal(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def compare(template: Deployment, deployed: Deployment) -> list[Drift]:
    drifts = []
    for kind, fields in FIELDS.items():
        if kind in deployed.gaps:
            continue
        by_logical = {obj.location.resource: obj for obj in deployed.all(kind)}
        for expected in template.all(kind):
            actual = by_logical.get(expected.key)
            if actual is None:
                continue
            for name in fields:
                want, got = getattr(expected, name), getattr(actual, name)
                if comparable(want) and normal(want) != normal(got):
                    drifts.append(
                        Drift(
                            expected.key, expected.location.resource_type, name, want, got, actual.location.physical_id
                        )
                    )
    return drifts
