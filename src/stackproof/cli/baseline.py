"""``stackproof baseline create``: run the checks as ``stackproof run`` does and write every
current finding to a file the team commits, so that later runs with ``--baseline`` fail only on
what is new (:mod:`stackproof.results.baseline`)."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import TextIO

from stackproof.cli.run import EXIT_OK, EXIT_USAGE, RunOptions, execute
from stackproof.results import ERROR
from stackproof.results.baseline import findings_of, write


def create(options: RunOptions, output: Path, out: TextIO | None = None) -> int:
    """Exit 0 once the file is written, whatever the run found (accepting findings is the
    point); exit 2 for bad input, as ``run``. ERRORs are named: a baseline cannot hold them, so
    a run with it still fails on them."""
    out = out or sys.stdout
    if output.is_dir():
        print(f"stackproof: {output}: is a directory (give the baseline file's path)", file=sys.stderr)
        return EXIT_USAGE
    code, sessions = execute(dataclasses.replace(options, write_reports=False, baseline=None), out)
    if not sessions:
        return code
    results = [r for s in sessions for r in s.results]
    entries = findings_of(results, [t for s in sessions for t in s.tool_reports])
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        write(output, entries)
    except OSError as exc:
        print(f"stackproof: {output}: cannot write the baseline: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE
    errors = sorted({f"{r.control} [{r.target}]" for r in results if r.status == ERROR})
    print(f"stackproof: {len(entries)} findings recorded in {output}", file=out)
    if errors:
        print(
            f"stackproof: {len(errors)} ERROR results cannot be baselined (nobody knows their answer); a run with this"
            f" baseline still fails on them: {', '.join(errors)}",
            file=out,
        )
    return EXIT_OK
