"""The ``aws`` target: an existing stack in a live account, read-only. ``--stack-name a,b,c``
names several stacks that are one deployment; the stacks nested in them are read as well.

Credentials come from the standard boto3 chain (``--profile`` with keys, ``role_arn`` +
``source_profile`` or SSO, ``AWS_ROLE_ARN`` + ``AWS_WEB_IDENTITY_TOKEN_FILE``, environment keys;
``AWS_ENDPOINT_URL`` is honoured by boto3 itself). Every API call of a client stackproof makes
passes a botocore hook that refuses anything but reads, so a check can never change the account;
scenarios that must change it are allowed explicitly, by name, through ``allowed``. The hook is
on those clients only, so the credential providers' own STS calls are not refused.

The region is ``--region`` if given, else the profile's, else ``AWS_REGION`` /
``AWS_DEFAULT_REGION`` (:func:`resolve_region`); without any the run stops rather than guess.
"""

from __future__ import annotations

import os

from stackproof.model.deployment import Deployment
from stackproof.targets import TargetError, TargetOptions, parse_deadline
from stackproof.targets.aws_calls import DEFAULT_DEADLINE, CallRecorder, ClientCache

NO_CREDENTIALS = (
    "target aws: no credentials (set AWS_PROFILE, use --profile, log in with `aws sso login`,"
    " or set AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE)"
)


def run_deadline(given: float | None = None) -> float:
    """How long the whole read of a deployment may take, in seconds: ``given`` (``--deadline``),
    else ``STACKPROOF_DEADLINE``, else DEFAULT_DEADLINE. The flag beats the variable, so a bad
    variable is not read when the flag is given; otherwise a value that is not a positive number
    stops the run rather than reading without a bound."""
    if given is not None:
        return given
    text = os.environ.get("STACKPROOF_DEADLINE", "").strip()
    if not text:
        return DEFAULT_DEADLINE
    return parse_deadline(text, "STACKPROOF_DEADLINE")


def resolve_region(profile: str | None, given: str | None = None) -> str | None:
    """``given`` (``--region``), else the region of the profile (``profile``, else
    ``AWS_PROFILE``, else ``default``), else ``AWS_REGION``, else ``AWS_DEFAULT_REGION``; None
    when none says. botocore itself lets ``AWS_DEFAULT_REGION`` beat the profile, which is not
    what a user who names a profile expects."""
    if given:
        return given
    import botocore.exceptions
    import botocore.session

    try:
        scoped = botocore.session.Session(profile=profile).get_scoped_config()
    except botocore.exceptions.ProfileNotFound as exc:
        raise TargetError(f"target aws: {exc}") from None
    region = scoped.get("region") or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    return str(region) if region else None


class AwsTarget:
    name = "aws"

    def __init__(
        self, options: TargetOptions, allowed: frozenset[str] = frozenset(), deadline: float | None = None
    ) -> None:
        self.options = options
        self.allowed = allowed
        # Seconds for the whole read (None: options.deadline, else STACKPROOF_DEADLINE, else
        # DEFAULT_DEADLINE); after it every call fails at once and what is unread is ERROR.
        self.deadline = deadline
        self.recorder: CallRecorder | None = None  # every call of the run, for the least-privilege test
        self.clients: ClientCache | None = None
        # What was read, for the banner and the report: the account, region and stacks.
        self.account: str | None = None
        self.region: str | None = None
        self.stacks: list[str] = []

    def close(self) -> None:
        """Nothing was created."""

    def deployment(self) -> Deployment:
        import boto3
        import botocore.exceptions
        import botocore.parsers

        from stackproof.model import from_aws

        if not self.options.stack_name:
            raise TargetError("target aws needs --stack-name (the existing stack to read)")
        names = [n.strip() for n in self.options.stack_name.split(",") if n.strip()]
        if not names:
            raise TargetError("target aws needs --stack-name (the existing stack to read)")
        region = resolve_region(self.options.profile, self.options.region)
        if not region:
            raise TargetError("target aws: no region (give --region, set region in the profile, or set AWS_REGION)")
        try:
            session = boto3.Session(profile_name=self.options.profile, region_name=region)
        except botocore.exceptions.ProfileNotFound as exc:
            raise TargetError(f"target aws: {exc}") from None
        deadline = run_deadline(self.options.deadline if self.deadline is None else self.deadline)
        recorder = self.recorder = CallRecorder(read_only=True, allowed=self.allowed, deadline=deadline)
        client = self.clients = ClientCache(session, recorder)
        self.region, self.stacks = region, names
        try:
            try:
                self.account = str(client("sts").get_caller_identity()["Account"])
            except botocore.exceptions.ClientError as exc:  # GetCallerIdentity refused: bad credentials
                raise TargetError(f"target aws: the credentials were refused: {exc}") from None
            model = from_aws.build(client, names, region, self.name)
        except from_aws.StackNotFound as exc:
            raise TargetError(str(exc)) from None
        except from_aws.IncompleteAnswer as exc:  # the stack's own listing without its list
            raise TargetError(f"target aws: {exc}") from None
        except (botocore.exceptions.NoCredentialsError, botocore.exceptions.PartialCredentialsError):
            raise TargetError(NO_CREDENTIALS) from None
        except botocore.exceptions.BotoCoreError as exc:  # the credential chain, the deadline, a malformed answer
            raise TargetError(f"target aws: {exc}") from None
        except botocore.parsers.ResponseParserError as exc:  # an answer botocore could not read
            raise TargetError(f"target aws: an answer could not be read: {str(exc).splitlines()[0]}") from None
        except botocore.exceptions.ClientError as exc:  # the stack's listing or template refused
            raise TargetError(f"target aws: the stacks could not be read: {exc}") from None
        from stackproof.domain import policy
        from stackproof.targets import quota_usage

        model.quota_facts = quota_usage.collect(client, policy.load(), model)
        from stackproof.template.values import Unknown

        if self.options.probe_tls:
            from stackproof.model.outcomes import NotEmulated, Undecidable
            from stackproof.model.types import LoadBalancer
            from stackproof.targets.tls_probe import probe_all

            try:
                balancers = model.all(LoadBalancer)
            except (NotEmulated, Undecidable) as exc:  # not read: which hosts to probe is unknown
                model.tls_probes = [Unknown(f"the load balancers to probe could not be read: {exc}")]
            else:
                hosts = [lb.dns_name for lb in balancers if lb.scheme == "internet-facing" and lb.dns_name]
                model.tls_probes = probe_all(hosts, recorder.remaining)
        else:
            model.tls_probes = [Unknown("TLS probing was turned off for this run")]
        # Every call, the quota reads and the identity included: the printed count is this one.
        model.api_calls = dict(recorder.calls)
        return model
