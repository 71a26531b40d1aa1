"""One run's state: the targets' models, the verdicts collected, the suppressions that apply
and the gate tools' reports. The pytest plugin fills it; the report writers read it."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stackproof import catalogue
from stackproof.model.outcomes import Undecidable
from stackproof.results import Result
from stackproof.results.baseline import Baseline
from stackproof.results.suppressions import Suppression

if TYPE_CHECKING:
    from stackproof.model.deployment import Deployment


@dataclass
class Session:
    """Per-run state, kept in ``config.stash``: target models and collected verdicts."""

    targets: list[str]
    template: str
    params: str | None
    region: str
    stack_name: str | None = None
    profile: str | None = None
    template_urls: list[tuple[str, str]] = field(default_factory=list)  # --template-url PREFIX=DIR
    system: str | None = None  # the system the deployment implements, over its Metadata (--system)
    templates: list[str] = field(default_factory=list)  # a set: every template spec (template is the first)
    allow_destructive: bool = False  # drills on aws: the user allowed changing the named stack
    account_id: str | None = None  # drills on aws: the only account they may change
    deadline: float | None = None  # target aws: seconds for the whole read (--deadline; None: STACKPROOF_DEADLINE)
    models: dict[str, Deployment | Exception] = field(default_factory=dict)
    opened: list[Any] = field(default_factory=list)  # targets to close (emulators to stop)
    results: list[Result] = field(default_factory=list)
    collected_controls: dict[str, list[str]] = field(default_factory=dict)
    drill_controls: set[str] = field(default_factory=set)  # controls collected as drills (on drill_stack)
    suppressions: list[Suppression] = field(default_factory=list)
    applied: list[Suppression] = field(default_factory=list)
    template_warnings: list[Any] = field(default_factory=list)  # TemplateWarning: what reading the templates found
    problems: list[str] = field(default_factory=list)  # run-level failures beyond results (coverage)
    tool_reports: list[Any] = field(default_factory=list)  # stackproof.gate.findings.ToolReport
    baseline: Baseline | None = None  # --baseline: findings accepted as they were
    baseline_summary: dict[str, Any] | None = None  # what the whole run made of the baseline

    def load_suppressions(self, file: str | None, today: datetime.date | None = None) -> None:
        """Suppressions beside the template's resources and in ``file``. A template that
        cannot be read adds none here: its target reports it."""
        from stackproof.results.suppressions import from_file, from_template
        from stackproof.template.cfn_yaml import TemplateSyntaxError, load_text
        from stackproof.template.stack_set import StackSetError, expand

        day = today or datetime.date.today()
        controls = list(catalogue.load())
        try:
            templates = [str(p) for p in expand(self.templates or [self.template])]
        except StackSetError:
            templates = []
        for template in templates:
            try:
                data = load_text(Path(template).read_text(encoding="utf-8"), template, warnings=[])
            except (OSError, UnicodeDecodeError, TemplateSyntaxError):
                continue
            self.suppressions += from_template(data, template, controls, day)
        if file:
            self.suppressions += from_file(Path(file), controls, day)

    def model(self, target: str) -> Deployment:
        if target not in self.models:
            from stackproof import targets

            try:
                opened = targets.load(target, self.target_options())
                self.opened.append(opened)
                self.models[target] = self.claim(opened.deployment())
            except Exception as exc:  # the verdict for every check on it is ERROR
                self.models[target] = exc
        found = self.models[target]
        if isinstance(found, Exception):
            raise Undecidable(f"target {target} has no deployment: {found}")
        return found

    def target_options(self) -> Any:
        """What a target needs to build this session's model (``targets.TargetOptions``)."""
        from stackproof import targets

        return targets.TargetOptions(
            self.template,
            self.params,
            self.region,
            self.stack_name,
            self.profile,
            templates=tuple(self.templates),
            template_urls=tuple(self.template_urls),
            deadline=self.deadline,
        )

    def claim(self, model: Deployment) -> Deployment:
        """``model`` held to the system given with ``--system``, whatever its Metadata says."""
        if self.system is not None:
            model.declared["reference"] = self.system
        return model

    @property
    def reference(self) -> str:
        """The reference system the session's template declares (dashboard when it says nothing)."""
        from stackproof.model.deployment import Deployment

        for model in self.models.values():
            if isinstance(model, Deployment):
                return model.reference
        return self.system or "dashboard"

    def coverage(self) -> list[Any]:
        """Per target, how many of the reference's controls this session proved
        (:class:`stackproof.results.coverage.Coverage`)."""
        from dataclasses import asdict

        from stackproof.results.coverage import by_target

        references = {cid: control.references for cid, control in catalogue.load().items()}
        return by_target([asdict(r) for r in self.results], references, self.targets, self.reference)

    def close(self) -> None:
        """Tear down what targets started (emulators, deployed stacks), newest first."""
        while self.opened:
            self.opened.pop().close()
