"""The data plane moto does not have: each EFS file system is a local directory, so what the
sync function writes, what a backup copies and what a restore brings back are real files with
real checksums.

Directories live under one temporary root per process (``STACKPROOF_EFS_ROOT`` to choose it);
:func:`reset` removes them all, as the end of a moto session removes the file systems.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

_root: Path | None = None


def root() -> Path:
    global _root
    if _root is None:
        configured = os.environ.get("STACKPROOF_EFS_ROOT")
        _root = Path(configured) if configured else Path(tempfile.mkdtemp(prefix="stackproof-efs-"))
        _root.mkdir(parents=True, exist_ok=True)
    return _root


def file_system(fs_id: str) -> Path:
    """The directory that is the root of file system ``fs_id`` (created on first use)."""
    if not fs_id.startswith("fs-") or "/" in fs_id:
        raise ValueError(f"not a file system ID: {fs_id!r}")
    path = root() / fs_id
    path.mkdir(exist_ok=True)
    return path


def through_access_point(fs_id: str, root_directory: str) -> Path:
    """Where an access point whose root is ``root_directory`` lands in the file system."""
    relative = root_directory.strip("/")
    path = file_system(fs_id) / relative if relative else file_system(fs_id)
    path.mkdir(parents=True, exist_ok=True)
    return path


def checksums(directory: Path) -> dict[str, str]:
    """sha256 of every regular file under ``directory``, by relative path."""
    found = {}
    for path in sorted(directory.rglob("*")):
        if path.is_file() and not path.is_symlink():
            found[path.relative_to(directory).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def remove(fs_id: str) -> None:
    shutil.rmtree(root() / fs_id, ignore_errors=True)


def existing() -> list[str]:
    return sorted(p.name for p in root().iterdir()) if _root is not None and _root.exists() else []


def reset() -> None:
    global _root
    if _root is not None:
        shutil.rmtree(_root, ignore_errors=True)
        _root = None


def install() -> None:
    """Deleting a file system in moto deletes its directory too."""
    from moto.efs.models import EFSBackend

    original = EFSBackend.delete_file_system
    if getattr(original, "stackproof", False):
        return

    def delete_file_system(self: EFSBackend, file_system_id: str) -> None:
        original(self, file_system_id)
        remove(file_system_id)

    delete_file_system.stackproof = True  # type: ignore[attr-defined]
    EFSBackend.delete_file_system = delete_file_system  # type: ignore[method-assign]
