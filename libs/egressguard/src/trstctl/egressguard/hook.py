"""The socket-layer hook: every outbound connect or datagram passes the policy first.

``socket.socket`` is a Python subclass of ``_socket.socket``, so replacing its
``connect``/``connect_ex``/``sendto``/``sendmsg`` covers everything built on Python
sockets: blocking code, ``socket.create_connection``/urllib, and asyncio's default
loop (which calls ``sock.connect`` on non-blocking sockets), hence aiohttp, asyncpg
and nats-py. A host name given to ``connect`` is resolved here and the chosen IP
literal is what reaches the system call, so the kernel never resolves a name the
policy did not see. A ``sys.addaudithook`` backstop re-checks the C-level
``socket.connect``/``sendto``/``sendmsg`` events, catching code that calls
``_socket.socket`` methods directly.

The final low-level calls are injectable (``install(connect=...)``) so tests can
prove a denied destination never reaches a system call.
"""

from __future__ import annotations

import _socket
import os
import socket
import sys
import sysconfig
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, NoReturn, TypeAlias

import structlog
from trstctl.egressguard import metrics
from trstctl.egressguard.errors import EgressDenied, EgressGuardError, TripwireFailed
from trstctl.egressguard.policy import Decision, Policy, Reason, parse_ip

ConnectFn: TypeAlias = Callable[[socket.socket, Any], None]
ConnectExFn: TypeAlias = Callable[[socket.socket, Any], int]
SendtoFn: TypeAlias = Callable[..., int]
SendmsgFn: TypeAlias = Callable[..., int]
GetaddrinfoFn: TypeAlias = Callable[..., list[Any]]

_log = structlog.get_logger("trstctl.egressguard")
_INET_FAMILIES = frozenset({int(socket.AF_INET), int(socket.AF_INET6)})
# The raw int getter: socket.socket.family converts to an enum on every access (slow).
_family: Callable[[_socket.socket], int] = _socket.socket.family.__get__
_AUDITED_EVENTS = frozenset({"socket.connect", "socket.sendto", "socket.sendmsg"})
# Caches are bounded so a process that talks to many peers cannot grow them forever.
_CACHE_LIMIT = 4096
_PATCHED_METHODS = ("connect", "connect_ex", "sendto", "sendmsg")


class ProbeSocket(socket.socket):
    """A socket the tripwire sends through the guard; reaching a syscall marks it."""

    reached: bool = False


@dataclass
class _State:
    policy: Policy
    service: str
    connect: ConnectFn
    connect_ex: ConnectExFn
    sendto: SendtoFn
    sendmsg: SendmsgFn
    getaddrinfo: GetaddrinfoFn
    services: set[str] = field(default_factory=set)
    decisions: dict[tuple[str, str | None], Decision] = field(default_factory=dict)
    # ip text -> the allow-listed host that resolved to it / the last name that did.
    allowed_host_ips: dict[str, str] = field(default_factory=dict)
    last_name: dict[str, str] = field(default_factory=dict)


_state: _State | None = None
_audit_hook_added = False
# What socket.socket / socket.getaddrinfo were before the first install (test-only restore).
_saved_methods: dict[str, Any] = {}
_saved_getaddrinfo: GetaddrinfoFn = socket.getaddrinfo


def _stdlib_prefixes() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    prefixes = {os.path.dirname(__file__) + os.sep, "<frozen "}
    for key in ("stdlib", "platstdlib"):
        if paths.get(key):
            prefixes.add(paths[key] + os.sep)
    return tuple(sorted(prefixes))


_SKIPPED_FRAMES = _stdlib_prefixes()


def _caller() -> str:
    """``file:line`` of the first frame outside the guard and the standard library."""
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename
        if not filename.startswith(_SKIPPED_FRAMES):
            return f"{filename}:{frame.f_lineno}"
        frame = frame.f_back
    return "unknown"


# -- deciding -----------------------------------------------------------------------------


