"""The catalogue is validated when it is loaded."""

from __future__ import annotations

from typing import Any

import pytest

from stackproof import catalogue

GOOD: dict[str, Any] = {
    "id": "NET-02",
    "title": "Databases sit only in isolated subnets.",
    "family": "network",
    "severity": "critical",
    "source": {"seed": "000_004264af0376ea4b.txt", "quote": "Databases are deployed to an isolated subnet"},
    "targets": ["template"],
}


def test_the_shipped_catalogue_loads_with_every_brief_control() -> None:
    controls = catalogue.load()
    families = {"NET": 7, "TLS": 5, "SCL": 5, "QTA": 4, "DAT": 8, "IAM": 4, "OBS": 1, "RES": 4, "ANL": 4, "HST": 7}
    for prefix, count in families.items():
        assert [c for c in controls if c.startswith(prefix)] == [f"{prefix}-{i:02d}" for i in range(1, count + 1)]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"id": "NET-2"}, "is not FAMILY-NN"),
        ({"id": "FOO-01"}, "is not FAMILY-NN"),
        ({"severity": "severe"}, "severity 'severe' is not one of"),
        ({"targets": ["mars"]}, "must be a non-empty subset"),
        ({"targets": []}, "must be a non-empty subset"),
        ({"status": "planned"}, "names the work that brings it"),
        ({"status": "maybe"}, "status 'maybe'"),
        ({"source": {"seed": "x"}}, "source needs a seed file and a quote"),
        ({"title": " "}, "no title"),
    ],
)
def test_bad_entries_are_rejected(change: dict[str, Any], message: str) -> None:
    with pytest.raises(catalogue.CatalogueError, match=message):
        catalogue.parse({"controls": [{**GOOD, **change}]})


def test_duplicate_ids_are_rejected() -> None:
    with pytest.raises(catalogue.CatalogueError, match="NET-02: duplicate control ID"):
        catalogue.parse({"controls": [GOOD, GOOD]})


def test_coverage_names_unknown_planned_and_uncovered_controls() -> None:
    controls = catalogue.parse(
        {"controls": [GOOD, {**GOOD, "id": "TLS-05", "status": "planned", "planned_in": "issue 4"}]}
    )
    problems = catalogue.validate_coverage(controls, {"NET-09": ["test_x"], "TLS-05": ["test_y"]})
    assert problems == [
        "test_x: names unknown control NET-09",
        "test_y: control TLS-05 is planned, not active",
        "NET-02: active control without a check",
    ]
