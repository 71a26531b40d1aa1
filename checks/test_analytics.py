"""ANL: the analytics platform of seed 000 (the analytics reference only)."""

from __future__ import annotations

import re

import pytest

from stackproof.checking import findings, known, optional, subjects
from stackproof.model.deployment import ISOLATED, Deployment
from stackproof.model.types import (
    AutoScalingGroup,
    Bucket,
    DbInstance,
    DbSubnetGroup,
    EcrRepository,
    EcsService,
    Listener,
    LoadBalancer,
    RedshiftCluster,
    Subnet,
    TaskDefinition,
)

SERVICES = ("frontend", "backend", "remote-config")
PUBLIC_ACCESS_BLOCK = (
    "BlockPublicAcls",
    "BlockPublicPolicy",
    "IgnorePublicAcls",
    "RestrictPublicBuckets",
)  # seed 000 "Elastic Container Service (ECS)"
TERMINATING = {"HTTPS", "TLS"}
ECR_SYMBOL = re.compile(r"\$\{([A-Za-z0-9]+)\.RepositoryUri\}")
PRIVATE_ECR = re.compile(r"^\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/")


def routes(deployment: Deployment) -> dict[str, list[tuple[Listener, list[str]]]]:
    """Target group -> the listeners (with the rule's path patterns) that forward to it."""
    found: dict[str, list[tuple[Listener, list[str]]]] = {}
    for listener in optional(deployment.all(Listener), "a lookup: the checks that use it require their subjects"):
        for action in listener.actions:
            if known(action.kind, f"action of {listener}") != "forward":
                continue
            for group in action.target_groups:
                found.setdefault(str(group), []).append((listener, [str(p) for p in action.paths]))
    return found


def terminates_tls(deployment: Deployment, listener: Listener) -> bool:
    balancer = deployment.get(LoadBalancer, str(listener.load_balancer))
    return (
        str(known(listener.protocol, f"protocol of {listener}")).upper() in TERMINATING
        and bool(known(listener.certificates, f"certificate of {listener}"))
        and balancer is not None
        and known(balancer.scheme, f"scheme of {balancer}") == "internet-facing"
    )


def service_named(deployment: Deployment, name: str) -> EcsService | None:
    for service in optional(deployment.all(EcsService), "a lookup: ANL-01 requires the services"):
        if any(str(b.container) == name for b in service.load_balancers):
            return service
    return None


@pytest.mark.control("ANL-01")
@pytest.mark.static
def test_console_reaches_ecs_services_only_through_tls(deployment: Deployment) -> None:
    forwarded = routes(deployment)
    with findings() as f:
        subjects(deployment.all(EcsService), "ECS service")
        for name in SERVICES:
            service = service_named(deployment, name)
            if service is None:
                f.fail(
                    f"no ECS service {name} behind a load balancer (seed 000 lists frontend, backend, remote-config)"
                )
                continue
            with f.each(service):
                if known(service.assign_public_ip, f"public IP of {service}") != "DISABLED":
                    f.fail("service tasks get public IPs: they could be reached around the load balancer", service)
                for binding in service.load_balancers:
                    listeners = forwarded.get(str(binding.target_group), [])
                    if not listeners:
                        f.fail(f"{name}'s target group is not reached by any listener", service)
                    for listener, _ in listeners:
                        if not terminates_tls(deployment, listener):
                            f.fail(
                                f"{name} is reached through a listener that does not terminate TLS with a certificate",
                                listener,
                                observed=listener.protocol,
                                expected="HTTPS or TLS with an ACM certificate",
                            )


