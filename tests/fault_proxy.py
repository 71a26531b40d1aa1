"""A loopback HTTP proxy before moto's server that answers chosen AWS calls badly.

Each request is forwarded to moto's server with ``http.client``; its operation is named from
the request itself, as AWS would route it (the SigV4 credential scope gives the service; then
``X-Amz-Target`` for JSON, the ``Action`` form field for query, or method and path matched
against botocore's ``requestUri`` templates for rest-json and rest-xml). A :class:`Fault` set
for one caller (by access key, so concurrent runs stay apart) then replaces or rewrites the
answer of the matching call: the first one only (``once``) or every one (``persistent``).

Everything stays on loopback: the proxy binds 127.0.0.1 and refuses to forward anywhere else.
"""

from __future__ import annotations

import http.client
import json
import re
import socket
import struct
import threading
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

LOOPBACK = "127.0.0.1"

# Services the aws target reads, by the name their requests are signed with.
SERVICES = (
    "acm",
    "autoscaling",
    "backup",
    "cloudformation",
    "cloudwatch",
    "ec2",
    "ecr",
    "ecs",
    "efs",
    "elb",
    "elbv2",
    "iam",
    "lambda",
    "logs",
    "rds",
    "redshift",
    "s3",
    "secretsmanager",
    "service-quotas",
    "sts",
)

ERRORS = ("throttle", "denied", "500", "503")
KINDS = (
    *ERRORS,
    "reset",  # the socket closed without an answer
    "delay",  # no answer before the client's read timeout
    "emptied",  # the list the operation must carry, emptied
    "first-page",  # that list cut to its first item, its NextToken/Marker removed
    "truncated",  # the body cut in half
    "empty-body",  # 200 with nothing in it
    "garbage",  # 200 with a body neither XML nor JSON
)
LIST_KINDS = frozenset({"emptied", "first-page"})
GARBAGE = b"\x00\x9f<<not xml {not json]] \xff"


@dataclass(frozen=True)
class Fault:
    """``kind`` on ``operation`` (``service.Operation``): on its first call only, or on every call."""

    operation: str
    kind: str
    persistent: bool = False

    def __str__(self) -> str:
        return f"{self.kind} {'always' if self.persistent else 'once'} on {self.operation}"


@dataclass(frozen=True)
class Operation:
    service: str  # botocore's name: elbv2, service-quotas
    name: str  # DescribeVpcs
    protocol: str  # query, ec2, json, rest-json, rest-xml

    @property
    def key(self) -> str:
        return f"{self.service}.{self.name}"


# ----------------------------------------------------------------------------- service models
@cache
def _session() -> Any:
    import botocore.session

    return botocore.session.get_session()


@cache
def model(service: str) -> Any:
    return _session().get_service_model(service)


@cache
def by_signing_name() -> dict[str, tuple[str, ...]]:
    found: dict[str, list[str]] = {}
    for service in SERVICES:
        meta = model(service).metadata
        found.setdefault(meta.get("signingName") or meta["endpointPrefix"], []).append(service)
    return {k: tuple(v) for k, v in found.items()}


@cache
def _uri_patterns(service: str) -> list[tuple[str, re.Pattern[str], frozenset[tuple[str, ...]], int, str]]:
    """(method, path regex, query keys required, literal weight, operation) per operation."""
    patterns = []
    service_model = model(service)
    for name in service_model.operation_names:
        operation = service_model.operation_model(name)
        http = operation.http
        path, _, query = http["requestUri"].partition("?")
        regex = "".join(
            "[^/]+"
            if part.startswith("{") and not part.endswith("+}")
            else ".+"
            if part.startswith("{")
            else re.escape(part)
            for part in re.split(r"(\{[^}]+\})", path)
            if part
        )
        keys = frozenset(tuple(q.split("=", 1)) if "=" in q else (q,) for q in query.split("&") if q)
        weight = 2 * len(re.sub(r"\{[^}]+\}", "", path)) + 200 * len(keys)
        if any(p.name == "UseS3ExpressControlEndpoint" for p in operation.static_context_parameters):
            weight -= 1  # on a tie, not S3 Express's own (ListDirectoryBuckets and ListBuckets are both GET /)
        patterns.append((http["method"], re.compile(f"^{regex}/?$"), keys, weight, name))
    return patterns


