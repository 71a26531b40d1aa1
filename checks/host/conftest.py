"""The host checks' ``host`` is stackproof's (SSM Run Command to the target's instances), never
pytest-testinfra's own, which its installed plugin also offers and which would run every
command on the machine running pytest. A conftest's fixture outranks a plugin's."""

from __future__ import annotations

from stackproof.plugin import host

__all__ = ["host"]