def _remember(state: _State, host: str, infos: Sequence[Any]) -> None:
    if len(state.last_name) > _CACHE_LIMIT:
        state.last_name.clear()
    allow_listed = state.policy.host_is_allow_listed(host)
    for info in infos:
        sockaddr = info[4]
        if not isinstance(sockaddr, tuple) or not sockaddr or not isinstance(sockaddr[0], str):
            continue
        ip = sockaddr[0]
        state.last_name[ip] = host
        if allow_listed and len(state.allowed_host_ips) < _CACHE_LIMIT:
            state.allowed_host_ips[ip] = host


def _decide(state: _State, ip: str, name: str | None) -> Decision:
    key = (ip, name)
    decision = state.decisions.get(key)
    if decision is None:
        decision = state.policy.decide(ip, name)
        if len(state.decisions) > _CACHE_LIMIT:
            state.decisions.clear()
        state.decisions[key] = decision
    return decision


def _deny(
    state: _State, reason: Reason, *, host: str, ip: str, port: int | None, operation: str
) -> NoReturn:
    metrics.TRIPS.labels(service=state.service, reason=reason.value).inc()
    _log.warning(
        "egress.denied",
        service=state.service,
        host=host,
        ip=ip,
        port=port,
        reason=reason.value,
        operation=operation,
        caller=_caller(),
    )
    raise EgressDenied(host=host, ip=ip, port=port, reason=reason.value, service=state.service)


def _literal_for(state: _State, sock: socket.socket, host: str, port: Any) -> tuple[str, str]:
    """The IP literal the syscall will use for ``host`` and the name it came from."""
    if host == "":
        # The C layer turns "" into the wildcard address, which Linux connects locally.
        return ("0.0.0.0" if sock.family == socket.AF_INET else "::"), host  # noqa: S104
    if host == "<broadcast>":
        return "255.255.255.255", host
    try:
        parse_ip(host)
    except ValueError:
        pass
    else:
        return host, host
    infos = state.getaddrinfo(host, port, sock.family, sock.type, sock.proto)
    _remember(state, host, infos)
    for info in infos:
        if info[0] == sock.family:
            return str(info[4][0]), host
    raise socket.gaierror(socket.EAI_NONAME, f"{host!r} has no {sock.family.name} address")


def _checked(state: _State, sock: socket.socket, address: Any, operation: str) -> Any:
    """``address`` with its host replaced by the IP literal decided on; raise if denied."""
    if _family(sock) not in _INET_FAMILIES or not isinstance(address, tuple) or len(address) < 2:
        return address  # UNIX/netlink sockets are not egress; malformed input fails in C
    host = address[0]
    port = address[1] if isinstance(address[1], int) else None
    if type(host) is str:
        # Fast path: an IP literal decided before (the common case: pools, reconnects).
        name = state.allowed_host_ips.get(host) or state.last_name.get(host)
        decision = state.decisions.get((host, name))
        if decision is not None:
            if not decision.allowed:
                _deny(
                    state,
                    decision.reason,
                    host=name or host,
                    ip=host,
                    port=port,
                    operation=operation,
                )
            return address
    if isinstance(host, bytes | bytearray):
        host = bytes(host).decode("ascii", "replace")
    if not isinstance(host, str):
        return address
    ip, given = _literal_for(state, sock, host, address[1])
    # For an IP literal, the name is whichever host we saw resolve to it (if any).
    name = given if given != ip else state.allowed_host_ips.get(ip) or state.last_name.get(ip)
    decision = _decide(state, ip, name)
    if not decision.allowed:
        _deny(state, decision.reason, host=name or ip, ip=ip, port=port, operation=operation)
    if ip != address[0]:
        return (ip, *address[1:])
    return address


def _reach_probe(sock: socket.socket, operation: str) -> None:
    # The tripwire's socket got past the policy: record it and stop before the syscall.
    if type(sock) is ProbeSocket:
        sock.reached = True
        raise TripwireFailed(f"the tripwire's {operation} reached the system call layer")