@pytest.mark.control("ANL-02")
@pytest.mark.static
def test_device_events_and_config_requests_arrive_over_tls(deployment: Deployment) -> None:
    forwarded = routes(deployment)
    with findings() as f:
        pipelines = [g for g in deployment.all(AutoScalingGroup) if g.target_groups]
        for group in subjects(pipelines, "data-pipeline Auto Scaling group behind a load balancer"):
            for target in group.target_groups:
                listeners = forwarded.get(str(target), [])
                if not any(terminates_tls(deployment, x) for x, _ in listeners):
                    f.fail("device events do not reach the data pipeline over a TLS listener", group)
                for listener, _ in listeners:
                    if not terminates_tls(deployment, listener):
                        f.fail("the data pipeline is also reached without TLS", listener, observed=listener.protocol)
        remote = service_named(deployment, "remote-config")
        if remote is None:
            f.fail("no remote-config service for device configuration requests")
        else:
            paths = [p for b in remote.load_balancers for x, ps in forwarded.get(str(b.target_group), []) for p in ps]
            if not any("config" in p for p in paths):
                f.fail(
                    "no listener rule routes configuration requests to remote-config", remote, observed=paths or "none"
                )


def isolated(deployment: Deployment, group_key: str) -> list[str]:
    """The subnets of the group that are not isolated (the model's route-derived tiers)."""
    group = deployment.get(DbSubnetGroup, group_key)
    if group is None:
        return ["(no subnet group)"]
    outside = []
    for key in group.subnets:
        subnet = deployment.get(Subnet, str(key))
        if subnet is None or known(deployment.tier_of(subnet), f"tier of {key}") != ISOLATED:
            outside.append(str(key))
    return outside


@pytest.mark.control("ANL-03")
@pytest.mark.static
def test_data_lake_redshift_and_postgres_in_isolated_subnets(deployment: Deployment) -> None:
    with findings() as f:
        lakes = [b for b in deployment.all(Bucket) if "lake" in b.key.lower() or "lake" in str(b.name).lower()]
        for lake in subjects(lakes, "S3 data lake bucket"):
            with f.each(lake):
                if not known(lake.encryption, f"encryption of {lake}"):
                    f.fail("the data lake is not encrypted", lake)
                block = known(lake.public_access_block, f"public access block of {lake}")
                if not all(block.get(k) is True for k in PUBLIC_ACCESS_BLOCK):
                    f.fail("the data lake does not block public access", lake, observed=block)
        databases: list[tuple[str, RedshiftCluster | DbInstance, object, object]] = [
            ("analytics", c, c.publicly_accessible, c.encrypted)
            for c in subjects(deployment.all(RedshiftCluster), "Redshift analytics database")
        ]
        apps = [d for d in deployment.all(DbInstance) if str(d.engine).startswith("postgres")]
        databases += [
            ("app", d, d.publicly_accessible, d.storage_encrypted)
            for d in subjects(apps, "PostgreSQL app database on RDS")
        ]
        for role, database, public, encrypted in databases:
            with f.each(database):
                if known(public, f"public access of {database}"):
                    f.fail(f"the {role} database is publicly accessible", database)
                if not known(encrypted, f"encryption of {database}"):
                    f.fail(f"the {role} database is not encrypted", database)
                outside = isolated(deployment, str(database.subnet_group))
                if outside:
                    f.fail(f"the {role} database is not only in isolated subnets", database, observed=outside)


@pytest.mark.control("ANL-04")
@pytest.mark.static
def test_images_come_from_private_ecr(deployment: Deployment) -> None:
    repositories = {r.key: r for r in deployment.all(EcrRepository)}
    with findings() as f:
        for task in subjects(deployment.all(TaskDefinition), "ECS task definition"):
            for container in task.containers:
                image = str(known(container.image, f"image of {container.container} in {task}"))
                symbol = ECR_SYMBOL.search(image)
                repository = repositories.get(symbol.group(1)) if symbol else None
                repository = repository or next(
                    (r for r in repositories.values() if isinstance(r.uri, str) and image.startswith(f"{r.uri}:")), None
                )
                if repository is not None:
                    if not known(repository.scan_on_push, f"scan on push of {repository}"):
                        f.fail("the image's repository does not scan on push", repository)
                    if known(repository.tag_mutability, f"tag mutability of {repository}") != "IMMUTABLE":
                        f.fail("the image's repository lets tags be overwritten", repository)
                elif not PRIVATE_ECR.match(image):
                    f.fail(
                        f"container {container.container} pulls an image from outside a private ECR registry",
                        task,
                        observed=image,
                        expected="<account>.dkr.ecr.<region>.amazonaws.com/... or this stack's repository",
                    )
