"""The sync function streams: a 50 MB object is copied with a small fraction of its size in memory.

The object is served by moto's server in a separate process, over HTTP on loopback, so
tracemalloc in this process sees only the client side: botocore and the handler.
"""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from stackproof.support.ports import free_port

SIZE = 50 * 1024 * 1024
PEAK_LIMIT = 8 * 1024 * 1024  # well under the object's 50 MB


@pytest.fixture
def moto_server(aws_credentials: None) -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("moto server did not start") from None
                time.sleep(0.1)
        yield endpoint
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_fifty_megabyte_object_is_streamed(
    sync_handler: ModuleType, moto_server: str, tmp_path: Path, record_property: pytest.RecordProperty
) -> None:
    import boto3

    s3 = boto3.client("s3", endpoint_url=moto_server, region_name="eu-west-1")
    s3.create_bucket(Bucket="content", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    source = tmp_path / "big.xlsx"
    digest = hashlib.sha256()
    with source.open("wb") as out:
        for _ in range(SIZE // (1024 * 1024)):
            block = os.urandom(1024 * 1024)
            digest.update(block)
            out.write(block)
    s3.upload_file(str(source), "content", "excel-data/big.xlsx")
    source.unlink()
    root = tmp_path / "efs"
    root.mkdir()

    tracemalloc.start()
    try:
        outcome = sync_handler.mirror_object(s3, "content", "excel-data/big.xlsx", str(root))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert outcome.action == "written"
    assert outcome.size == SIZE
    copied = root / "excel-data" / "big.xlsx"
    assert hashlib.sha256(copied.read_bytes()).hexdigest() == digest.hexdigest()
    record_property("peak_python_memory_bytes", peak)
    print(f"50 MB object copied with a peak of {peak / 1024 / 1024:.2f} MiB of Python memory")
    assert peak < PEAK_LIMIT, f"peak {peak} bytes is not well under the object's {SIZE} bytes"
