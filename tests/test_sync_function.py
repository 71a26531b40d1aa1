"""The S3-to-EFS sync function against a local directory standing in for the EFS mount."""

from __future__ import annotations

import io
import os
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


class FakeS3:
    """Serves objects from a dict; chunks come from a stream, like botocore's StreamingBody."""

    def __init__(self, objects: dict[str, bytes]) -> None:
        self.objects = objects
        self.requests: list[str] = []

    def get_object(self, **kwargs: Any) -> dict[str, Any]:
        key = kwargs["Key"]
        self.requests.append(key)
        if key not in self.objects:
            error = Exception("NoSuchKey")
            error.response = {"Error": {"Code": "NoSuchKey"}}  # type: ignore[attr-defined]
            raise error
        return {"Body": io.BytesIO(self.objects[key])}


def event(*keys: str, bucket: str = "content") -> dict[str, Any]:
    return {"Records": [{"s3": {"bucket": {"name": bucket}, "object": {"key": k}}} for k in keys]}


def run(handler: ModuleType, s3: FakeS3, root: Path, *raw_keys: str) -> dict[str, Any]:
    handler._client = s3
    os.environ["MOUNT_ROOT"] = str(root)
    try:
        result: dict[str, Any] = handler.lambda_handler(event(*raw_keys), None)
    finally:
        del os.environ["MOUNT_ROOT"]
        handler._client = None
    return result


def leftovers(root: Path) -> list[Path]:
    return [p for p in root.rglob(".*.sync-*")]


def test_create_overwrite_and_redelivery(sync_handler: ModuleType, tmp_path: Path) -> None:
    s3 = FakeS3({"themes/blue/theme.css": b"body{color:blue}"})
    assert run(sync_handler, s3, tmp_path, "themes/blue/theme.css")["written"] == 1
    target = tmp_path / "themes" / "blue" / "theme.css"
    assert target.read_bytes() == b"body{color:blue}"

    s3.objects["themes/blue/theme.css"] = b"body{color:navy}"
    run(sync_handler, s3, tmp_path, "themes/blue/theme.css")
    assert target.read_bytes() == b"body{color:navy}"

    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    assert run(sync_handler, s3, tmp_path, "themes/blue/theme.css", "themes/blue/theme.css")["written"] == 2
    assert target.read_bytes() == b"body{color:navy}"
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize(
    ("raw_key", "path"),
    [
        ("images/my+logo.png", "images/my logo.png"),
        ("images/a%2Bb.png", "images/a+b.png"),
        ("excel-data/Q1%20sales%20%C3%A9t%C3%A9.xlsx", "excel-data/Q1 sales été.xlsx"),
        ("themes/dark/fonts/x.woff2", "themes/dark/fonts/x.woff2"),
    ],
)
def test_url_encoded_keys_map_to_their_decoded_path(
    sync_handler: ModuleType, tmp_path: Path, raw_key: str, path: str
) -> None:
    s3 = FakeS3({path: b"data"})
    assert run(sync_handler, s3, tmp_path, raw_key)["written"] == 1
    assert (tmp_path / path).read_bytes() == b"data"


@pytest.mark.parametrize("key", ["logo.png", "other/images/x.png", "Images/x.png", "imagesx/y.png"])
def test_keys_outside_the_three_prefixes_are_ignored(sync_handler: ModuleType, tmp_path: Path, key: str) -> None:
    s3 = FakeS3({key: b"data"})
    assert run(sync_handler, s3, tmp_path, key) == {"written": 0, "ignored": 1, "rejected": []}
    assert list(tmp_path.iterdir()) == []
    assert s3.requests == []


@pytest.mark.parametrize(
    "key",
    ["images/../../etc/passwd", "images/./x.png", "images//x.png", "images/a/../../../x", "images/\x00x"],
)
def test_escaping_keys_are_rejected(sync_handler: ModuleType, tmp_path: Path, key: str) -> None:
    root = tmp_path / "efs"
    root.mkdir()
    s3 = FakeS3({key: b"evil"})
    assert run(sync_handler, s3, root, key)["rejected"] == [key]
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_symlinked_directory_cannot_redirect_a_write(sync_handler: ModuleType, tmp_path: Path) -> None:
    root, outside = tmp_path / "efs", tmp_path / "outside"
    (root / "images").mkdir(parents=True)
    outside.mkdir()
    (root / "images" / "evil").symlink_to(outside)
    s3 = FakeS3({"images/evil/x.png": b"evil"})
    assert run(sync_handler, s3, root, "images/evil/x.png")["rejected"] == ["images/evil/x.png"]
    assert list(outside.iterdir()) == []


def test_symlinked_file_is_replaced_not_followed(sync_handler: ModuleType, tmp_path: Path) -> None:
    root, outside = tmp_path / "efs", tmp_path / "secret.txt"
    (root / "images").mkdir(parents=True)
    outside.write_text("keep me")
    (root / "images" / "logo.png").symlink_to(outside)
    s3 = FakeS3({"images/logo.png": b"png"})
    assert run(sync_handler, s3, root, "images/logo.png")["written"] == 1
    assert outside.read_text() == "keep me"
    assert not (root / "images" / "logo.png").is_symlink()
    assert (root / "images" / "logo.png").read_bytes() == b"png"


def test_object_deleted_before_delivery_is_not_an_error(sync_handler: ModuleType, tmp_path: Path) -> None:
    assert run(sync_handler, FakeS3({}), tmp_path, "images/gone.png")["written"] == 0
    assert list(tmp_path.iterdir()) == []


SEGMENTS = st.one_of(
    st.sampled_from(["..", ".", "", "images", "themes", "excel-data", "link", "dir", "..%2F", "%2E%2E"]),
    st.text(alphabet=st.characters(codec="utf-8", exclude_characters="/"), min_size=1, max_size=12),
)
KEYS = st.builds(
    lambda prefix, segments, lead: lead + prefix + "/".join(segments),
    st.sampled_from(["images/", "themes/", "excel-data/", "", "/", "images/../"]),
    st.lists(SEGMENTS, min_size=1, max_size=6),
    st.sampled_from(["", "/", "./"]),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(keys=st.lists(KEYS, min_size=1, max_size=5))
def test_no_generated_key_writes_outside_the_mount_root(
    sync_handler: ModuleType, tmp_path_factory: pytest.TempPathFactory, keys: list[str]
) -> None:
    base = tmp_path_factory.mktemp("prop")
    root, outside = base / "efs", base / "outside"
    for tier in ("images", "themes", "excel-data"):
        (root / tier).mkdir(parents=True)
        (root / tier / "link").symlink_to(outside, target_is_directory=True)
    outside.mkdir()
    sentinel = outside / "sentinel"
    sentinel.write_bytes(b"untouched")

    decoded = [sync_handler.urllib.parse.unquote_plus(k) for k in keys]
    s3 = FakeS3(dict.fromkeys(decoded, b"payload"))
    handler_result = run(sync_handler, s3, root, *[k.replace("%", "%25").replace("+", "%2B") for k in keys])

    assert sorted(p.name for p in outside.iterdir()) == ["sentinel"]
    assert sentinel.read_bytes() == b"untouched"
    assert sorted(p.name for p in base.iterdir()) == ["efs", "outside"]
    real_root = os.path.realpath(root)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames + dirnames:
            path = os.path.join(dirpath, name)
            if not os.path.islink(path):
                assert os.path.realpath(path).startswith(real_root + os.sep)
    assert leftovers(root) == []
    assert handler_result["written"] + handler_result["ignored"] + len(handler_result["rejected"]) <= len(keys)
