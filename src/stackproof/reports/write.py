"""Writing a run's reports: every format in one directory, and ``latest`` beside it.

``report.ocsf.json`` is built with py-ocsf-models (the ``ocsf`` extra); where it is not
installed that one file is left out and stderr says so, rather than writing events nothing
validated."""

from __future__ import annotations

import datetime
import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

from stackproof.reports import asff, html_report, junit_xml, run_report, sarif, summary_md
from stackproof.results.session import Session


def write_reports(
    sessions: Session | list[Session], code: int, started: datetime.datetime, root: Path | None = None
) -> Path:
    """All formats in ``root/<run-id>/`` (default: ./reports/ of the working directory), and ``latest``.
    Several sessions (one per reference) make one report: ``report.json`` keeps each result's
    reference; the other formats show reference and target together (``analytics/moto``)."""
    ended = datetime.datetime.now(datetime.UTC)
    identifier = run_report.run_id(started)
    chosen = sessions if isinstance(sessions, list) else [sessions]
    report = run_report.combine(
        [run_report.build(s, code, run_report.RunTimes(started, ended), identifier) for s in chosen]
    )
    return write_report(report, run_report.by_reference_and_target(report), root)


def write_report(report: dict[str, Any], shown: dict[str, Any], root: Path | None = None) -> Path:
    """``report`` as ``report.json`` and ``shown`` (its columns as the other formats show them)
    in the other formats, in ``root/<run id>/``, and ``latest`` pointed at it."""
    identifier = str(report["run"]["id"])
    root = root or Path.cwd() / "reports"
    directory = root / identifier
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "report.json").write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    (directory / "summary.md").write_text(summary_md.render(shown), encoding="utf-8")
    (directory / "junit.xml").write_text(junit_xml.render(shown), encoding="utf-8")
    (directory / "report.html").write_text(html_report.render(shown), encoding="utf-8")
    (directory / "report.sarif").write_text(json.dumps(sarif.render(shown), indent=2) + "\n", encoding="utf-8")
    (directory / "report.asff.json").write_text(json.dumps(asff.render(shown), indent=2) + "\n", encoding="utf-8")
    if importlib.util.find_spec("py_ocsf_models") is not None:
        from stackproof.reports import ocsf

        (directory / "report.ocsf.json").write_text(json.dumps(ocsf.render(shown), indent=2) + "\n", encoding="utf-8")
    else:
        print(
            "stackproof: report.ocsf.json not written: py-ocsf-models is not installed"
            " (pip install 'stackproof[ocsf]')",
            file=sys.stderr,
        )
    latest = root / "latest"
    if latest.is_symlink() or latest.exists():
        latest.unlink()
    latest.symlink_to(identifier, target_is_directory=True)
    return directory
