"""The built-in compliance checks, shipped as ``stackproof.checks``: one pytest module per
control family. ``stackproof run`` runs them; ``--checks DIR`` adds a team's own."""
