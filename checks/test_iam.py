"""IAM: access (seed 002, "We use AWS SSM Agent")."""

from __future__ import annotations

import re
from typing import Any

import pytest

from stackproof import catalogue
from stackproof.checking import Findings, Undecidable, findings, known, optional, subjects
from stackproof.model.deployment import Deployment
from stackproof.model.documents import as_list
from stackproof.model.types import IamIdentity, LaunchTemplate, PolicyDocument, Role, SecurityGroup
from stackproof.template.values import Unknown

SSM_CORE = "AmazonSSMManagedInstanceCore"
ADMIN_POLICIES = (":policy/AdministratorAccess", ":policy/PowerUserAccess", ":policy/IAMFullAccess")
EVERY_ACTION = ("*", "*:*")


@pytest.mark.control("IAM-01")
@pytest.mark.static
def test_administration_through_session_manager_only(deployment: Deployment) -> None:
    with findings() as f:
        roles = subjects(
            deployment.instance_roles(),
            "instance role",
            "group -> launch template or launch configuration -> instance profile -> role",
        )
        for role in roles:
            managed = [str(a) for a in known(role.managed_policies, f"managed policies of {role}")]
            if not any(a.endswith(f":policy/{SSM_CORE}") for a in managed):
                f.fail(f"instance role lacks {SSM_CORE}", role, observed=managed)
        launches = optional(deployment.all(LaunchTemplate), "the instance role is the subject; key pairs are extra")
        for template in launches:
            if known(template.key_name, f"KeyName of {template}"):
                f.fail(f"{template.kind} names a key pair", template, observed=template.key_name, expected=None)
        for group in optional(deployment.all(SecurityGroup), "the instance role is the subject; SSH rules are extra"):
            for rule in group.ingress():
                known([rule.protocol, rule.from_port, rule.to_port], f"a rule of {group}")
                if rule.covers_port(22):
                    f.fail(
                        "a security group admits SSH", group, observed=rule.cidr or rule.cidr_ipv6 or rule.peer_group
                    )


@pytest.mark.control("IAM-02")
@pytest.mark.static
def test_launch_template_requires_imdsv2_and_encrypts_volumes(deployment: Deployment) -> None:
    with findings() as f:
        for template in subjects(deployment.all(LaunchTemplate), "launch template or launch configuration"):
            tokens = known(template.http_tokens, f"HttpTokens of {template}")
            if tokens != "required":
                f.fail(f"IMDSv2 is not required by the {template.kind}", template, observed=tokens, expected="required")
            if not template.block_devices:
                f.fail(
                    f"the {template.kind} maps no block device, so root volume encryption is left to account defaults",
                    template,
                )
            for device in template.block_devices:
                if known(device.encrypted, f"encryption of {device.device} in {template}") is not True:
                    f.fail(f"volume {device.device} is not encrypted", template, observed=device.encrypted)


def _everything(values: Any, what: str) -> bool:
    """Whether a statement's Action (or Resource) list covers everything: a known "*" decides
    it; otherwise an unknown entry could be "*", so the answer is Undecidable."""
    items = as_list(known(values, what) if isinstance(values, Unknown) else values)
    if any(not isinstance(v, Unknown) and str(v) in EVERY_ACTION for v in items):
        return True
    for value in items:
        known(value, what)
    return False


def _judge_statement(f: Findings, document: PolicyDocument, statement: Any) -> None:
    """One statement grants all actions on all resources only if both halves say so; a
    statement whose actions are explicit cannot, whatever its resource (known or not)."""
    if isinstance(statement, Unknown):
        known(statement, f"a statement of policy {document.name}")
    if not isinstance(statement, dict):
        raise Undecidable(f"a statement of policy {document.name} is not an object: {statement!r}")
    if known(statement.get("Effect"), f"Effect of a statement of policy {document.name}") != "Allow":
        return
    if "NotAction" in statement:
        broad = True  # every action but the listed ones
    else:
        broad = _everything(statement.get("Action", []), f"Action of a statement of policy {document.name}")
    if not broad:
        return
    if "NotResource" in statement:
        on_all = True
    else:
        on_all = _everything(statement.get("Resource", []), f"Resource of a statement of policy {document.name}")
    if on_all:
        f.fail(
            f"policy {document.name} allows all actions on all resources",
            *([document.location] if document.location else []),
            observed={
                "Action": statement.get("Action") or {"NotAction": statement.get("NotAction")},
                "Resource": statement.get("Resource") or {"NotResource": statement.get("NotResource")},
            },
        )


