"""A sweep as one report: each environment's run (as :func:`run_report.build` made it, on its
worker) tagged with its environment, account and region, then merged. ``report.json`` keeps
target ``aws`` and the three tags on every result and coverage entry; the other formats show a
column per environment (:func:`by_environment`), headed with its account and region."""

from __future__ import annotations

import json
from typing import Any

from stackproof.results.coverage import Coverage, verdict

TAGS = ("environment", "account", "region")


def tagged(report: dict[str, Any], environment: dict[str, Any]) -> dict[str, Any]:
    """``report`` (one environment's run) with ``environment``'s name, account and region on
    every result, coverage entry, drift entry and tool report."""
    tags = {"environment": environment["name"], "account": environment["account"], "region": environment["region"]}
    shown = {**report, "run": dict(report["run"])}
    shown["run"]["coverage"] = [{**c, **tags} for c in report["run"]["coverage"]]
    for key in ("results", "drift", "tools"):
        shown[key] = [{**item, **tags} for item in report[key]]
    return shown


def combine(
    reports: list[dict[str, Any]], environments: list[dict[str, Any]], exit_code: int, times: dict[str, str]
) -> dict[str, Any]:
    """One report of a sweep: ``reports`` tagged, in the order of ``environments`` (the file's);
    run metadata of the sweep itself (its id and times, every region and reference, the worst
    exit); each environment in ``run.environments`` with how reading it went."""
    first = reports[0]
    # What all environments share; what is one environment's own (its account, stacks, parameters)
    # is in its results and in run.environments.
    run = {key: first["run"][key] for key in ("stackproof_version", "template", "targets")}
    coverage = [c for report in reports for c in report["run"]["coverage"]]
    run.update(
        {
            "id": times["id"],
            "started": times["started"],
            "ended": times["ended"],
            "parameters": {},
            "region": ", ".join(dict.fromkeys(e["region"] for e in environments)),
            "stack_name": None,
            "api_calls": {"aws": sum(sum(r["run"].get("api_calls", {}).values()) for r in reports)},
            "references": _unique(r for report in reports for r in report["run"]["references"]),
            "exit_code": exit_code,
            "coverage": coverage,
            "verdict": verdict(exit_code, [_coverage(c) for c in coverage]),
            "environments": environments,
        }
    )
    combined: dict[str, Any] = {**first, "run": run}
    for key in ("results", "drift", "tools"):
        combined[key] = [item for report in reports for item in report[key]]
    combined["suppressions"] = _unique(s for report in reports for s in report["suppressions"])
    return combined


def by_environment(report: dict[str, Any]) -> dict[str, Any]:
    """For the writers: a column per environment (its name in ``target``); the tags stay."""
    shown = {**report, "run": dict(report["run"])}
    shown["results"] = [{**r, "target": r["environment"]} for r in report["results"]]
    shown["drift"] = [{**d, "target": d["environment"]} for d in report["drift"]]
    shown["tools"] = [{**t, "target": t["environment"]} for t in report["tools"]]
    shown["run"]["coverage"] = [{**c, "target": c["environment"]} for c in report["run"]["coverage"]]
    shown["run"]["targets"] = [e["name"] for e in report["run"]["environments"]]
    return shown


def column_label(run: dict[str, Any], column: str) -> str:
    """A matrix column's heading: in a sweep the environment with its account and region."""
    for environment in run.get("environments", []):
        if environment["name"] == column:
            return f"{column} ({environment['account'] or 'account unknown'}, {environment['region']})"
    return column


def place(result: dict[str, Any]) -> str:
    """Where a result was found: its target, or in a sweep its environment, account and region."""
    if "environment" not in result:
        return str(result["target"])
    return f"{result['environment']} ({result['account'] or 'account unknown'}, {result['region']})"


def tags_of(result: dict[str, Any]) -> dict[str, Any]:
    """A sweep result's environment, account and region (nothing outside a sweep)."""
    return {key: result[key] for key in TAGS if key in result}


def _coverage(entry: dict[str, Any]) -> Coverage:
    fields = ("target", "controls", "proven", "failed", "suppressed", "not_shown", "reference")
    return Coverage(**{k: entry[k] for k in fields}, baselined=entry.get("baselined", 0))


def _unique(items: Any) -> list[Any]:
    seen: dict[str, Any] = {}
    for item in items:
        seen.setdefault(json.dumps(item, sort_keys=True, default=str), item)
    return list(seen.values())
