"""``report.sarif``: SARIF 2.1.0, one rule per control (help text and seed source), one result
per check x target. Template results point at file and line; deployed ones name the resource.

Kinds follow SARIF: PASS is ``pass``, FAIL ``fail``, ERROR ``review`` (the check could not
decide: a person must look), SKIP ``notApplicable``; only FAIL and ERROR carry a level."""

from __future__ import annotations

import os
from typing import Any

from stackproof import __version__

LEVEL = {"critical": "error", "high": "error", "medium": "warning", "low": "note"}
KIND = {"PASS": "pass", "FAIL": "fail", "ERROR": "review", "SKIP": "notApplicable", "SUPPRESSED": "pass"}


def rule(control: dict[str, Any]) -> dict[str, Any]:
    source = f"{control['seed']}: \u201c{control['quote']}\u201d"
    return {
        "id": control["id"],
        "name": control["id"].replace("-", ""),
        "shortDescription": {"text": control["title"]},
        "fullDescription": {"text": control["title"]},
        "help": {
            "text": f"{control['title']}\nSource: {source}",
            "markdown": f"{control['title']}\n\nSource: {source}",
        },
        "defaultConfiguration": {"level": LEVEL[control["severity"]]},
        "properties": {
            "severity": control["severity"],
            "family": control["family"],
            "targets": control["targets"],
            "status": control["status"],
        },
    }


def locations(result: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for evidence in result["evidence"]:
        for location in evidence["locations"]:
            if location.get("file") and location.get("line"):
                uri = os.path.relpath(location["file"]) if os.path.isabs(location["file"]) else location["file"]
                found.append(
                    {
                        "physicalLocation": {
                            "artifactLocation": {"uri": uri.replace(os.sep, "/")},
                            "region": {"startLine": location["line"]},
                        },
                        "logicalLocations": [{"name": location["resource"], "kind": "resource"}],
                    }
                )
            else:
                found.append({"logicalLocations": [{"name": location["resource"], "kind": "resource"}]})
    return found[:10]


def render(report: dict[str, Any]) -> dict[str, Any]:
    run = report["run"]
    controls = report["catalogue"]
    index = {c["id"]: i for i, c in enumerate(controls)}
    results = []
    for result in report["results"]:
        entry: dict[str, Any] = {
            "ruleId": result["control"],
            "ruleIndex": index[result["control"]],
            "kind": KIND[result["status"]],
            "message": {"text": result["message"] or f"{result['control']} {result['status']} on {result['target']}"},
            "properties": {"target": result["target"], "status": result["status"], "check": result["check"]},
        }
        if result["status"] in ("FAIL", "ERROR"):
            severity = next(c["severity"] for c in controls if c["id"] == result["control"])
            entry["level"] = LEVEL[severity] if result["status"] == "FAIL" else "warning"
        else:
            entry["level"] = "none"
        where = locations(result)
        if where:
            entry["locations"] = where
        results.append(entry)
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {"name": "stackproof", "version": __version__, "rules": [rule(c) for c in controls]}
                },
                "automationDetails": {"id": f"stackproof/{run['id']}"},
                "invocations": [
                    {
                        "executionSuccessful": run["exit_code"] != 2,
                        "startTimeUtc": run["started"],
                        "endTimeUtc": run["ended"],
                    }
                ],
                "results": results,
            }
        ],
    }
