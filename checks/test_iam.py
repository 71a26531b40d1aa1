"""IAM: access (seed 002, "We use AWS SSM Agent")."""

from __future__ import annotations

import pytest

from stackproof.checking import findings, known, require
from stackproof.model.deployment import Deployment
from stackproof.model.documents import as_list, statements
from stackproof.model.types import LaunchTemplate, Role, SecurityGroup

SSM_CORE = "AmazonSSMManagedInstanceCore"
ADMIN_POLICIES = (":policy/AdministratorAccess", ":policy/PowerUserAccess", ":policy/IAMFullAccess")


@pytest.mark.control("IAM-01")
@pytest.mark.static
def test_administration_through_session_manager_only(deployment: Deployment) -> None:
    with findings() as f:
        roles = require(deployment.instance_roles(), "instance role (launch template -> instance profile -> role)")
        for role in roles:
            managed = [str(a) for a in known(role.managed_policies, f"managed policies of {role}")]
            if not any(a.endswith(f":policy/{SSM_CORE}") for a in managed):
                f.fail(f"instance role lacks {SSM_CORE}", role, observed=managed)
        for template in deployment.all(LaunchTemplate):
            if known(template.key_name, f"KeyName of {template}"):
                f.fail("launch template names a key pair", template, observed=template.key_name, expected=None)
        for group in deployment.all(SecurityGroup):
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
        for template in require(deployment.all(LaunchTemplate), "launch template"):
            tokens = known(template.http_tokens, f"HttpTokens of {template}")
            if tokens != "required":
                f.fail("IMDSv2 is not required", template, observed=tokens, expected="required")
            if not template.block_devices:
                f.fail("no block device mapping, so root volume encryption is left to account defaults", template)
            for device in template.block_devices:
                if known(device.encrypted, f"encryption of {device.device}") is not True:
                    f.fail(f"volume {device.device} is not encrypted", template, observed=device.encrypted)


@pytest.mark.control("IAM-03")
@pytest.mark.static
def test_no_policy_grants_everything(deployment: Deployment) -> None:
    with findings() as f:
        for document in deployment.policies:
            if document.kind != "identity":
                continue
            for statement in statements(known(document.document, f"policy {document.name}")):
                if statement.get("Effect") != "Allow":
                    continue
                actions = [str(a) for a in as_list(statement.get("Action", []))]
                resources = [str(r) for r in as_list(statement.get("Resource", []))]
                broad = any(a in ("*", "*:*") for a in actions) or "NotAction" in statement
                if broad and "*" in resources:
                    f.fail(
                        f"policy {document.name} allows all actions on all resources",
                        *([document.location] if document.location else []),
                        observed={"Action": actions or statement.get("NotAction"), "Resource": resources},
                    )
        for role in deployment.all(Role):
            for arn in known(role.managed_policies, f"managed policies of {role}"):
                if str(arn).endswith(ADMIN_POLICIES):
                    f.fail("role carries an administrator managed policy", role, observed=str(arn))
