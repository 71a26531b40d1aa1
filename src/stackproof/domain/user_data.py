"""What an instance's user data does with EFS: every mount of it, and whether it goes over TLS.

Both ways instances mount EFS are read: the EFS mount helper (``amazon-efs-utils``:
``mount -t efs -o tls ...`` or an fstab line of type ``efs`` whose options hold ``tls``), and
plain NFS (``mount -t nfs4 ...`` or an fstab line of type ``nfs``/``nfs4``), which is never
encrypted in transit. Only a helper mount with the ``tls`` option is encrypted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# "mount [options] -t TYPE [options] SOURCE TARGET"
MOUNT = re.compile(r"(?:^|[\s;&|(`])(?:sudo\s+)?mount\s+(?P<args>[^\n;&|]*?-t\s*(?P<type>efs|nfs4?)\b[^\n;&|]*)")
MOUNT_HELPER = re.compile(r"(?:^|[\s;&|(`])mount\.(?P<type>efs|nfs4?)\s+(?P<args>[^\n;&|]*\S:\S*[^\n;&|]*)")
# "SOURCE:PATH TARGET TYPE OPTIONS" (an /etc/fstab line, as written by echo or a heredoc)
FSTAB = re.compile(r"(?P<source>\S*:\S*)\s+(?P<target>\S+)\s+(?P<type>efs|nfs4?)\s+(?P<options>\S+)")
OPTIONS = re.compile(r"-o\s*(?P<options>\S+)")
EFS_HINT = re.compile(r"efs|fs-[0-9a-f]{8}|FileSystem|file_system|FILE_SYSTEM", re.IGNORECASE)


@dataclass(frozen=True)
class EfsMount:
    line: int  # 1-based line of the user data
    text: str
    helper: bool  # the EFS mount helper (type efs), not plain NFS
    tls: bool

    def __str__(self) -> str:
        how = "the EFS mount helper" if self.helper else "plain NFS"
        return f"line {self.line}: {how}{' with tls' if self.tls else ' without tls'}: {self.text.strip()}"


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """Lines with shell continuations joined, each with the line it starts on."""
    lines: list[tuple[int, str]] = []
    pending = ""
    start = 0
    for number, line in enumerate(text.splitlines(), 1):
        if not pending:
            start = number
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        lines.append((start, pending + line))
        pending = ""
    if pending:
        lines.append((start, pending))
    return lines


def _has_tls(options: str) -> bool:
    return "tls" in re.split(r"[,\s\"']+", options)


def efs_mounts(user_data: str) -> list[EfsMount]:
    """Every mount of EFS the user data makes or writes into fstab, in order."""
    found = []
    for number, line in _logical_lines(user_data):
        if line.lstrip().startswith("#"):
            continue
        for pattern in (MOUNT, MOUNT_HELPER):
            for match in pattern.finditer(line):
                helper = match["type"] == "efs"
                args = match["args"]
                if not helper and not EFS_HINT.search(args):
                    continue  # an NFS mount of something that is not EFS
                options = " ".join(o["options"] for o in OPTIONS.finditer(args))
                found.append(EfsMount(number, line, helper, helper and _has_tls(options)))
        for match in FSTAB.finditer(line):
            helper = match["type"] == "efs"
            if not helper and not EFS_HINT.search(match["source"] + " " + match["target"]):
                continue
            found.append(EfsMount(number, line, helper, helper and _has_tls(match["options"])))
    return found


def mentions_efs(user_data: str) -> bool:
    """Whether the user data names EFS at all (the helper, a file system, a mount point)."""
    return bool(re.search(r"\befs\b|amazon-efs-utils|\.efs\.|mount\.efs", user_data, re.IGNORECASE))
