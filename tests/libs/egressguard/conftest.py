"""Fixtures for the egress guard tests, with a network safety net.

NETWORK RULE: no test may send a packet to, or connect to, a non-loopback address.
Two independent nets enforce it while a test in this folder runs:

- an audit hook (added once, active only during these tests) that raises before any
  C-level connect/sendto/sendmsg to a non-loopback address on an open socket, and
  before any real DNS lookup of a name other than ``localhost``;
- the low-level calls injected into the guard refuse non-loopback destinations too.
"""

from __future__ import annotations

import _socket
import ipaddress
import socket
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import pytest
from trstctl.egressguard import Policy, hook


class NetworkRuleViolation(BaseException):
    """Not an OSError on purpose: no client library may swallow it as a failed connect."""


_net_rule_active = False


def _is_loopback(host: object) -> bool:
    if not isinstance(host, str):
        return False
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def _safety_net(event: str, args: tuple[Any, ...]) -> None:
    if not _net_rule_active:
        return
    if event in ("socket.connect", "socket.sendto", "socket.sendmsg"):
        sock, address = args[0], args[1]
        if not isinstance(sock, _socket.socket) or sock.family not in (
            socket.AF_INET,
            socket.AF_INET6,
        ):
            return
        if sock.fileno() == -1:
            return  # a closed socket cannot send anything (the tripwire's probes)
        if address is None or _is_loopback(address[0]):
            return
        raise NetworkRuleViolation(f"{event} to {address!r} would leave this machine")
    if event == "socket.getaddrinfo":
        host = args[0]
        if isinstance(host, bytes):
            host = host.decode()
        if host in (None, "", "localhost") or _is_loopback(host):
            return
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise NetworkRuleViolation(f"real DNS lookup of {host!r} in a test") from None


sys.addaudithook(_safety_net)


@pytest.fixture(autouse=True)
def network_rule() -> Iterator[None]:
    """Arm the safety net for every test in this folder."""
    global _net_rule_active
    _net_rule_active = True
    try:
        yield
    finally:
        _net_rule_active = False


@dataclass
class Syscalls:
    """Injected low-level calls: record every reach, refuse anything not loopback."""

    reached: list[tuple[str, Any]] = field(default_factory=list)

    def _gate(self, operation: str, address: Any) -> None:
        self.reached.append((operation, address))
        if isinstance(address, tuple) and not _is_loopback(address[0]):
            raise NetworkRuleViolation(f"{operation} to {address!r} reached the syscall layer")

    def connect(self, sock: socket.socket, address: Any) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            self._gate("connect", address)
        _socket.socket.connect(sock, address)

    def connect_ex(self, sock: socket.socket, address: Any) -> int:
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            self._gate("connect_ex", address)
        return _socket.socket.connect_ex(sock, address)

    def sendto(self, sock: socket.socket, data: Any, *rest: Any) -> int:
        self._gate("sendto", rest[-1])
        return _socket.socket.sendto(sock, data, *rest)  # type: ignore[no-any-return]

    def sendmsg(self, sock: socket.socket, buffers: Any, *rest: Any) -> int:
        if len(rest) >= 3:
            self._gate("sendmsg", rest[2])
        return _socket.socket.sendmsg(sock, buffers, *rest)  # type: ignore[no-any-return]

    def hosts_reached(self) -> set[str]:
        """Every host (IP literal) that got to the low-level layer."""
        return {str(a[0]) for _, a in self.reached if isinstance(a, tuple)}


class InstallGuard(Protocol):
    def __call__(
        self, policy: Policy, *, service: str = ..., getaddrinfo: Any = ...
    ) -> Syscalls: ...


@pytest.fixture
def install_guard() -> Iterator[InstallGuard]:
    """Install the guard with recording low-level calls; always uninstalled afterwards."""

    def _install(policy: Policy, *, service: str = "test", getaddrinfo: Any = None) -> Syscalls:
        calls = Syscalls()
        hook.install(
            policy,
            service=service,
            connect=calls.connect,
            connect_ex=calls.connect_ex,
            sendto=calls.sendto,
            sendmsg=calls.sendmsg,
            getaddrinfo=getaddrinfo,
        )
        return calls

    try:
        yield _install
    finally:
        hook._uninstall_for_tests()
