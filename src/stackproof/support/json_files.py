"""Reading a JSON file a user gives (a baseline, a report to publish): every way it can fail is
one message naming the file, and the line for a JSON error, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


class JsonFileError(Exception):
    """The message names the file; callers re-raise it as their own usage error."""


def read_json(path: Path, missing_hint: str) -> Any:
    """The parsed content of ``path``; ``missing_hint`` tells a user what to give instead."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise JsonFileError(f"{path}: no such file ({missing_hint})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise JsonFileError(f"{path}: cannot read it: {exc}") from None
    except json.JSONDecodeError as exc:
        raise JsonFileError(f"{path}:{exc.lineno}: not JSON: {exc.msg}") from None
