"""``report.sarif``: SARIF 2.1.0, one rule per control (help text and seed source), one result
per check x target. Template results point at file and line; deployed ones name the resource.

Kinds follow SARIF: PASS is ``pass``, FAIL ``fail``, ERROR ``review`` (the check could not
decide: a person must look), SKIP ``notApplicable``; SUPPRESSED is a ``fail`` with SARIF's own
``suppressions`` entry (accepted, with the justification), so code-scanning tools show it as
dismissed. cfn-lint and checkov are runs of their own, with their rules; an expired or
incomplete suppression is a result of the ``suppression`` rule at the line it is written.

With ``--baseline``, BASELINED is a ``fail`` with an external ``accepted`` suppression naming the
baseline file and ``baselineState`` ``unchanged``; a FAIL is ``new``. Every failure carries a
``partialFingerprints`` entry made from its evidence, so a code-scanning tool follows it across
runs as the baseline does."""

from __future__ import annotations

import os
from typing import Any

from stackproof import __version__
from stackproof.reports.sweep_report import tags_of
from stackproof.results.baseline import evidence_fingerprint, message_fingerprint

LEVEL = {"critical": "error", "high": "error", "medium": "warning", "low": "note"}
KIND = {
    "PASS": "pass",
    "FAIL": "fail",
    "ERROR": "review",
    "SKIP": "notApplicable",
    "SUPPRESSED": "fail",
    "BASELINED": "fail",
}
FAILURES = ("FAIL", "ERROR", "SUPPRESSED", "BASELINED")
SUPPRESSION_RULE = {
    "id": "suppression",
    "name": "Suppression",
    "shortDescription": {"text": "A suppression must have a reason, an owner and an expiry date that has not passed"},
    "fullDescription": {"text": "An expired or incomplete suppression does not apply and fails the run."},
    "defaultConfiguration": {"level": "error"},
}


def uri(path: str) -> str:
    return (os.path.relpath(path) if os.path.isabs(path) else path).replace(os.sep, "/")


def suppressions_of(accepted: dict[str, Any]) -> list[dict[str, Any]]:
    """SARIF's own record of an accepted finding: in source (template Metadata) or external."""
    return [
        {
            "kind": "inSource" if accepted.get("kind") == "template" else "external",
            "status": "accepted",
            "justification": accepted["reason"],
            "properties": {k: accepted.get(k) for k in ("owner", "expires", "source")},
        }
    ]


def finding_fingerprint(result: dict[str, Any]) -> str:
    """The failure as the baseline knows it: its evidence's fingerprints, or its message's."""
    evidence = result.get("evidence") or []
    if not evidence:
        return message_fingerprint(result["control"], result["message"])
    return "+".join(sorted(e.get("fingerprint") or evidence_fingerprint(result["control"], e) for e in evidence))[:255]


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
            **({"frameworks": control["frameworks"]} if control.get("frameworks") else {}),
            "tags": [f"{name}/{rid}" for name, ids in (control.get("frameworks") or {}).items() for rid in ids],
        },
    }


def locations(result: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for evidence in result["evidence"]:
        for location in evidence["locations"]:
            if location.get("file") and location.get("line"):
                found.append(
                    {
                        "physicalLocation": {
                            "artifactLocation": {"uri": uri(location["file"])},
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
            "properties": {
                "target": result["target"],
                "status": result["status"],
                "check": result["check"],
                **({"frameworks": result["frameworks"]} if result.get("frameworks") else {}),
                **tags_of(result),
                **(
                    {"rto_seconds": result["drill"]["rto_seconds"], "rpo_seconds": result["drill"]["rpo_seconds"]}
                    if result.get("drill")
                    else {}
                ),
            },
        }
        if result["status"] in FAILURES:
            severity = next(c["severity"] for c in controls if c["id"] == result["control"])
            entry["level"] = "warning" if result["status"] == "ERROR" else LEVEL[severity]
            entry["partialFingerprints"] = {"stackproofFinding/v1": finding_fingerprint(result)}
        else:
            entry["level"] = "none"
        if result.get("suppression"):
            entry["suppressions"] = suppressions_of(result["suppression"])
        if run.get("baseline") and result["status"] in ("FAIL", "BASELINED"):
            entry["baselineState"] = "unchanged" if result["status"] == "BASELINED" else "new"
        if result["status"] == "BASELINED":
            accepted = f"an accepted finding of the baseline {run['baseline']['file'] if run.get('baseline') else ''}"
            entry["suppressions"] = [{"kind": "external", "status": "accepted", "justification": accepted.strip()}]
        where = locations(result)
        if where:
            entry["locations"] = where
        results.append(entry)
    for problem in (s for s in report.get("suppressions", []) if s["state"] in ("expired", "invalid")):
        file, _, line = problem["source"].rpartition(":")
        results.append(
            {
                "ruleId": "suppression",
                "ruleIndex": len(controls),
                "kind": "fail",
                "level": "error",
                "message": {"text": f"suppression of {problem['control']}: {problem['problem']}"},
                "locations": [
                    {
                        "physicalLocation": {
                            "artifactLocation": {"uri": uri(file)},
                            "region": {"startLine": int(line) if line.isdigit() and int(line) > 0 else 1},
                        }
                    }
                ],
            }
        )
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "stackproof",
                        "version": __version__,
                        "rules": [*(rule(c) for c in controls), SUPPRESSION_RULE],
                    }
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
                "properties": {
                    "verdict": run["verdict"],
                    "coverage": run["coverage"],
                    **({"baseline": run["baseline"]} if run.get("baseline") else {}),
                },
            },
            *(tool_run(tool) for tool in report.get("tools", [])),
        ],
    }


def tool_run(tool: dict[str, Any]) -> dict[str, Any]:
    """cfn-lint or checkov as a run of its own, with its own rules; a tool that did not run is
    an unsuccessful invocation with one ``review`` result."""
    rules = [
        {
            "id": rule_id,
            "shortDescription": {"text": meta["title"]},
            **({"helpUri": meta["help_uri"]} if meta["help_uri"].startswith("http") else {}),
        }
        for rule_id, meta in sorted(tool["rules"].items())
    ]
    index = {r["id"]: i for i, r in enumerate(rules)}
    results = []
    for finding in tool["findings"]:
        entry: dict[str, Any] = {
            "ruleId": finding["rule"],
            "ruleIndex": index[finding["rule"]],
            "kind": "review" if finding["status"] == "ERROR" else "fail",
            "level": "warning" if finding["status"] in ("ERROR", "WARNING") else LEVEL[finding["severity"]],
            "message": {"text": finding["message"]},
        }
        if finding["file"] and finding["line"]:
            entry["locations"] = [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": uri(finding["file"])},
                        "region": {"startLine": finding["line"]},
                    },
                    **(
                        {"logicalLocations": [{"name": finding["resource"], "kind": "resource"}]}
                        if finding["resource"]
                        else {}
                    ),
                }
            ]
        if finding["status"] == "SUPPRESSED":
            entry["suppressions"] = [
                {"kind": "inSource", "status": "accepted", "justification": finding["justification"] or ""}
            ]
        if finding["status"] == "BASELINED":
            entry["suppressions"] = [{"kind": "external", "status": "accepted", "justification": "in the baseline"}]
            entry["baselineState"] = "unchanged"
        results.append(entry)
    return {
        "tool": {
            "driver": {
                "name": tool["tool"],
                **({"version": tool["version"]} if tool["version"] else {}),
                "rules": rules,
            }
        },
        "invocations": [{"executionSuccessful": tool["status"] == "ran"}],
        "results": results,
    }
