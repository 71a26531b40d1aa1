"""``stackproof controls``: the catalogue, and with ``--framework NAME`` a framework's
requirements against the controls that prove them (what an auditor asks first)."""

from __future__ import annotations

import sys
from typing import TextIO

from stackproof import catalogue
from stackproof.catalogue import mappings

EXIT_OK, EXIT_USAGE = 0, 2


def list_controls(framework: str | None, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    try:
        controls = catalogue.load()
        known = mappings.frameworks()
    except catalogue.CatalogueError as exc:
        print(f"stackproof: catalogue: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if framework is not None:
        if framework not in known:
            names = ", ".join(sorted(known)) or "none"
            print(f"stackproof: no framework {framework!r} (frameworks: {names})", file=sys.stderr)
            return EXIT_USAGE
        print(coverage_table(known[framework], controls), file=out)
        return EXIT_OK
    for control in controls.values():
        status = "active" if control.active else f"planned ({control.planned_in})"
        print(f"{control.id}  {control.severity:<8}  {status:<8}  {','.join(control.targets)}", file=out)
        print(f"        {control.title}", file=out)
        print(f'        source: {control.seed}: "{control.quote}"', file=out)
        for name, ids in mappings.of_control(control.id).items():
            print(f"        {name}: {', '.join(ids)}", file=out)
    return EXIT_OK


def coverage_table(framework: mappings.Framework, controls: dict[str, catalogue.Control]) -> str:
    """Every requirement of the framework: covered (by active controls), planned, or not covered."""

    def state(requirement: mappings.Requirement) -> str:
        if any(controls[c].active for c in requirement.controls):
            return "covered"
        return "planned" if requirement.controls else "-"

    rows = [(r.id, state(r), ", ".join(r.controls) or "-", r.title, r.note) for r in framework.requirements]
    covered = sum(row[1] == "covered" for row in rows)
    widths = [max(len(row[i]) for row in [("requirement", "covered", "controls", "", ""), *rows]) for i in range(3)]
    lines = [
        f"{framework.name} {framework.version} ({framework.id}): {covered} of {len(rows)} requirements covered"
        f" by stackproof's controls",
        f"source: {framework.source}",
        "",
        f"{'requirement':<{widths[0]}}  {'covered':<{widths[1]}}  {'controls':<{widths[2]}}  what",
    ]
    for rid, shown, mapped, title, note in rows:
        lines.append(f"{rid:<{widths[0]}}  {shown:<{widths[1]}}  {mapped:<{widths[2]}}  {title}")
        if note:
            lines.append(f"{'':<{widths[0] + widths[1] + widths[2] + 6}}({note})")
    return "\n".join(lines)
