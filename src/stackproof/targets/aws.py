"""The ``aws`` target: an existing stack in a live account, read-only. ``--stack-name a,b,c``
names several stacks that are one deployment; the stacks nested in them are read as well.

Credentials come from the standard boto3 chain (``--profile``, SSO, environment variables;
``AWS_ENDPOINT_URL`` is honoured by boto3 itself). Every API call passes a botocore hook that
refuses anything but reads, so a check can never change the account; scenarios that must
change it are allowed explicitly, by name, through ``allowed``.
"""

from __future__ import annotations

from typing import Any

from stackproof.model.deployment import Deployment
from stackproof.targets import TargetError, TargetOptions
from stackproof.targets.aws_calls import CallRecorder


class AwsTarget:
    name = "aws"

    def __init__(self, options: TargetOptions, allowed: frozenset[str] = frozenset()) -> None:
        self.options = options
        self.allowed = allowed
        self.recorder: CallRecorder | None = None  # every call of the run, for the least-privilege test

    def close(self) -> None:
        """Nothing was created."""

    def deployment(self) -> Deployment:
        import boto3
        import botocore.exceptions

        from stackproof.model import from_aws

        if not self.options.stack_name:
            raise TargetError("target aws needs --stack-name (the existing stack to read)")
        try:
            session = boto3.Session(profile_name=self.options.profile, region_name=self.options.region)
        except botocore.exceptions.ProfileNotFound as exc:
            raise TargetError(f"target aws: {exc}") from None
        recorder = self.recorder = CallRecorder(session, read_only=True, allowed=self.allowed)

        def client(service: str) -> Any:
            return session.client(service)  # type: ignore[call-overload]

        names = [n.strip() for n in self.options.stack_name.split(",") if n.strip()]
        if not names:
            raise TargetError("target aws needs --stack-name (the existing stack to read)")
        try:
            model = from_aws.build(client, names, self.options.region, self.name)
        except from_aws.StackNotFound as exc:
            raise TargetError(str(exc)) from None
        except botocore.exceptions.NoCredentialsError:
            raise TargetError(
                "target aws: no credentials (set AWS_PROFILE, use --profile, or log in with SSO)"
            ) from None
        model.api_calls = dict(recorder.calls)
        from stackproof.domain import policy
        from stackproof.targets import quota_usage

        model.quota_facts = quota_usage.collect(client, policy.load())
        if self.options.probe_tls:
            from stackproof.model.types import LoadBalancer
            from stackproof.targets.tls_probe import probe_all

            hosts = [lb.dns_name for lb in model.all(LoadBalancer) if lb.scheme == "internet-facing" and lb.dns_name]
            model.tls_probes = probe_all(hosts)
        else:
            from stackproof.template.values import Unknown

            model.tls_probes = [Unknown("TLS probing was turned off for this run")]
        return model
