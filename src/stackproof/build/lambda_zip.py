"""Package the sync function exactly as the template's SyncFunctionCodeKey expects it.

The zip is reproducible (sorted entries, fixed timestamps and modes) so that its hash
only changes when the code does, which keeps S3 uploads and stack updates honest.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

FIXED_TIME = (1980, 1, 1, 0, 0, 0)


def sources(source_dir: Path) -> list[Path]:
    files = sorted(
        p for p in source_dir.rglob("*.py") if "__pycache__" not in p.parts and not p.name.startswith("test_")
    )
    if not files:
        raise FileNotFoundError(f"{source_dir}: no Python sources to package")
    return files


def build_zip(source_dir: Path, output: Path) -> Path:
    output.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(output, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sources(source_dir):
            info = zipfile.ZipInfo(path.relative_to(source_dir).as_posix(), FIXED_TIME)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())
    return output
