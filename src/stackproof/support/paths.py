"""Where the data a run needs lives: inside the installed package (``stackproof.reference``,
``stackproof.checks``, ``stackproof.scenarios``). In a checkout those packages are the
repository's own top-level directories, mapped by the build, so both cases find one copy and
nothing depends on the working directory."""

from __future__ import annotations

from pathlib import Path

REFERENCE_NAMES = ("dashboard", "analytics")


def _package_dir(name: str) -> Path:
    import importlib

    module = importlib.import_module(name)
    assert module.__file__ is not None
    return Path(module.__file__).resolve().parent


def reference_dir() -> Path:
    return _package_dir("stackproof.reference")


def checks_dir() -> Path:
    """The built-in checks (``stackproof.checks``)."""
    return _package_dir("stackproof.checks")


def scenarios_dir() -> Path:
    """The built-in drills (``stackproof.scenarios``)."""
    return _package_dir("stackproof.scenarios")


def data_root() -> Path:
    """The directory the reference's own relative paths start from (``reference/...``): the
    checkout's root, or the installed package's directory."""
    return reference_dir().parent


def checkout() -> Path | None:
    """The stackproof checkout this code runs from, if it runs from one (editable installs)."""
    root = reference_dir().parent
    return root if (root / "pyproject.toml").is_file() and (root / "checks").is_dir() else None


def dashboard_template() -> Path:
    return reference_template("dashboard")


def dashboard_params() -> Path:
    """Example parameters for the reference (the values a run needs that have no default)."""
    return reference_params("dashboard")


def sync_function_dir() -> Path:
    return reference_dir() / "lambda" / "s3_to_efs"


def build_dir() -> Path:
    """Where ``stackproof build`` writes by default: ``./build/`` of the working directory."""
    return Path.cwd() / "build"


def reference_template(name: str) -> Path:
    """The template of a reference system (``--reference``)."""
    if name not in REFERENCE_NAMES:
        raise ValueError(f"unknown reference {name!r} (choose {', '.join(REFERENCE_NAMES)})")
    return reference_dir() / "cloudformation" / f"{name}.yaml"


def reference_params(name: str) -> Path:
    return reference_template(name).with_name(f"{name}.params.json")


def template_and_params(
    templates: str | list[str] | None, params: str | None, reference: str | None
) -> tuple[list[str], str | None]:
    """The templates (a deployment may be a set: files, directories, globs) and parameters
    file a run checks: ``templates`` as given, or a reference system's (``reference``, default
    the dashboard) with its parameters file unless one is given. ValueError for an unknown
    reference or both a reference and templates."""
    given = [templates] if isinstance(templates, str) else list(templates or [])
    if reference is not None and given:
        raise ValueError("give --reference or --template, not both")
    if given:
        return given, params
    name = reference or "dashboard"
    if params is None and reference_params(name).exists():
        params = str(reference_params(name))
    return [str(reference_template(name))], params
