"""The ``template`` target: the model built from the templates themselves, offline. One
template, or a set of them (files, directories, globs) linked by exports and nested stacks,
is one deployment."""

from __future__ import annotations

from pathlib import Path

from stackproof.model.deployment import Deployment
from stackproof.model.from_stack_set import build_set
from stackproof.targets import TargetError, TargetOptions
from stackproof.template.cfn_yaml import TemplateWarning
from stackproof.template.loader import TemplateError, load_parameters
from stackproof.template.stack_set import expand, resolve_set


class TemplateTarget:
    name = "template"

    def __init__(self, options: TargetOptions) -> None:
        self.options = options
        self.warnings: list[TemplateWarning] = []  # what CloudFormation accepts but a reviewer should see

    def close(self) -> None:
        """Nothing to tear down."""

    def deployment(self) -> Deployment:
        specs = self.options.templates or (self.options.template,)
        try:
            paths = expand(specs)
            parameters = load_parameters(Path(self.options.params)) if self.options.params else {}
            names = self.options.stack_name.split(",") if self.options.stack_name and len(paths) > 1 else None
            urls = {prefix: Path(directory) for prefix, directory in self.options.template_urls}
            resolved = resolve_set(paths, parameters, self.options.region, stack_names=names, template_urls=urls)
        except TemplateError as exc:
            message = str(exc)
            if message.startswith("parameters not in") and self.options.params:
                message = f"{self.options.params}: {message}"
            raise TargetError(message) from None
        name = paths[0].stem if len(paths) == 1 else ",".join(p.stem for p in paths)
        self.warnings = [w for s in resolved.stacks if s.resolved for w in s.resolved.template.warnings]
        return build_set(resolved, name)
