"""The built-in restore and resilience drills, shipped as ``stackproof.scenarios``;
``stackproof drill`` runs them."""