def _statements(document: PolicyDocument) -> list[Any]:
    """The statements, each judged on its own: an Unknown inside one statement leaves the
    others decidable; an Unknown statement (or list of them) stays Unknown, never dropped."""
    body = document.document
    if not isinstance(body, dict):
        body = known(body, f"policy {document.name}")
        if not isinstance(body, dict):
            raise Undecidable(f"policy {document.name} is not a policy document: {body!r}")
    raw = body.get("Statement", [])
    if isinstance(raw, Unknown):
        known(raw, f"Statement of policy {document.name}")
    return [raw] if isinstance(raw, dict) else list(raw) if isinstance(raw, list) else [raw]


@pytest.mark.control("IAM-03")
@pytest.mark.static
def test_no_policy_grants_everything(deployment: Deployment) -> None:
    with findings() as f:
        identity = [d for d in deployment.policies if d.kind == "identity"]
        roles = deployment.all(Role)
        subjects([*identity, *roles], "identity policy", "no role and no identity policy to judge")
        for document in optional(identity, "roles and identity policies are the subject; one is required above"):
            with f.each(f"policy {document.name}"):
                for statement in _statements(document):
                    with f.each(f"a statement of policy {document.name}"):
                        _judge_statement(f, document, statement)
        for role in optional(roles, "roles and identity policies are the subject; one is required above"):
            for arn in known(role.managed_policies, f"managed policies of {role}"):
                if str(arn).endswith(ADMIN_POLICIES):
                    f.fail("role carries an administrator managed policy", role, observed=str(arn))


SERVICE_WILDCARD = re.compile(r"^[a-z0-9-]+:\*$")
# arn:PARTITION:SERVICE:REGION:ACCOUNT:* with nothing narrower than wildcards: every resource.
EVERY_RESOURCE_ARN = re.compile(r"^arn:[^:]+:[^:]+:\*?:\*?:\*$")
AWS_MANAGED = ":iam::aws:policy/"


def _on_every_resource(values: Any, what: str) -> bool:
    """Whether a statement's Resource reaches every resource: "*", or an ARN whose every part
    after the service is a wildcard (``arn:aws:s3:::*``). An unknown entry is Undecidable."""
    for value in as_list(known(values, what)):
        text = str(known(value, what))
        if text == "*" or EVERY_RESOURCE_ARN.match(text):
            return True
    return False


def _service_wide(statement: dict[str, Any], what: str) -> list[str]:
    """The actions of an Allow statement that cover a whole service: ``service:*`` (and "*",
    every service's); NotAction allows every action of every service it does not name."""
    if "NotAction" in statement:
        return [f"NotAction {known(statement['NotAction'], what)}"]
    return [
        str(a)
        for a in as_list(known(statement.get("Action", []), what))
        if str(known(a, what)).lower() in EVERY_ACTION or SERVICE_WILDCARD.match(str(a).lower())
    ]


@pytest.mark.control("IAM-04")
@pytest.mark.static
def test_no_policy_grants_a_whole_service_on_every_resource(deployment: Deployment) -> None:
    """A role that may do anything to a service (``s3:*`` on ``*``) holds every bucket of the
    account, not the content bucket the seed gives it; the catalogue's entry lists the cases a
    reviewer accepted, each with its reason."""
    exceptions = catalogue.load()["IAM-04"].exceptions
    allowed_actions = {e.action for e in exceptions if e.action}
    allowed_managed = {e.managed_policy for e in exceptions if e.managed_policy}
    with findings() as f:
        identity = [d for d in deployment.policies if d.kind == "identity"]
        holders: list[Role | IamIdentity] = [*deployment.all(Role), *deployment.all(IamIdentity)]
        subjects([*identity, *holders], "identity policy", "no role, user or group and no identity policy to judge")
        for document in optional(identity, "roles and identity policies are the subject; one is required above"):
            with f.each(f"policy {document.name}"):
                for statement in _statements(document):
                    what = f"a statement of policy {document.name}"
                    with f.each(what):
                        if not isinstance(known(statement, what), dict):
                            raise Undecidable(f"{what} is not an object: {statement!r}")
                        if known(statement.get("Effect"), f"Effect of {what}") != "Allow":
                            continue
                        wide = [a for a in _service_wide(statement, what) if a.lower() not in allowed_actions]
                        if not wide:
                            continue
                        if "NotResource" in statement or _on_every_resource(statement.get("Resource", []), what):
                            f.fail(
                                f"policy {document.name} allows every action of a service on all resources",
                                *([document.location] if document.location else []),
                                observed={"Action": wide, "Resource": statement.get("Resource", "NotResource")},
                                expected="the actions it needs, on the resources it needs them for",
                            )
        for holder in optional(holders, "roles and identity policies are the subject; one is required above"):
            for arn in known(holder.managed_policies, f"managed policies of {holder}"):
                name = str(arn).rsplit("/", 1)[-1]
                if AWS_MANAGED in str(arn) and name.endswith("FullAccess") and name not in allowed_managed:
                    kind = holder.kind if isinstance(holder, IamIdentity) else "role"
                    f.fail(f"{kind} carries an AWS managed full-access policy", holder, observed=str(arn))
