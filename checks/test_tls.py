"""TLS: transport security (seeds 000, 001, 002)."""

from __future__ import annotations

import datetime
import re
from typing import Any

import pytest

from stackproof.checking import NotEmulated, Undecidable, findings, known, optional, subjects
from stackproof.domain import policy
from stackproof.domain.user_data import efs_mounts, mentions_efs
from stackproof.model.deployment import Deployment
from stackproof.model.documents import denies_insecure_transport
from stackproof.model.types import (
    Bucket,
    Certificate,
    DbInstance,
    DbParameterGroup,
    FileSystem,
    LaunchTemplate,
    Listener,
    LoadBalancer,
    PolicyDocument,
)
from stackproof.template.values import Unknown, refers_to

ACM_ARN = re.compile(r"^arn:aws[a-z-]*:acm:[a-z0-9-]+:(\d{12}|\$\{AWS::AccountId\}):certificate/.+$")


def listeners(deployment: Deployment, port: int) -> list[Listener]:
    return [x for x in deployment.all(Listener) if known(x.port, f"port of {x}") == port]


def is_acm_certificate(deployment: Deployment, value: Any) -> bool:
    if refers_to(value) is not None:
        return deployment.get(Certificate, refers_to(value)) is not None
    return bool(ACM_ARN.match(str(value)))


@pytest.mark.control("TLS-01")
@pytest.mark.static
def test_load_balancer_terminates_tls_with_acm(deployment: Deployment) -> None:
    with findings() as f:
        for balancer in subjects(deployment.all(LoadBalancer), "load balancer"):
            # An Application Load Balancer terminates TLS with HTTPS, a Network Load Balancer with TLS.
            terminating = "TLS" if known(balancer.lb_type, f"type of {balancer}") == "network" else "HTTPS"
            https = [x for x in listeners(deployment, 443) if x.load_balancer == balancer.key]
            if not any(str(known(x.protocol, f"protocol of {x}")).upper() == terminating for x in https):
                f.fail(
                    f"no {terminating} listener on 443", balancer, observed=[str(x.protocol) for x in https] or "none"
                )
            for listener in https:
                certificates = known(listener.certificates, f"certificate of {listener}")
                if not certificates:
                    f.fail(f"{terminating} listener has no certificate", listener)
                for certificate in certificates:
                    if not is_acm_certificate(deployment, certificate):
                        f.fail("listener certificate is not from ACM", listener, observed=certificate)


@pytest.mark.control("TLS-02")
@pytest.mark.static
def test_port_80_only_redirects_to_https(deployment: Deployment) -> None:
    with findings() as f:
        for listener in subjects(listeners(deployment, 80), "listener on port 80"):
            for action in listener.actions:
                kind = known(action.kind, f"action of {listener}")
                redirect_ok = (
                    kind == "redirect"
                    and str(known(action.redirect_protocol, f"redirect of {listener}")).upper() == "HTTPS"
                    and str(action.redirect_port) == "443"
                    and str(known(action.status_code, f"redirect of {listener}")) == "HTTP_301"
                )
                if not redirect_ok:
                    f.fail(
                        "port 80 does something other than a 301 redirect to HTTPS on 443",
                        listener,
                        observed=f"{kind} {action.redirect_protocol or ''} {action.status_code or ''}".strip(),
                        expected="redirect HTTPS:443 HTTP_301",
                    )
        others = optional(deployment.all(Listener), "port 80's listeners are the subject; others only must not be HTTP")
        for listener in others:
            protocol = str(known(listener.protocol, f"protocol of {listener}")).upper()
            if protocol == "HTTP" and known(listener.port, f"port of {listener}") != 80:
                f.fail(f"plain HTTP listener on port {listener.port}", listener)


@pytest.mark.control("TLS-03")
@pytest.mark.static
def test_https_listener_policy_is_tls12_or_newer(deployment: Deployment) -> None:
    allowed = set(policy.load()["tls"]["allowed_policies"])
    with findings() as f:
        secure = [x for x in deployment.all(Listener) if str(x.protocol).upper() in ("HTTPS", "TLS")]
        for listener in subjects(secure, "HTTPS listener"):
            ssl_policy = known(listener.ssl_policy, f"SslPolicy of {listener}")
            if ssl_policy not in allowed:
                f.fail(
                    "listener security policy is not on the TLS 1.2+ allow-list",
                    listener,
                    observed=ssl_policy or "ELB default (ELBSecurityPolicy-2016-08, allows TLS 1.0)",
                    expected="a policy from reference/policy.yaml tls.allowed_policies",
                )


