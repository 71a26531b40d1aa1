"""The console's report of a sweep, from the report as the writers see it
(:func:`sweep_report.by_environment`): a controls x environments matrix, a legend naming each
environment's account, region and stacks, and the failures with where they were found."""

from __future__ import annotations

from typing import Any

from stackproof.reports.sweep_report import place
from stackproof.results import ERROR, FAILING, SKIP, matrix, tally

NOT_READ = "environment not read"  # the check of the ERROR results of an environment that could not be read


def progress(done: int, total: int, environment: dict[str, Any], results: list[dict[str, Any]]) -> str:
    """One line as an environment finishes."""
    counts = ", ".join(f"{n} {s.lower()}" for s, n in tally(results).items()) or "no results"
    where = f"{environment['account'] or 'account unknown'}, {environment['region']}"
    state = "" if environment["status"] == "read" else f" — not read: {environment['message']}"
    return (
        f"stackproof: [{done}/{total}] {environment['name']} ({where}): {counts} in {environment['seconds']:.1f} s"
        + state
    )


def table(shown: dict[str, Any]) -> str:
    columns = shown["run"]["targets"]
    cells = matrix(shown["results"])
    width = max(max(len(c) for c in columns), 5) + 2
    lines = [f"{'control':<8} {'sev':<8} " + "".join(f"{c:<{width}}" for c in columns) + " statement"]
    for control in shown["catalogue"]:
        cid = control["id"]
        if not any((cid, c) in cells for c in columns):
            continue
        row = "".join(f"{cells.get((cid, c), '-'):<{width}}" for c in columns)
        lines.append(f"{cid:<8} {control['severity']:<8} {row} {control['title'][:70]}")
    return "\n".join(lines)


def legend(shown: dict[str, Any]) -> str:
    lines = []
    for environment in shown["run"]["environments"]:
        where = f"account {environment['account'] or 'unknown'}, region {environment['region']}"
        stacks = ", ".join(environment["stacks"])
        state = "" if environment["status"] == "read" else f"; NOT READ: {environment['message']}"
        lines.append(f"  {environment['name']}: {where}, stacks {stacks}{state}")
    return "\n".join(lines)


def details(shown: dict[str, Any], verbose: bool) -> str:
    lines = []
    unread: dict[str, list[dict[str, Any]]] = {}
    for result in shown["results"]:
        if result["check"] == NOT_READ and result["status"] == ERROR:
            unread.setdefault(place(result), []).append(result)
        elif result["status"] in FAILING or (verbose and result["status"] == SKIP):
            lines.append(f"{result['status']} {result['control']} [{place(result)}] {result['check']}")
            lines += [f"    {line}" for line in result["message"].splitlines()]
    for where, results in unread.items():
        lines.append(f"ERROR {len(results)} controls [{where}] {NOT_READ}")
        lines.append(f"    {results[0]['message']}")
    return "\n".join(lines)


def render(shown: dict[str, Any], verbose: bool) -> str:
    parts = [table(shown), "environments:\n" + legend(shown)]
    text = details(shown, verbose)
    if text:
        parts.append(text)
    parts.append(
        "\n".join(
            f"coverage {place(c)}: {c['proven']} of {c['controls']} controls proven ({c['percent']:g}%),"
            f" {c['failed']} failed, {c['not_shown']} not shown"
            for c in shown["run"]["coverage"]
        )
    )
    return "\n\n".join(parts)
