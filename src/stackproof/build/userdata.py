"""Keep the launch template's user data identical to the readable bootstrap script.

The script lives in its own file so that it can be read, diffed and linted as shell; the
template must carry it verbatim inside ``Fn::Sub``. Rather than trusting people to copy it,
this module rewrites the block between the ``# BEGIN USERDATA`` and ``# END USERDATA``
marker comments, and ``--check`` fails CI when the two have drifted apart.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

BEGIN = re.compile(r"^(?P<indent> *)# BEGIN USERDATA (?P<source>\S+)")
END = re.compile(r"^ *# END USERDATA\s*$")


class UserDataError(Exception):
    """The template's marker block is missing or malformed."""


@dataclass(frozen=True)
class UserDataBlock:
    source: Path
    start: int  # index of the BEGIN line
    stop: int  # index of the END line


def find_block(template: Path, lines: list[str]) -> UserDataBlock:
    begin = next((i for i, line in enumerate(lines) if BEGIN.match(line)), None)
    if begin is None:
        raise UserDataError(f"{template}: no '# BEGIN USERDATA <script>' marker")
    end = next((i for i in range(begin + 1, len(lines)) if END.match(lines[i])), None)
    if end is None:
        raise UserDataError(f"{template}:{begin + 1}: BEGIN USERDATA without '# END USERDATA'")
    match = BEGIN.match(lines[begin])
    assert match is not None
    return UserDataBlock(Path(match["source"]), begin, end)


def render(template: Path, root: Path) -> str:
    """Return the template text with the marker block refreshed from its script."""
    text = template.read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    block = find_block(template, lines)
    match = BEGIN.match(lines[block.start])
    assert match is not None
    indent = match["indent"]
    script_path = root / block.source
    try:
        script = script_path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UserDataError(f"{template}:{block.start + 1}: cannot read {script_path}: {exc}") from exc
    body = [f"{indent}- |\n"]
    for line in script.splitlines():
        body.append(f"{indent}  {line}\n" if line else "\n")
    return "".join(lines[: block.start + 1] + body + lines[block.stop :])


def sync(template: Path, root: Path, *, check: bool) -> bool:
    """Rewrite (or with ``check`` only compare) the template; True when it was up to date."""
    current = template.read_text(encoding="utf-8")
    wanted = render(template, root)
    if current == wanted:
        return True
    if not check:
        template.write_text(wanted, encoding="utf-8")
    return False
