"""Project-wide pytest wiring: fixtures that keep every test away from real AWS accounts.

The stackproof pytest plugin (targets, the ``deployment`` fixture) will be registered from here.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

REGION = "eu-west-1"


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials so that nothing can reach a real account by accident."""
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")


@pytest.fixture
def moto_aws(aws_credentials: None) -> Iterator[None]:
    from moto import mock_aws

    from stackproof.emulator.moto_patches import install

    install()
    with mock_aws():
        yield