def identify(method: str, path: str, headers: Any, body: bytes) -> Operation | None:
    """The operation a signed request calls, or None when it cannot be told."""
    scope = re.search(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/aws4_request", headers.get("Authorization", ""))
    candidates = by_signing_name().get(scope.group(1), ()) if scope else ()
    target = headers.get("X-Amz-Target", "")
    form = (
        parse_qs(body.decode("utf-8", "replace"))
        if body and "x-www-form-urlencoded" in headers.get("Content-Type", "")
        else {}
    )
    for service in candidates:
        service_model = model(service)
        protocol = service_model.resolved_protocol
        if protocol == "json" and target.startswith(service_model.metadata.get("targetPrefix", "\0") + "."):
            return Operation(service, target.split(".", 1)[1], protocol)
        version = form.get("Version", [service_model.api_version])[0]
        if protocol in ("query", "ec2") and form.get("Action") and version == service_model.api_version:
            return Operation(service, form["Action"][0], protocol)
        if protocol in ("rest-json", "rest-xml"):
            split = urlsplit(path)
            query = parse_qs(split.query, keep_blank_values=True)
            keys = {(k,) for k in query} | {(k, v) for k, values in query.items() for v in values}
            matches = [
                (weight, name)
                for verb, regex, required, weight, name in _uri_patterns(service)
                if verb == method and regex.match(unquote(split.path)) and required <= keys
            ]
            if matches:
                return Operation(service, max(matches)[1], protocol)
    return None


# ----------------------------------------------------------------------------- answers
def error_answer(operation: Operation, kind: str) -> tuple[int, dict[str, str], bytes]:
    """A status, headers and body as the service's protocol shapes an error."""
    status, code = {
        "throttle": (400, "Throttling"),
        "denied": (403, "AccessDenied"),
        "500": (500, "InternalFailure"),
        "503": (503, "ServiceUnavailable"),
    }[kind]
    message = f"injected {kind}"
    if operation.protocol in ("json", "rest-json"):
        code = {"Throttling": "ThrottlingException", "AccessDenied": "AccessDeniedException"}.get(code, code)
        headers = {"Content-Type": "application/x-amz-json-1.1", "x-amzn-ErrorType": code}
        return status, headers, json.dumps({"__type": code, "message": message}).encode()
    if operation.protocol == "ec2":
        body = f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors><RequestID>f</RequestID></Response>"
    elif operation.protocol == "rest-xml":
        body = f"<Error><Code>{code}</Code><Message>{message}</Message><RequestId>f</RequestId></Error>"
    else:
        body = (
            f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>"
            "<RequestId>f</RequestId></ErrorResponse>"
        )
    return status, {"Content-Type": "text/xml"}, body.encode()


@dataclass(frozen=True)
class Lists:
    """Where an operation's answer carries its lists and its pagination tokens, by wire name."""

    lists: tuple[tuple[str, bool], ...]  # (wire name, flattened)
    tokens: tuple[str, ...]
    more: tuple[str, ...]  # IsTruncated and its kind


def _wire(shape: Any, member: str) -> str:
    return str(shape.members[member].serialization.get("name", member))


@cache
def lists_of(service: str, operation: str) -> Lists:
    """The lists an operation must carry: its paginator's result keys, else every top-level
    list of its output; with the output tokens a cut answer must lose."""
    output = model(service).operation_model(operation).output_shape
    if output is None:
        return Lists((), (), ())
    try:
        paginator = _session().get_paginator_model(service).get_paginator(operation)
    except ValueError:
        paginator = {}

    def names(value: Any) -> list[str]:
        return [v for v in ([value] if isinstance(value, str) else value or []) if v in output.members]

    keys = names(paginator.get("result_key")) or [
        m for m, s in output.members.items() if s.type_name == "list" and not s.serialization.get("location")
    ]
    members = output.members
    return Lists(
        tuple((_wire(output, k), bool(members[k].serialization.get("flattened"))) for k in keys),
        tuple(_wire(output, k) for k in names(paginator.get("output_token"))),
        tuple(_wire(output, k) for k in names(paginator.get("more_results"))),
    )


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _xml_containers(root: ET.Element) -> list[ET.Element]:
    """The root and, for query answers, the ``...Result`` wrapper under it."""
    return [root, *(c for c in root if _local(c.tag).endswith("Result"))]


def count_items(operation: Operation, body: bytes) -> int | None:
    """How many items the answer's lists hold together (None: no list to find)."""
    shape = lists_of(operation.service, operation.name)
    if not shape.lists or not body:
        return None
    try:
        if operation.protocol in ("json", "rest-json"):
            data = json.loads(body)
            found = [data[w] for w, _ in shape.lists if isinstance(data.get(w), list)]
            return sum(len(f) for f in found) if found else None
        root = ET.fromstring(body)
    except (ValueError, ET.ParseError):
        return None
    total, seen = 0, False
    for container in _xml_containers(root):
        for wire, flat in shape.lists:
            hits = [c for c in container if _local(c.tag) == wire]
            if hits:
                seen = True
                total += len(hits) if flat else len(list(hits[0]))
    return total if seen else None


def cut(operation: Operation, body: bytes, keep: int) -> bytes:
    """The answer with every list it must carry cut to ``keep`` items and its tokens removed."""
    shape = lists_of(operation.service, operation.name)
    if operation.protocol in ("json", "rest-json"):
        data = json.loads(body)
        for wire, _ in shape.lists:
            if isinstance(data.get(wire), list):
                data[wire] = data[wire][:keep]
        for token in shape.tokens:
            data.pop(token, None)
        for more in shape.more:
            if more in data:
                data[more] = False
        return json.dumps(data).encode()
    root = ET.fromstring(body)
    for container in _xml_containers(root):
        for wire, flat in shape.lists:
            hits = [c for c in container if _local(c.tag) == wire]
            doomed = hits[keep:] if flat else [item for h in hits[:1] for item in list(h)[keep:]]
            for item in doomed:
                (container if flat else hits[0]).remove(item)
        for child in list(container):
            if _local(child.tag) in shape.tokens:
                container.remove(child)
            elif _local(child.tag) in shape.more:
                child.text = "false"
    namespace = root.tag[1:].split("}", 1)[0] if root.tag.startswith("{") else None
    return ET.tostring(root, encoding="utf-8", default_namespace=namespace)


# ----------------------------------------------------------------------------- the proxy
@dataclass
class Call:
    operation: str
    items: int | None  # items its lists held, as moto answered


@dataclass
class Lane:
    """One caller's fault (by access key) and what it did."""

    fault: Fault | None = None
    hits: int = 0
    calls: list[Call] = field(default_factory=list)


class FaultProxy:
    """The proxy: ``endpoint`` to point ``AWS_ENDPOINT_URL`` at; :meth:`set` a fault for the
    caller using an access key; ``read_timeout`` is how long ``delay`` must outlast."""

    def __init__(self, upstream: str, read_timeout: float) -> None:
        split = urlsplit(upstream)
        assert split.hostname == LOOPBACK, f"{upstream}: the proxy forwards to loopback only"
        assert split.port, upstream
        self.upstream = (LOOPBACK, split.port)
        self.read_timeout = read_timeout
        self.lanes: dict[str, Lane] = {}
        self.unidentified: list[str] = []
        self.lock = threading.RLock()
        self.stopping = threading.Event()
        self.server = ThreadingHTTPServer((LOOPBACK, 0), _handler(self))
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="fault-proxy", daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://{LOOPBACK}:{self.server.server_address[1]}"

    def start(self) -> FaultProxy:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()

    def set(self, access_key: str, fault: Fault | None) -> Lane:
        with self.lock:
            lane = self.lanes[access_key] = Lane(fault)
        return lane

    def lane(self, access_key: str) -> Lane:
        with self.lock:
            return self.lanes.setdefault(access_key, Lane())

    def chosen(self, access_key: str, operation: Operation | None) -> str | None:
        """The fault kind to apply to this call, counting it (None: answer as moto does)."""
        lane = self.lane(access_key)
        fault = lane.fault
        if fault is None or operation is None or operation.key != fault.operation:
            return None
        with self.lock:
            lane.hits += 1
            if lane.hits > 1 and not fault.persistent:
                return None
        return fault.kind

    def forward(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        assert self.upstream[0] == LOOPBACK
        connection = http.client.HTTPConnection(*self.upstream, timeout=120)
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            connection.close()


HOP_HEADERS = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length", "server", "date"})


def _handler(proxy: FaultProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: a test's output is its assertions."""

        def handle_one_request(self) -> None:
            try:
                super().handle_one_request()
            except (ConnectionError, TimeoutError):
                self.close_connection = True

        def do_any(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            operation = identify(self.command, self.path, self.headers, body)
            key = re.search(r"Credential=([^/]+)/", self.headers.get("Authorization", ""))
            access_key = key.group(1) if key else ""
            if operation is None:
                with proxy.lock:
                    proxy.unidentified.append(
                        f"{self.command} {self.path} {self.headers.get('Authorization', '')[:90]} {body[:60]!r}"
                    )
            kind = proxy.chosen(access_key, operation)
            if kind == "reset":
                self.reset()
                return
            if kind == "delay":
                proxy.stopping.wait(proxy.read_timeout + 1.0)
                self.reset()
                return
            if kind in ERRORS:
                assert operation is not None
                self.answer(*error_answer(operation, kind))
                return
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_HEADERS}
            status, answer_headers, answer = proxy.forward(self.command, self.path, headers, body)
            if status == 500 and dict(answer_headers).get("Content-Type", "").startswith("text/html"):
                status = 501  # moto crashed (an operation it lacks): no retry can change that
            if operation is not None and kind is None:
                with proxy.lock:
                    proxy.lane(access_key).calls.append(Call(operation.key, count_items(operation, answer)))
            if kind is not None and status == 200:
                assert operation is not None
                answer = {
                    "emptied": lambda: cut(operation, answer, 0),
                    "first-page": lambda: cut(operation, answer, 1),
                    "truncated": lambda: answer[: len(answer) // 2],
                    "empty-body": lambda: b"",
                    "garbage": lambda: GARBAGE,
                }[kind]()
            kept = {k: v for k, v in answer_headers if k.lower() not in HOP_HEADERS}
            self.answer(status, kept, answer)

        def answer(self, status: int, headers: dict[str, str], body: bytes) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def reset(self) -> None:
            """Close with a TCP reset, nothing answered."""
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_any

    return Handler
