"""Live TLS handshakes against a load balancer, each capped at one protocol version."""

from __future__ import annotations

import socket
import ssl
import warnings
from collections.abc import Callable

from stackproof.model.types import TlsProbe
from stackproof.template.values import Unknown

DEFAULT_TIMEOUT = 10.0  # seconds per handshake

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # naming the old versions warns
    VERSIONS = {
        "TLSv1": ssl.TLSVersion.TLSv1,
        "TLSv1.1": ssl.TLSVersion.TLSv1_1,
        "TLSv1.2": ssl.TLSVersion.TLSv1_2,
    }


def probe(host: str, version: str, port: int = 443, timeout: float = DEFAULT_TIMEOUT) -> TlsProbe:
    """Whether ``host`` completes a handshake offering only ``version``. Trust is not checked:
    the question is which protocols the listener accepts, not who signed its certificate."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with warnings.catch_warnings():
            # Offering deprecated protocols is the point: the listener must refuse them.
            warnings.simplefilter("ignore", DeprecationWarning)
            context.minimum_version = context.maximum_version = VERSIONS[version]
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
    except (ValueError, ssl.SSLError) as exc:
        return TlsProbe(host, version, Unknown(f"this machine's OpenSSL cannot offer {version}: {exc}"))
    try:
        with (
            socket.create_connection((host, port), timeout=timeout) as raw,
            context.wrap_socket(raw, server_hostname=host),
        ):
            return TlsProbe(host, version, True)
    except ssl.SSLError:
        return TlsProbe(host, version, False)
    except OSError as exc:
        return TlsProbe(host, version, Unknown(f"could not reach {host}:{port}: {exc}"))


def probe_all(hosts: list[str], remaining: Callable[[], float | None] | None = None) -> list[TlsProbe]:
    """Every host with every version. ``remaining`` gives the seconds left of the run's
    deadline (None: no deadline): each handshake waits at most that long, and once none is
    left the rest are Unknown, so probing cannot carry a run past its deadline."""
    found = []
    for host in hosts:
        for version in VERSIONS:
            left = remaining() if remaining is not None else None
            if left is not None and left <= 0:
                found.append(TlsProbe(host, version, Unknown("the run's deadline passed before this handshake")))
                continue
            found.append(probe(host, version, timeout=DEFAULT_TIMEOUT if left is None else min(DEFAULT_TIMEOUT, left)))
    return found
