"""How a worker reads an environment as the environment's role: a profile of its own.

A task carries a role ARN and profile names, never keys. The worker turns ``role_arn`` into a
profile of the standard chain (``role_arn`` + ``source_profile``, or ``credential_source`` for
the worker's own keys, container or instance role, or a web-identity base profile) in a config
file of its own process: the user's config copied, these profiles added. botocore's own
assume-role provider then calls STS with the worker's credentials, and the ``aws`` target reads
through that profile exactly as ``stackproof run --profile`` does. Setting ``AWS_CONFIG_FILE``
is per process: the file only ever grows (replaced atomically), so a task running beside
another always sees its own profile and every profile the user had."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import threading
from pathlib import Path

from stackproof.sweep.environments import Environment

PREFIX = "stackproof-sweep-"
WEB_IDENTITY = f"{PREFIX}web-identity"

_lock = threading.Lock()
_state: dict[str, str | None] = {}  # "original": AWS_CONFIG_FILE before the sweep; "file": ours


def profile_for(environment: Environment) -> str | None:
    """The profile the ``aws`` target reads ``environment`` through (None: the default chain)."""
    if environment.role_arn is None:
        return environment.profile
    sections = _sections(environment)
    name = next(iter(sections))
    with _lock:
        _add(sections)
    return name


def _sections(environment: Environment) -> dict[str, dict[str, str]]:
    """The profile for ``environment``'s role (first), and the base it stands on if one is needed."""
    assert environment.role_arn is not None
    source = environment.profile or os.environ.get("AWS_PROFILE")
    base: dict[str, dict[str, str]] = {}
    settings = {"role_arn": environment.role_arn, "role_session_name": "stackproof-sweep", "region": environment.region}
    if source:
        settings["source_profile"] = source
    elif os.environ.get("AWS_ACCESS_KEY_ID"):
        settings["credential_source"] = "Environment"
    elif os.environ.get("AWS_WEB_IDENTITY_TOKEN_FILE") and os.environ.get("AWS_ROLE_ARN"):
        settings["source_profile"] = WEB_IDENTITY
        base[WEB_IDENTITY] = {
            "role_arn": os.environ["AWS_ROLE_ARN"],
            "web_identity_token_file": os.environ["AWS_WEB_IDENTITY_TOKEN_FILE"],
        }
    elif os.environ.get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") or os.environ.get(
        "AWS_CONTAINER_CREDENTIALS_FULL_URI"
    ):
        settings["credential_source"] = "EcsContainer"
    else:
        settings["credential_source"] = "Ec2InstanceMetadata"
    digest = hashlib.sha256(repr(sorted(settings.items())).encode()).hexdigest()[:12]
    return {f"{PREFIX}{environment.name}-{digest}": settings, **base}


def _add(sections: dict[str, dict[str, str]]) -> None:
    current = os.environ.get("AWS_CONFIG_FILE")
    ours = _state.get("file")
    if ours is None or current != ours:
        _state["original"] = current
        directory = tempfile.mkdtemp(prefix="stackproof-sweep-")  # 0700: the user's config is copied here
        ours = _state["file"] = str(Path(directory) / "config")
        original = Path(current or Path.home() / ".aws" / "config").expanduser()
        text = original.read_text(encoding="utf-8") if original.is_file() else ""
        _write(Path(ours), text)
    path = Path(ours)
    text = path.read_text(encoding="utf-8")
    added = [
        f"\n[profile {name}]\n" + "".join(f"{key} = {value}\n" for key, value in settings.items())
        for name, settings in sections.items()
        if f"[profile {name}]" not in text
    ]
    if added:
        _write(path, text + "".join(added))
    os.environ["AWS_CONFIG_FILE"] = ours


def _write(path: Path, text: str) -> None:
    partial = path.with_suffix(".partial")
    partial.write_text(text, encoding="utf-8")
    partial.chmod(0o600)
    partial.replace(path)


def restore() -> None:
    """Put back the process's ``AWS_CONFIG_FILE`` and remove our copy: for the process that ran
    environments itself (``--serial``, threads), not for a worker, which may be running another."""
    with _lock:
        ours = _state.pop("file", None)
        original = _state.pop("original", None)
        if ours is None:
            return
        if os.environ.get("AWS_CONFIG_FILE") == ours:
            if original is None:
                os.environ.pop("AWS_CONFIG_FILE", None)
            else:
                os.environ["AWS_CONFIG_FILE"] = original
        shutil.rmtree(Path(ours).parent, ignore_errors=True)