@pytest.mark.control("TLS-04")
@pytest.mark.static
def test_data_in_transit_is_encrypted(deployment: Deployment) -> None:
    """The database, EFS and S3: at least one of them must be there to judge. EFS mounts are
    read from the user data of every launch template and launch configuration, whether or not
    the file system is in this deployment (a sibling stack's is mounted the same way)."""
    with findings() as f:
        databases = deployment.all(DbInstance)
        systems, buckets = deployment.all(FileSystem), deployment.all(Bucket)
        templates = deployment.all(LaunchTemplate)
        mounting = [t for t in templates if mentions_efs(str(known(t.user_data, f"user data of {t}") or ""))]
        subjects([*databases, *systems, *buckets, *mounting], "data store")
        why = "TLS-04 judges whichever of the database, EFS and S3 is present; one is required above"
        for db in optional(databases, why):
            if str(known(db.engine, f"engine of {db}")).lower() not in ("mariadb", "mysql"):
                continue
            group = deployment.get(DbParameterGroup, db.parameter_group)
            parameters = known(group.parameters, f"parameters of {group}") if group else {}
            value = known(parameters.get("require_secure_transport"), f"{group}") if group else None
            if str(value).upper() not in ("1", "ON", "TRUE"):
                f.fail("MariaDB does not require secure transport", db, *([group] if group else []), observed=value)
        for fs in optional(systems, why):
            if fs.policy is None or not denies_insecure_transport(fs.policy, f"file-system policy of {fs}"):
                f.fail("file-system policy does not deny non-TLS access", fs)
        for template in optional(mounting, why):
            with f.each(template):
                user_data = str(known(template.user_data, f"user data of {template}"))
                mounts = efs_mounts(user_data)
                if not mounts:
                    raise Undecidable(f"the user data of {template} names EFS, but no mount of it could be read")
                for mount in mounts:
                    if not mount.tls:
                        f.fail(
                            f"instances mount EFS without TLS ({template.kind} user data {mount})",
                            template,
                            observed=mount.text.strip(),
                            expected="mount -t efs -o tls (amazon-efs-utils), or an fstab entry of type efs with tls",
                        )
        documents: dict[str, list[PolicyDocument]] = {}
        for document in optional(deployment.policies, "policies are looked up for the buckets judged below"):
            for attached in document.attached_to:
                documents.setdefault(str(attached), []).append(document)
        for bucket in optional(buckets, why):
            policies = documents.get(bucket.key, [])
            if not any(denies_insecure_transport(p.document, f"{p.name}") for p in policies):
                f.fail("bucket policy does not deny aws:SecureTransport = false", bucket)


EXPIRY_MARGIN_DAYS = 30


def covers(names: list[str], domain: str) -> bool:
    for name in names:
        if name == domain or (
            name.startswith("*.") and domain.count(".") == name.count(".") and domain.endswith(name[1:])
        ):
            return True
    return False


@pytest.mark.control("TLS-05")
@pytest.mark.deployed
def test_certificate_is_issued_covers_the_domain_and_is_not_expiring(deployment: Deployment) -> None:
    domain = known(deployment.parameter_values.get("DomainName"), "the dashboard's domain (DomainName)")
    if not domain:
        known(Unknown("the stack names no DomainName, so coverage cannot be decided"), "the dashboard's domain")
    now = datetime.datetime.now(datetime.UTC)
    with findings() as f:
        secure = [x for x in deployment.all(Listener) if str(x.protocol).upper() in ("HTTPS", "TLS")]
        for listener in subjects(secure, "HTTPS listener"):
            for arn in known(listener.certificates, f"certificates of {listener}"):
                certificate = deployment.get(Certificate, arn)
                if certificate is None:
                    known(Unknown(f"certificate {arn} could not be described"), "certificate")
                    continue
                status = known(certificate.status, f"status of {certificate}")
                if status != "ISSUED":
                    f.fail("certificate is not issued", certificate, observed=status, expected="ISSUED")
                names = [str(n) for n in [certificate.domain, *certificate.alternative_names] if n]
                if not covers(names, str(domain)):
                    f.fail(
                        "certificate does not cover the dashboard's domain",
                        certificate,
                        observed=names,
                        expected=domain,
                    )
                expiry = known(certificate.not_after, f"expiry of {certificate}")
                left = (expiry - now).days
                if left < EXPIRY_MARGIN_DAYS:
                    f.fail(f"certificate expires in {left} days", certificate, expected=f">= {EXPIRY_MARGIN_DAYS} days")


@pytest.mark.control("TLS-05")
@pytest.mark.live
def test_load_balancer_refuses_protocols_below_tls12(deployment: Deployment) -> None:
    if deployment.target != "aws":
        raise NotEmulated(f"a TLS handshake needs a reachable load balancer; target {deployment.target} has none")
    with findings() as f:
        for probe in subjects(deployment.tls_probes, "TLS probe of an internet-facing load balancer"):
            known(probe, "the live handshake")
            accepted = known(probe.accepted, f"{probe.version} handshake with {probe.host}")
            if probe.version in ("TLSv1", "TLSv1.1") and accepted:
                f.fail(f"{probe.host} accepts {probe.version}", observed="accepted", expected="refused")
            if probe.version == "TLSv1.2" and not accepted:
                f.fail(f"{probe.host} refuses TLS 1.2", observed="refused", expected="accepted")
