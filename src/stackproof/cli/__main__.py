"""``python -m stackproof.cli``: the same as the ``stackproof`` command."""

from stackproof.cli.main import main

raise SystemExit(main())
