"""Count, police and configure the AWS API calls a target makes (botocore event hooks).

One ``botocore.config.Config`` for every client a deployed target makes (:func:`client_config`),
one client per service and region (:class:`ClientCache`), and one hook per client that counts
each call, refuses anything but reads and enforces the run's deadline (:class:`CallRecorder`).

The hook is registered on each client stackproof makes, never on the session's event bus: the
credential providers (AssumeRole for a profile's ``role_arn``, AssumeRoleWithWebIdentity,
SSO) make their own STS calls through clients of the same session, and those must not be
refused as "changes the account" nor counted as the run's calls.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from typing import Any
from xml.etree import ElementTree

from botocore.config import Config
from botocore.exceptions import BotoCoreError

# Operations that only read. Anything else changes the account.
READ_ONLY = re.compile(
    r"^(Describe|Get|List|Lookup|Search|Select|Head|BatchGet|Check|Validate|Estimate|Preview|Filter|Scan|Query)"
)

# Retries after the first attempt (botocore's ``max_attempts``; it keeps 1 + this as
# ``total_max_attempts``): at most 5 attempts per call. Adaptive mode adds client-side rate
# limiting to the standard backoff, which only works because a client is reused for the run.
MAX_RETRIES = 4
ATTEMPTS = MAX_RETRIES + 1
# Seconds to open a connection, and to wait for a byte of an answer. A stalled describe costs at
# most ATTEMPTS x (CONNECT_TIMEOUT + READ_TIMEOUT) = 125 s plus backoff, not botocore's default
# 3 x (60 + 60) s, and the deadline bounds the whole run on top of that.
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 20.0
# Seconds the whole read of a deployment may take; after it every call fails at once.
DEFAULT_DEADLINE = 900.0


def client_config() -> Config:
    """The one configuration of every client a deployed target makes."""
    return Config(
        retries={"mode": "adaptive", "max_attempts": MAX_RETRIES},
        connect_timeout=CONNECT_TIMEOUT,
        read_timeout=READ_TIMEOUT,
    )


class WriteRefused(Exception):
    """A non-read API call was attempted where changes are not allowed."""


class DeadlinePassed(BotoCoreError):
    """The run's deadline passed: the call is not made. A botocore error, so the model reader
    treats it as any failed API call and marks what it was reading as a gap (ERROR)."""

    fmt = "{operation}: the run's deadline of {deadline:g} s has passed; what is unread is unknown"


class MalformedAnswer(BotoCoreError):
    """A successful status with a body that is not what the protocol sends: empty where the
    operation answers with a body, or not XML or JSON. botocore would read an empty or
    unparseable JSON body as an answer without its fields, which a reader could take for "none"."""

    fmt = "{operation}: {problem}; what it would have said is unknown"


def check_answer(operation_model: Any, response_dict: dict[str, Any], **kwargs: Any) -> None:
    """Refuse a 2xx answer whose body the operation's protocol cannot have sent (a
    ``before-parse`` hook: the parser never sees it)."""
    if not 200 <= response_dict.get("status_code", 0) < 300 or operation_model.has_streaming_output:
        return
    output = operation_model.output_shape
    members = output.members.values() if output is not None else []
    if not [m for m in members if "location" not in m.serialization]:
        return
    body = response_dict.get("body") or b""
    name = f"{operation_model.service_model.service_name}.{operation_model.name}"
    protocol = operation_model.service_model.resolved_protocol
    if not body.strip():
        payload = output.serialization.get("payload") if output is not None else None
        if payload is None or output.members[payload].type_name == "structure":
            raise MalformedAnswer(operation=name, problem=f"answered {response_dict['status_code']} with an empty body")
        return
    if protocol in ("json", "rest-json"):
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict):
            raise MalformedAnswer(operation=name, problem="answered with a body that is not a JSON object")
    elif protocol in ("query", "ec2", "rest-xml"):
        payload = output.serialization.get("payload") if output is not None else None
        if payload is not None and output.members[payload].type_name != "structure":
            return  # a document or blob as the body (GetBucketPolicy): not XML
        try:
            ElementTree.fromstring(body)
        except ElementTree.ParseError as exc:
            raise MalformedAnswer(operation=name, problem=f"answered with a body that is not XML ({exc})") from None


class CallRecorder:
    """Counts every API call of the clients it watches as ``service.Operation``; refuses
    non-reads when ``read_only`` (unless ``allowed`` names them) and every call after
    ``deadline`` seconds from its creation.

    With a ``session`` it registers on that session's event bus (the emulator targets, whose
    credentials never call STS); otherwise only clients passed to :meth:`watch` are hooked.
    """

    def __init__(
        self,
        session: Any = None,
        *,
        read_only: bool = False,
        allowed: frozenset[str] = frozenset(),
        deadline: float | None = None,
    ) -> None:
        self.calls: Counter[str] = Counter()
        self.read_only = read_only
        self.allowed = allowed
        self.deadline = deadline
        self._ends = None if deadline is None else time.monotonic() + deadline
        self._lock = threading.Lock()
        if session is not None:
            session.events.register("before-call", self._before_call)

    def remaining(self) -> float | None:
        """Seconds left before the deadline (negative once it passed); None without one."""
        return None if self._ends is None else self._ends - time.monotonic()

    def watch(self, client: Any) -> Any:
        """Hook ``client``'s own event bus; the client, for chaining."""
        client.meta.events.register("before-call", self._before_call)
        client.meta.events.register("before-send", self._before_send)
        client.meta.events.register("before-parse", check_answer)
        return client

    def _before_send(self, event_name: str, request: Any = None, **kwargs: Any) -> None:
        """Every retry, not only every call, stops at the deadline: a call started just before
        it would otherwise retry for ATTEMPTS x (CONNECT_TIMEOUT + READ_TIMEOUT) past it. (The
        first attempt was checked as the call began.)"""
        retries = (getattr(request, "context", None) or {}).get("retries") or {}
        if self._ends is not None and retries.get("attempt", 1) > 1 and time.monotonic() > self._ends:
            parts = event_name.split(".")
            raise DeadlinePassed(operation=".".join(parts[1:]) or "?", deadline=self.deadline)

    def _before_call(self, event_name: str, model: Any, **kwargs: Any) -> None:
        service = event_name.split(".")[1] if "." in event_name else "?"
        operation = getattr(model, "name", "?")
        name = f"{service}.{operation}"
        if self.read_only and not READ_ONLY.match(operation) and name not in self.allowed:
            raise WriteRefused(f"{name} changes the account; this run is read-only (no scenario allowed it)")
        if self._ends is not None and time.monotonic() > self._ends:
            raise DeadlinePassed(operation=name, deadline=self.deadline)
        with self._lock:
            self.calls[name] += 1

    @property
    def total(self) -> int:
        return sum(self.calls.values())

    def reset(self) -> None:
        self.calls.clear()


class ClientCache:
    """The client factory of a deployed target: one client per service and region, made with
    :func:`client_config` and watched by ``recorder``. Called as ``client(service)`` (the
    session's region) or ``client(service, region)``."""

    def __init__(self, session: Any, recorder: CallRecorder, *, endpoint_url: str | None = None) -> None:
        self.session = session
        self.recorder = recorder
        self.endpoint_url = endpoint_url
        self.config = client_config()
        self.clients: dict[tuple[str, str | None], Any] = {}
        self._lock = threading.Lock()

    def __call__(self, service: str, region: str | None = None) -> Any:
        region = region or self.session.region_name
        with self._lock:
            found = self.clients.get((service, region))
            if found is None:
                extra = {"endpoint_url": self.endpoint_url} if self.endpoint_url else {}
                made = self.session.client(service, region_name=region, config=self.config, **extra)
                found = self.clients[(service, region)] = self.recorder.watch(made)
            return found
