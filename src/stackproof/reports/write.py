"""Writing a run's reports: all five formats in one directory, and ``latest`` beside it."""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

from stackproof.reports import html_report, junit_xml, run_report, sarif, summary_md
from stackproof.results.session import Session


def write_reports(
    sessions: Session | list[Session], code: int, started: datetime.datetime, root: Path | None = None
) -> Path:
    """All five formats in ``root/<run-id>/`` (default: ./reports/ of the working directory), and ``latest``.
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
    in the other four formats, in ``root/<run id>/``, and ``latest`` pointed at it."""
    identifier = str(report["run"]["id"])
    root = root or Path.cwd() / "reports"
    directory = root / identifier
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "report.json").write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    (directory / "summary.md").write_text(summary_md.render(shown), encoding="utf-8")
    (directory / "junit.xml").write_text(junit_xml.render(shown), encoding="utf-8")
    (directory / "report.html").write_text(html_report.render(shown), encoding="utf-8")
    (directory / "report.sarif").write_text(json.dumps(sarif.render(shown), indent=2) + "\n", encoding="utf-8")
    latest = root / "latest"
    if latest.is_symlink() or latest.exists():
        latest.unlink()
    latest.symlink_to(identifier, target_is_directory=True)
    return directory
