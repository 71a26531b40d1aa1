"""``stackproof drill --cleanup RUN-ID``: finish the undo journal of a drill that was killed
(SIGKILL, a lost machine, a crash) before it could clean up. Idempotent: a resource already
gone counts as cleaned, so it can be run again after a partial cleanup. Without a RUN-ID it
lists the journals still unfinished."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, TextIO

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2


def clients(context: dict[str, Any], profile: str | None, region: str | None) -> Any:
    """Clients for the account the journal names: the standard credential chain (``--profile``,
    else the journal's), and the emulator endpoint the drill used, if it used one."""
    import boto3

    from stackproof.targets.aws_calls import CallRecorder, ClientCache

    session = boto3.Session(
        profile_name=profile or context.get("profile") or None, region_name=region or context["region"]
    )
    return ClientCache(session, CallRecorder(), endpoint_url=context.get("endpoint_url"))


def listing(directory: Path, out: TextIO) -> int:
    from stackproof.drills import journal

    found = sorted(directory.glob("*.json")) if directory.is_dir() else []
    if not found:
        print(f"no unfinished drill journals in {directory}", file=out)
    for path in found:
        try:
            loaded = journal.load(directory, path.stem)
        except journal.JournalError as exc:
            print(f"{path.stem}  (unreadable: {exc})", file=out)
            continue
        where = loaded.context
        print(
            f"{loaded.run_id}  {loaded.drill}  stack {where.get('stack')}"
            f" in {where.get('account')}/{where.get('region')}"
            f"  started {where.get('started')}, {len(loaded.pending())} undo(s) left",
            file=out,
        )
    return EXIT_OK


def main(run_id: str, directory: Path, profile: str | None, region: str | None, out: TextIO | None = None) -> int:
    from stackproof.drills import journal
    from stackproof.drills.engine import finish

    out = out or sys.stdout
    if not run_id:
        return listing(directory, out)
    try:
        found = journal.load(directory, run_id)
    except journal.JournalError as exc:
        print(f"stackproof: {exc}", file=sys.stderr)
        return EXIT_USAGE
    context = found.context
    if context.get("in_process_emulator"):
        found.path.unlink(missing_ok=True)
        print(
            f"stackproof: drill run {run_id} ran on an emulator inside its own process, which ended with it:"
            " nothing is left to clean (journal removed)",
            file=out,
        )
        return EXIT_OK
    if not context.get("region") and not region:
        print(f"stackproof: journal {run_id} names no region; give --region", file=sys.stderr)
        return EXIT_USAGE
    client = None
    if context.get("account"):
        try:
            client = clients(context, profile, region)
            actual = client("sts").get_caller_identity()["Account"]
        except Exception as exc:  # no credentials, an unreachable endpoint: one line, no traceback
            print(
                f"stackproof: cannot reach account {context['account']}: {type(exc).__name__}: {exc}", file=sys.stderr
            )
            return EXIT_USAGE
        if actual != context["account"]:
            print(
                f"stackproof: drill run {run_id} changed account {context['account']}; these credentials are for"
                f" {actual}",
                file=sys.stderr,
            )
            return EXIT_USAGE
    print(f"stackproof: finishing {found.drill} (run {run_id}): {len(found.pending())} undo(s) left", file=out)
    records = finish(found, client, lambda line: None)
    for record in records:
        print(
            f"  {'cleaned' if record.status == 'ok' else 'FAILED '}  {record.what}"
            + (f": {record.detail}" if record.detail else ""),
            file=out,
            flush=True,
        )
    failed = [r for r in records if r.status != "ok"]
    if failed:
        print(f"stackproof: {len(failed)} undo(s) failed; the journal stays in {found.path}: run this again", file=out)
        return EXIT_FINDINGS
    print(f"stackproof: drill run {run_id} cleaned up", file=out)
    return EXIT_OK
