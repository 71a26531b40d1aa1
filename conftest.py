"""Project-wide pytest wiring: fixtures that keep every test away from real AWS accounts, and
stackproof's markers for the project's own tests (the installed plugin registers them only
where it is asked to act)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

REGION = "eu-west-1"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--exhaustive",
        action="store_true",
        help="also run the tests marked exhaustive (every mutant in every form, deployed; minutes, not in CI)",
    )


def pytest_configure(config: pytest.Config) -> None:
    from stackproof.plugin import register_markers

    register_markers(config)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Exhaustive tests are deselected, not skipped, unless asked for: a skip would read as a
    gap in every ordinary run."""
    if config.getoption("--exhaustive"):
        return
    deselected = [item for item in items if item.get_closest_marker("exhaustive") is not None]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if item.get_closest_marker("exhaustive") is None]


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
