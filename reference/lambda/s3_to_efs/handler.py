"""S3-to-EFS sync function (seed 002 step 4: uploads under images/, themes/ and excel-data/
"set off an object creation trigger to the AWS Lambda to migrate the files onto AWS EFS").

Each object key is mirrored to the same relative path under the EFS mount root.

Safety comes from never resolving a path as a string: every directory below the mount
root is opened relative to its parent with ``O_NOFOLLOW``, so a ``..`` segment, an
absolute key or a symlink planted on the file system cannot steer a write outside the root.
Bodies are streamed in chunks into a temporary file that is renamed into place, so a
redelivered or retried event leaves the same file and a reader never sees half a file.
"""

from __future__ import annotations

import contextlib
import logging
import os
import urllib.parse
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, cast

LOG = logging.getLogger(__name__)
LOG.setLevel(logging.INFO)

PREFIXES = ("images/", "themes/", "excel-data/")
CHUNK_SIZE = 1024 * 1024
DIR_MODE = 0o755
FILE_MODE = 0o644


class UnsafeKey(ValueError):
    """The key cannot be mapped to a path inside the mount root."""


class S3Client(Protocol):
    def get_object(self, **kwargs: Any) -> Mapping[str, Any]: ...


@dataclass(frozen=True)
class Outcome:
    key: str
    action: str  # "written", "ignored", "directory", "gone", "rejected"
    size: int = 0
    detail: str = ""


def relative_parts(key: str) -> list[str]:
    """Split a decoded key into path segments, refusing anything that could escape."""
    if "\x00" in key:
        raise UnsafeKey("NUL byte in key")
    if key.startswith("/"):
        raise UnsafeKey("absolute key")
    parts = key.split("/")
    if parts and parts[-1] == "":
        parts = parts[:-1]
    for part in parts:
        if part in ("", ".", ".."):
            raise UnsafeKey(f"segment {part!r} not allowed")
        if len(part.encode("utf-8")) > 255:
            raise UnsafeKey("segment longer than 255 bytes")
    if not parts:
        raise UnsafeKey("empty key")
    return parts


def is_synced(key: str) -> bool:
    return key.startswith(PREFIXES)


def _open_dir(parent_fd: int, name: str, *, create: bool) -> int:
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        return os.open(name, flags, dir_fd=parent_fd)
    except FileNotFoundError:
        if not create:
            raise
    with contextlib.suppress(FileExistsError):  # another invocation created it first
        os.mkdir(name, DIR_MODE, dir_fd=parent_fd)
    return os.open(name, flags, dir_fd=parent_fd)


def _open_parent(root: str, dirs: list[str]) -> int:
    """Open the directory that will hold the file, creating it; never follows a symlink."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for name in dirs:
            try:
                child = _open_dir(fd, name, create=True)
            except FileNotFoundError:
                raise
            except OSError as exc:  # ELOOP for a symlink, ENOTDIR for a file
                raise UnsafeKey(f"{name!r} is not a plain directory under the mount root") from exc
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd


def _chunks(body: Any) -> Iterator[bytes]:
    iter_chunks = getattr(body, "iter_chunks", None)
    if iter_chunks is not None:
        yield from iter_chunks(CHUNK_SIZE)
        return
    while chunk := body.read(CHUNK_SIZE):
        yield chunk


def write_stream(root: str, parts: list[str], chunks: Iterable[bytes]) -> int:
    """Write ``chunks`` to ``root/parts`` atomically; returns the number of bytes written."""
    parent = _open_parent(root, parts[:-1])
    name = parts[-1]
    tmp = f".{name[:200]}.sync-{os.getpid()}-{os.urandom(6).hex()}"
    size = 0
    try:
        fd = os.open(
            tmp,
            os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
            FILE_MODE,
            dir_fd=parent,
        )
        try:
            with os.fdopen(fd, "wb", closefd=True) as out:
                for chunk in chunks:
                    out.write(chunk)
                    size += len(chunk)
                out.flush()
                os.fsync(out.fileno())
        except BaseException:
            os.unlink(tmp, dir_fd=parent)
            raise
        # rename() replaces a symlink at the destination rather than following it.
        try:
            os.replace(tmp, name, src_dir_fd=parent, dst_dir_fd=parent)
        except OSError as exc:  # a directory already holds that name
            os.unlink(tmp, dir_fd=parent)
            raise UnsafeKey(f"{name!r} exists and is not a file") from exc
    finally:
        os.close(parent)
    return size


def mirror_object(s3: S3Client, bucket: str, key: str, root: str) -> Outcome:
    """Copy one object to the mount root; ``key`` is already URL-decoded."""
    if not is_synced(key):
        return Outcome(key, "ignored", detail="outside images/, themes/, excel-data/")
    try:
        parts = relative_parts(key)
    except UnsafeKey as exc:
        return Outcome(key, "rejected", detail=str(exc))
    if key.endswith("/"):
        try:
            os.close(_open_parent(root, parts))
        except UnsafeKey as exc:
            return Outcome(key, "rejected", detail=str(exc))
        return Outcome(key, "directory")
    try:
        response = s3.get_object(Bucket=bucket, Key=key)
    except Exception as exc:  # botocore ClientError without importing botocore here
        code = getattr(exc, "response", {}).get("Error", {}).get("Code")
        if code in ("NoSuchKey", "404"):
            return Outcome(key, "gone", detail="deleted before it could be copied")
        raise
    body = response["Body"]
    try:
        size = write_stream(root, parts, _chunks(body))
    except UnsafeKey as exc:
        return Outcome(key, "rejected", detail=str(exc))
    finally:
        close = getattr(body, "close", None)
        if close is not None:
            close()
    return Outcome(key, "written", size=size)


def records(event: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    for record in event.get("Records", []):
        s3 = record.get("s3", {})
        bucket = s3.get("bucket", {}).get("name")
        raw_key = s3.get("object", {}).get("key")
        if bucket and raw_key is not None:
            # S3 event keys are form-encoded: "+" is a space, "%2B" a plus sign.
            yield bucket, urllib.parse.unquote_plus(raw_key)


_client: S3Client | None = None


def _s3() -> S3Client:
    global _client
    if _client is None:
        import boto3

        _client = cast(S3Client, boto3.client("s3"))
    return _client


def lambda_handler(event: Mapping[str, Any], context: object) -> dict[str, Any]:
    root = os.environ.get("MOUNT_ROOT", "/mnt/efs")
    outcomes = [mirror_object(_s3(), bucket, key, root) for bucket, key in records(event)]
    for outcome in outcomes:
        LOG.info("%s %s %s %s", outcome.action, outcome.key, outcome.size, outcome.detail)
    return {
        "written": sum(o.action == "written" for o in outcomes),
        "ignored": sum(o.action == "ignored" for o in outcomes),
        "rejected": [o.key for o in outcomes if o.action == "rejected"],
    }
