"""The ``template`` target: the model built from the template itself, offline."""

from __future__ import annotations

from pathlib import Path

from stackproof.model.deployment import Deployment
from stackproof.model.from_template import build
from stackproof.targets import TargetError, TargetOptions
from stackproof.template.loader import TemplateError, load_parameters, load_template
from stackproof.template.resolver import resolve


class TemplateTarget:
    name = "template"

    def __init__(self, options: TargetOptions) -> None:
        self.options = options

    def close(self) -> None:
        """Nothing to tear down."""

    def deployment(self) -> Deployment:
        try:
            template = load_template(Path(self.options.template))
            parameters = load_parameters(Path(self.options.params)) if self.options.params else {}
            unknown = sorted(set(parameters) - set(template.parameters))
            if unknown:
                raise TargetError(f"{self.options.params}: parameters not in the template: {', '.join(unknown)}")
            resolved = resolve(template, parameters, self.options.region)
        except TemplateError as exc:
            raise TargetError(str(exc)) from None
        return build(resolved)