# -- the wrappers installed on socket.socket -------------------------------------------------


def _guarded_connect(sock: socket.socket, address: Any) -> None:
    state = _state
    if state is None:
        return _unguarded("connect")(sock, address)  # type: ignore[no-any-return]
    if state.policy.enabled:
        address = _checked(state, sock, address, "connect")
        _reach_probe(sock, "connect")
    return state.connect(sock, address)


def _guarded_connect_ex(sock: socket.socket, address: Any) -> int:
    state = _state
    if state is None:
        return _unguarded("connect_ex")(sock, address)  # type: ignore[no-any-return]
    if state.policy.enabled:
        address = _checked(state, sock, address, "connect_ex")
        _reach_probe(sock, "connect_ex")
    return state.connect_ex(sock, address)


def _guarded_sendto(sock: socket.socket, data: Any, *rest: Any) -> int:
    state = _state
    if state is None:
        return _unguarded("sendto")(sock, data, *rest)  # type: ignore[no-any-return]
    if state.policy.enabled and rest:
        # sendto(data, address) or sendto(data, flags, address): the address is last.
        rest = (*rest[:-1], _checked(state, sock, rest[-1], "sendto"))
        _reach_probe(sock, "sendto")
    return state.sendto(sock, data, *rest)


def _guarded_sendmsg(sock: socket.socket, buffers: Any, *rest: Any) -> int:
    state = _state
    if state is None:
        return _unguarded("sendmsg")(sock, buffers, *rest)  # type: ignore[no-any-return]
    # sendmsg(buffers[, ancdata[, flags[, address]]]): only the 4th argument is a peer.
    if state.policy.enabled and len(rest) >= 3 and rest[2] is not None:
        rest = (*rest[:2], _checked(state, sock, rest[2], "sendmsg"), *rest[3:])
        _reach_probe(sock, "sendmsg")
    return state.sendmsg(sock, buffers, *rest)


def _guarded_getaddrinfo(
    host: Any, port: Any, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0
) -> list[Any]:
    """``socket.getaddrinfo`` that remembers which name produced which address."""
    state = _state
    resolve = state.getaddrinfo if state is not None else _saved_getaddrinfo
    infos = resolve(host, port, family, type, proto, flags)
    if state is not None and state.policy.enabled and isinstance(host, str):
        _remember(state, host, infos)
    return infos


_WRAPPERS: dict[str, Callable[..., Any]] = {
    "connect": _guarded_connect,
    "connect_ex": _guarded_connect_ex,
    "sendto": _guarded_sendto,
    "sendmsg": _guarded_sendmsg,
}


def _unguarded(name: str) -> Callable[..., Any]:
    saved = _saved_methods.get(name)
    return saved if saved is not None else getattr(_socket.socket, name)  # type: ignore[no-any-return]


# -- the audit backstop ---------------------------------------------------------------------


def _audit(event: str, args: tuple[Any, ...]) -> None:
    # Called for every audited event in the process: the first test must stay cheap.
    if event not in _AUDITED_EVENTS:
        return
    state = _state
    if state is None or not state.policy.enabled or len(args) < 2:
        return
    sock, address = args[0], args[1]
    if not isinstance(sock, _socket.socket) or _family(sock) not in _INET_FAMILIES:
        return
    if not isinstance(address, tuple) or len(address) < 2 or not isinstance(address[0], str):
        return
    ip = address[0]
    name = state.allowed_host_ips.get(ip) or state.last_name.get(ip)
    decision = state.decisions.get((ip, name))
    if decision is not None and decision.allowed:
        return  # fast path: the wrapper has just decided this very address
    port = address[1] if isinstance(address[1], int) else None
    operation = event.removeprefix("socket.")
    try:
        parse_ip(ip)
    except ValueError:
        # Our wrappers always hand the C layer an IP literal; a name here bypassed them
        # and the kernel would resolve it unseen, so fail closed.
        _deny(state, Reason.UNRESOLVED_HOST, host=ip, ip=ip, port=port, operation=operation)
    decision = _decide(state, ip, name)
    if not decision.allowed:
        _deny(state, decision.reason, host=name or ip, ip=ip, port=port, operation=operation)


