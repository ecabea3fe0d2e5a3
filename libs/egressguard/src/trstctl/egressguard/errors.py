"""Errors of the egress guard: one root, fields on the exception."""

from __future__ import annotations

import errno


class EgressGuardError(Exception):
    """Root of the guard's own errors (misuse, a failed tripwire)."""


class EgressDenied(OSError):
    """A connection or datagram the air-gap policy forbids; nothing was sent.

    An ``OSError`` with ``ECONNREFUSED`` so that every client library fails the way it
    does on a refused connection, while the message says why.
    """

    def __init__(self, *, host: str, ip: str, port: int | None, reason: str, service: str) -> None:
        self.host = host
        self.ip = ip
        self.port = port
        self.reason = reason
        self.service = service
        where = f"{ip}:{port}" if port is not None else ip
        named = f"{host} ({where})" if host != ip else where
        super().__init__(
            errno.ECONNREFUSED,
            f"egress to {named} denied by the trstctl air-gap guard "
            f"(reason: {reason}, service: {service}); allow it with "
            "TRSTCTL_AIRGAP_ALLOW_CIDRS or, for a private host, TRSTCTL_AIRGAP_ALLOW_HOSTS",
        )

    def __reduce__(self) -> tuple[object, ...]:
        # OSError pickles by its args; keyword-only construction needs its own recipe.
        return (_rebuild, (self.host, self.ip, self.port, self.reason, self.service))


def _rebuild(host: str, ip: str, port: int | None, reason: str, service: str) -> EgressDenied:
    return EgressDenied(host=host, ip=ip, port=port, reason=reason, service=service)


class TripwireFailed(EgressGuardError):
    """The start-up self-test found the guard not armed; the process must not start."""


class ForeignEventLoop(EgressGuardError):
    """An event loop that bypasses Python sockets (uvloop) makes the guard blind."""
