"""The parts a system is made of, as the model shows them: what DEP-02 looks for, and what
explains a control's absent subject so that an absence is reported once.

A control whose subject is absent raises ``NothingToCheck`` naming a part. When that part is
one the deployment's system requires (``catalogue/systems.yaml``) — or a part that exists only
through such a part, like a database behind the dashboard's "RDS database" — and the part is
missing, DEP-02 has already said so: the control is SKIP pointing there, never PASS.
"""

from __future__ import annotations

from collections.abc import Callable

from stackproof import catalogue
from stackproof.model.deployment import Deployment
from stackproof.model.outcomes import known
from stackproof.model.types import (
    AutoScalingGroup,
    Bucket,
    DbInstance,
    EcsService,
    FileSystem,
    Function,
    LaunchTemplate,
    Listener,
    LoadBalancer,
    Obj,
    RedshiftCluster,
    ScalingPolicy,
    Subnet,
    TaskDefinition,
)


def _listeners(deployment: Deployment, protocols: set[str] | None = None, port: int | None = None) -> list[Obj]:
    found: list[Obj] = []
    for listener in deployment.all(Listener):
        if port is not None and str(known(listener.port, f"port of {listener}")) != str(port):
            continue
        if protocols is not None and str(known(listener.protocol, f"protocol of {listener}")).upper() not in protocols:
            continue
        found.append(listener)
    return found


def _postgres(deployment: Deployment) -> list[Obj]:
    return [d for d in deployment.all(DbInstance) if "postgres" in str(known(d.engine, f"engine of {d}")).lower()]


# How each part of a system shows in the model: the objects that are it (Undecidable or
# NotEmulated when the target cannot tell).
PRESENCE: dict[str, Callable[[Deployment], list[Obj]]] = {
    "subnets": lambda d: list(d.all(Subnet)),
    "load balancer": lambda d: list(d.all(LoadBalancer)),
    "listener on port 80": lambda d: _listeners(d, port=80),
    "HTTPS listener": lambda d: _listeners(d, protocols={"HTTPS", "TLS"}),
    "Auto Scaling group": lambda d: list(d.all(AutoScalingGroup)),
    "launch template or launch configuration": lambda d: list(d.all(LaunchTemplate)),
    "scaling policy": lambda d: list(d.all(ScalingPolicy)),
    "RDS database": lambda d: list(d.all(DbInstance)),
    "EFS file system": lambda d: list(d.all(FileSystem)),
    "content bucket": lambda d: list(d.all(Bucket)),
    "sync function": lambda d: list(d.all(Function)),
    "ECS service": lambda d: list(d.all(EcsService)),
    "ECS task definition": lambda d: list(d.all(TaskDefinition)),
    "data-pipeline Auto Scaling group behind a load balancer": lambda d: list(d.all(AutoScalingGroup)),
    "S3 data lake bucket": lambda d: list(d.all(Bucket)),
    "Redshift analytics database": lambda d: list(d.all(RedshiftCluster)),
    "PostgreSQL app database on RDS": _postgres,
}

# Parts that exist only through a system part: absent because that part is (all of them, where
# several are named).
EXPLAINED_BY: dict[str, tuple[str, ...]] = {
    "database": ("RDS database", "Redshift analytics database", "PostgreSQL app database on RDS"),
    "internet-facing load balancer": ("load balancer",),
    "listener": ("load balancer",),
    "Lambda function": ("sync function",),
    "instance role": ("Auto Scaling group", "launch template or launch configuration"),
    "data store": ("RDS database", "EFS file system", "content bucket"),
    "TLS probe of an internet-facing load balancer": ("load balancer",),
}


def required(deployment: Deployment) -> tuple[str, ...]:
    return catalogue.systems().get(deployment.reference, ())


def explained(part: str, deployment: Deployment) -> bool:
    """Whether ``part``'s absence is already DEP-02's to report for this deployment."""
    system = required(deployment)
    if part in system:
        return True
    explainers = [p for p in EXPLAINED_BY.get(part, ()) if p in system]
    if not explainers:
        return False
    try:
        return all(not PRESENCE[p](deployment) for p in explainers)
    except Exception:  # the target cannot tell whether the explaining part exists: not explained
        return False
