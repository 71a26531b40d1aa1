"""A virtualenv of its own for a gate tool that cannot share ours (checkov pins boto3 and
networkx). Created once and reused while its requirements stay the same::

    python -m stackproof.gate.toolenv .tox/checkov checkov==3.3.30

tox runs this before the environments that need checkov; ``stackproof run`` then finds
``.tox/checkov/bin/checkov`` by itself (see :func:`stackproof.gate.tools.find_tool`).
"""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

STAMP = ".stackproof-requirements"


def ensure(directory: Path, requirements: list[str]) -> bool:
    """Make ``directory`` a virtualenv holding ``requirements``; False when it already did."""
    wanted = "\n".join(requirements) + "\n"
    stamp = directory / STAMP
    if stamp.exists() and stamp.read_text() == wanted and (directory / "bin" / "python").exists():
        return False
    venv.EnvBuilder(with_pip=True, clear=True).create(directory)
    python = str(directory / "bin" / "python")
    subprocess.run(
        [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *requirements], check=True
    )
    stamp.write_text(wanted)
    return True


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) < 2:
        print("usage: python -m stackproof.gate.toolenv DIRECTORY REQUIREMENT...", file=sys.stderr)
        return 2
    directory = Path(args[0]).resolve()
    try:
        created = ensure(directory, args[1:])
    except subprocess.CalledProcessError as exc:
        print(f"stackproof.toolenv: pip failed in {directory} (exit {exc.returncode})", file=sys.stderr)
        return 1
    print(f"stackproof.toolenv: {directory} {'created' if created else 'up to date'} ({' '.join(args[1:])})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