# -- install ----------------------------------------------------------------------------------


def install(
    policy: Policy,
    *,
    service: str,
    connect: ConnectFn | None = None,
    connect_ex: ConnectExFn | None = None,
    sendto: SendtoFn | None = None,
    sendmsg: SendmsgFn | None = None,
    getaddrinfo: GetaddrinfoFn | None = None,
) -> None:
    """Arm the guard for this process with ``policy``; call before any connection.

    ``connect``/``connect_ex``/``sendto``/``sendmsg`` replace the low-level calls the
    guard makes once a destination is allowed (default: the real ``_socket`` methods)
    and ``getaddrinfo`` the resolver it uses for names passed to ``connect``. Installing
    again with the same policy only registers ``service`` as armed; a different policy
    is an error, because one process cannot enforce two air gaps.
    """
    global _state, _audit_hook_added, _saved_getaddrinfo
    if _state is not None:
        if _state.policy != policy:
            raise EgressGuardError("the egress guard is already installed with another policy")
        _arm_service(_state, service)
        return
    if not _saved_methods:
        for name in _PATCHED_METHODS:
            _saved_methods[name] = socket.socket.__dict__.get(name, getattr(_socket.socket, name))
        _saved_getaddrinfo = socket.getaddrinfo
    state = _State(
        policy=policy,
        service=service,
        connect=connect or _saved_methods["connect"],
        connect_ex=connect_ex or _saved_methods["connect_ex"],
        sendto=sendto or _saved_methods["sendto"],
        sendmsg=sendmsg or _saved_methods["sendmsg"],
        getaddrinfo=getaddrinfo or _saved_getaddrinfo,
    )
    for name, wrapper in _WRAPPERS.items():
        setattr(socket.socket, name, wrapper)
    socket.getaddrinfo = _guarded_getaddrinfo
    if not _audit_hook_added:
        # Audit hooks cannot be removed; _audit is inert whenever no state is installed.
        sys.addaudithook(_audit)
        _audit_hook_added = True
    _state = state
    metrics.reset_trips(service)  # export explicit zeros from the start
    _arm_service(state, service)


def _arm_service(state: _State, service: str) -> None:
    state.services.add(service)
    metrics.ARMED.labels(service=service).set(1 if state.policy.enabled else 0)


def installed_policy() -> Policy | None:
    """The policy in force, or ``None`` when the guard is not installed."""
    return _state.policy if _state is not None else None


def installed_service() -> str | None:
    """The service name trips are counted under, or ``None`` when not installed."""
    return _state.service if _state is not None else None


def is_patched() -> bool:
    """Whether ``socket.socket`` and ``socket.getaddrinfo`` still carry the guard's wrappers."""
    return (
        all(socket.socket.__dict__.get(name) is fn for name, fn in _WRAPPERS.items())
        and socket.getaddrinfo is _guarded_getaddrinfo
    )


def _uninstall_for_tests() -> None:
    """TEST-ONLY: restore the socket layer and disarm. Production never uninstalls."""
    global _state
    state = _state
    _state = None
    if state is not None:
        for service in state.services:
            metrics.ARMED.labels(service=service).set(0)
    for name in _PATCHED_METHODS:
        if socket.socket.__dict__.get(name) is _WRAPPERS[name]:
            delattr(socket.socket, name)
            saved = _saved_methods.get(name)
            if saved is not None and saved is not getattr(_socket.socket, name):
                setattr(socket.socket, name, saved)
    if socket.getaddrinfo is _guarded_getaddrinfo:
        socket.getaddrinfo = _saved_getaddrinfo
