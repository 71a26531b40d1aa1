"""Build steps for the reference deployment: artefacts the template refers to."""
