"""The socket-layer hook: denials before the syscall, loopback passes, backstop, metrics."""

from __future__ import annotations

import _socket
import errno
import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from trstctl.egressguard import EgressDenied, EgressGuardError, Policy, hook, metrics

AIRGAP = Policy.build(enabled=True)
NO_PRIVATE_HOSTS = Policy.build(enabled=True, allow_private=False, allow_hosts=["pg.internal"])
PUBLIC = ("1.1.1.1", 443)


@pytest.fixture
def tcp_listener() -> Iterator[tuple[str, int]]:
    """A loopback TCP listener that accepts and closes in a thread."""
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.05)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[:2]
    finally:
        stop.set()
        thread.join()
        server.close()


def fake_resolver(table: dict[str, list[str]]) -> Any:
    """A getaddrinfo that answers from ``table`` only (never real DNS)."""

    def getaddrinfo(
        host: Any, port: Any, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0
    ) -> list[Any]:
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, f"{host} unknown to the fake resolver")
        out = []
        for ip in table[host]:
            fam = socket.AF_INET6 if ":" in ip else socket.AF_INET
            if family not in (0, fam):
                continue
            sockaddr = (ip, port, 0, 0) if fam == socket.AF_INET6 else (ip, port)
            out.append((fam, type or socket.SOCK_STREAM, proto, "", sockaddr))
        return out

    return getaddrinfo


def test_public_connect_denied_before_syscall(install_guard: Any) -> None:
    """A raw socket connect to a public IP raises EgressDenied and never reaches connect."""
    calls = install_guard(AIRGAP)
    with socket.socket() as sock, pytest.raises(EgressDenied) as caught:
        sock.connect(PUBLIC)
    assert calls.reached == []
    denied = caught.value
    assert isinstance(denied, OSError)
    assert denied.errno == errno.ECONNREFUSED
    assert (denied.ip, denied.port, denied.reason) == ("1.1.1.1", 443, "public")
    assert "1.1.1.1:443" in str(denied)
    assert "public" in str(denied)


def test_loopback_connect_passes(install_guard: Any, tcp_listener: tuple[str, int]) -> None:
    """A loopback connect goes through the injected low-level connect and succeeds."""
    calls = install_guard(AIRGAP)
    with socket.create_connection(tcp_listener, timeout=5):
        pass
    assert calls.reached == [("connect", tcp_listener)]


def test_ipv6_loopback_passes(install_guard: Any) -> None:
    """::1 is loopback under air-gap too."""
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    try:
        server = socket.create_server(("::1", 0), family=socket.AF_INET6)
    except OSError:
        pytest.skip("no IPv6 loopback here")
    calls = install_guard(AIRGAP)
    with server, socket.socket(socket.AF_INET6) as sock:
        sock.connect(server.getsockname()[:2])
    assert calls.hosts_reached() == {"::1"}


def test_connect_ex_public_denied(install_guard: Any) -> None:
    """connect_ex is guarded too (it raises rather than returning an errno)."""
    calls = install_guard(AIRGAP)
    with socket.socket() as sock, pytest.raises(EgressDenied):
        sock.connect_ex(("8.8.8.8", 53))
    assert calls.reached == []


def test_connect_ex_loopback(install_guard: Any, tcp_listener: tuple[str, int]) -> None:
    """connect_ex to loopback returns 0 through the injected call."""
    calls = install_guard(AIRGAP)
    with socket.socket() as sock:
        assert sock.connect_ex(tcp_listener) == 0
    assert calls.reached == [("connect_ex", tcp_listener)]


def test_udp_sendto_public_denied(install_guard: Any) -> None:
    """UDP sendto a public address is denied without a syscall, with and without flags."""
    calls = install_guard(AIRGAP)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        with pytest.raises(EgressDenied):
            sock.sendto(b"x", ("9.9.9.9", 53))
        with pytest.raises(EgressDenied):
            sock.sendto(b"x", 0, ("9.9.9.9", 53))
    assert calls.reached == []


def test_udp_sendto_loopback(install_guard: Any) -> None:
    """UDP sendto loopback is delivered."""
    calls = install_guard(AIRGAP)
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx,
    ):
        rx.bind(("127.0.0.1", 0))
        rx.settimeout(5)
        tx.sendto(b"ping", rx.getsockname())
        assert rx.recv(10) == b"ping"
    assert calls.hosts_reached() == {"127.0.0.1"}


def test_udp_sendmsg_public_denied(install_guard: Any) -> None:
    """sendmsg with a public peer address is denied; sendmsg without one is left alone."""
    calls = install_guard(AIRGAP)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        with pytest.raises(EgressDenied):
            sock.sendmsg([b"x"], [], 0, ("9.9.9.9", 53))
        rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        with rx:
            rx.bind(("127.0.0.1", 0))
            sock.connect(rx.getsockname())
            assert sock.sendmsg([b"ok"]) == 2
    assert "9.9.9.9" not in calls.hosts_reached()


def test_udp_connect_public_denied(install_guard: Any) -> None:
    """Connecting a UDP socket to a public address is denied (no later send can use it)."""
    calls = install_guard(AIRGAP)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock, pytest.raises(EgressDenied):
        sock.connect(("8.8.8.8", 53))
    assert calls.reached == []


def test_unix_sockets_are_not_egress(install_guard: Any, tmp_path: Path) -> None:
    """AF_UNIX connects are not network egress and pass untouched."""
    install_guard(Policy.build(enabled=True, allow_private=False))
    path = str(tmp_path / "s.sock")
    with socket.socket(socket.AF_UNIX) as server, socket.socket(socket.AF_UNIX) as client:
        server.bind(path)
        server.listen()
        client.connect(path)


def test_mapped_public_on_ipv6_socket_denied(install_guard: Any) -> None:
    """An IPv4-mapped public address on an IPv6 socket is judged as the IPv4 address."""
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    calls = install_guard(AIRGAP)
    with socket.socket(socket.AF_INET6) as sock, pytest.raises(EgressDenied) as caught:
        sock.connect(("::ffff:8.8.8.8", 443, 0, 0))
    assert caught.value.reason == "public"
    assert calls.reached == []


def test_empty_and_broadcast_names_denied(install_guard: Any) -> None:
    """The C layer's special names '' and '<broadcast>' are judged as what they mean."""
    calls = install_guard(AIRGAP)
    with socket.socket() as sock, pytest.raises(EgressDenied) as caught:
        sock.connect(("", 80))
    assert caught.value.reason == "unspecified"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock, pytest.raises(EgressDenied):
        sock.sendto(b"x", ("<broadcast>", 9))
    assert calls.reached == []


def test_hostname_resolved_by_guard_public_denied(install_guard: Any) -> None:
    """A name passed to connect is resolved by the guard; a public answer is denied."""
    calls = install_guard(AIRGAP, getaddrinfo=fake_resolver({"evil.example": ["8.8.8.8"]}))
    with socket.socket() as sock, pytest.raises(EgressDenied) as caught:
        sock.connect(("evil.example", 443))
    assert caught.value.host == "evil.example"
    assert caught.value.ip == "8.8.8.8"
    assert calls.reached == []


def test_hostname_resolved_by_guard_passes_literal(
    install_guard: Any, tcp_listener: tuple[str, int]
) -> None:
    """An allowed name reaches the syscall as the IP literal decided on, not as a name."""
    calls = install_guard(AIRGAP, getaddrinfo=fake_resolver({"local.test": ["127.0.0.1"]}))
    with socket.socket() as sock:
        sock.connect(("local.test", tcp_listener[1]))
    assert calls.reached == [("connect", tcp_listener)]


@pytest.mark.parametrize("name", ["pg.internal", "not-listed.example"])
def test_rebinding_to_public_denied(install_guard: Any, monkeypatch: Any, name: str) -> None:
    """A name (allow-listed or not) whose resolution returns a public IP is denied."""
    calls = install_guard(NO_PRIVATE_HOSTS)
    # The client resolves via socket.getaddrinfo, which the "attacker" now controls.
    monkeypatch.setattr(socket, "getaddrinfo", fake_resolver({name: ["8.8.4.4"]}))
    with pytest.raises(EgressDenied) as caught:
        socket.create_connection((name, 443), timeout=1)
    assert caught.value.ip == "8.8.4.4"
    assert calls.reached == []


def test_rebinding_after_private_answer_denied(install_guard: Any) -> None:
    """An allow-listed name first answering privately and later publicly is denied later."""
    answers = {"pg.internal": ["10.0.0.5"]}
    calls = install_guard(NO_PRIVATE_HOSTS, getaddrinfo=fake_resolver(answers))
    assert socket.getaddrinfo("pg.internal", 5432)[0][4][0] == "10.0.0.5"
    assert hook._state is not None
    assert hook._state.policy.decide("10.0.0.5", "pg.internal").allowed
    answers["pg.internal"] = ["203.0.113.50"]
    with socket.socket() as sock, pytest.raises(EgressDenied) as caught:
        sock.connect(("pg.internal", 5432))
    assert caught.value.reason == "documentation"
    assert calls.reached == []


def test_allow_listed_host_grants_its_private_address(install_guard: Any) -> None:
    """With private off, an address an allow-listed host resolved to is allowed, others not."""
    resolver = fake_resolver({"pg.internal": ["10.0.0.5"], "other.internal": ["10.0.0.6"]})
    calls = install_guard(NO_PRIVATE_HOSTS, getaddrinfo=resolver)
    socket.getaddrinfo("pg.internal", 5432)
    socket.getaddrinfo("other.internal", 5432)
    # Nothing listens on 10.0.0.5 and no packet may leave: record at the low-level layer.
    assert hook._state is not None
    hook._state.connect = lambda s, a: calls.reached.append(("connect", a))
    with socket.socket() as sock:
        sock.connect(("10.0.0.5", 5432))
    with socket.socket() as sock, pytest.raises(EgressDenied) as caught:
        sock.connect(("10.0.0.6", 5432))
    assert caught.value.reason == "private-not-allowed"
    assert caught.value.host == "other.internal"
    assert calls.reached == [("connect", ("10.0.0.5", 5432))]


def test_airgap_off_passes_everything_through(install_guard: Any) -> None:
    """With air-gap off the guard hands every destination to the low-level call untouched."""
    install_guard(Policy())
    seen: list[Any] = []
    assert hook._state is not None
    hook._state.connect = lambda s, a: seen.append(a)  # a recorder: no syscall at all
    with socket.socket() as sock:
        sock.connect(("8.8.8.8", 53))
    assert seen == [("8.8.8.8", 53)]
    assert metrics.armed("test") == 0


def test_denial_counts_and_logs_with_caller(install_guard: Any) -> None:
    """A denial increments trips{service,reason} and logs egress.denied with the caller."""
    install_guard(AIRGAP, service="svc-a")
    assert metrics.trips("svc-a") == 0
    with (
        structlog.testing.capture_logs() as logs,
        socket.socket() as sock,
        pytest.raises(EgressDenied),
    ):
        sock.connect(("8.8.8.8", 443))
    assert metrics.trips("svc-a", "public") == 1
    assert metrics.armed("svc-a") == 1
    (entry,) = [e for e in logs if e["event"] == "egress.denied"]
    assert entry["ip"] == "8.8.8.8"
    assert entry["port"] == 443
    assert entry["service"] == "svc-a"
    assert entry["caller"].startswith(__file__)


def test_install_twice_is_harmless(install_guard: Any) -> None:
    """A second install with the same policy keeps the guard and counts intact."""
    install_guard(AIRGAP, service="svc-b")
    with socket.socket() as sock, pytest.raises(EgressDenied):
        sock.connect(PUBLIC)
    hook.install(Policy.build(enabled=True), service="svc-b")
    hook.install(Policy.build(enabled=True), service="svc-c")
    assert metrics.trips("svc-b") == 1
    assert metrics.armed("svc-c") == 1
    assert hook.is_patched()
    with socket.socket() as sock, pytest.raises(EgressDenied):
        sock.connect(PUBLIC)


def test_install_with_other_policy_refused(install_guard: Any) -> None:
    """One process cannot hold two air-gap policies."""
    install_guard(AIRGAP)
    with pytest.raises(EgressGuardError, match="another policy"):
        hook.install(Policy(), service="x")


def test_uninstall_for_tests_restores_socket_layer(install_guard: Any) -> None:
    """The test-only uninstall puts socket.socket and getaddrinfo back as they were."""
    original_gai = socket.getaddrinfo
    install_guard(AIRGAP)
    assert "connect" in socket.socket.__dict__
    hook._uninstall_for_tests()
    assert "connect" not in socket.socket.__dict__
    assert socket.getaddrinfo is original_gai
    assert metrics.armed("test") == 0


def test_audit_backstop_denies_direct_c_call(install_guard: Any) -> None:
    """Calling _socket.socket.connect directly (bypassing the wrapper) is still denied."""
    install_guard(AIRGAP)
    sock = socket.socket()
    sock.close()  # a closed fd: even if the backstop failed, nothing could be sent
    with pytest.raises(EgressDenied):
        _socket.socket.connect(sock, PUBLIC)


def test_audit_backstop_fails_closed_on_names(install_guard: Any) -> None:
    """A host name reaching the C layer means something bypassed the wrapper: denied."""
    install_guard(AIRGAP)
    sock = socket.socket()
    sock.close()
    with pytest.raises(EgressDenied) as caught:
        sys.audit("socket.connect", sock, ("somewhere.example", 80))
    assert caught.value.reason == "unresolved-host"


def test_audit_backstop_inert_when_uninstalled() -> None:
    """Without an installed guard the audit hook lets events through."""
    sock = socket.socket()
    sock.close()
    assert hook._state is None
    sys.audit("socket.connect", sock, ("127.0.0.1", 1))


def test_egress_denied_pickles() -> None:
    """EgressDenied survives pickling (it may cross a process or executor boundary)."""
    import pickle

    error = EgressDenied(host="h", ip="8.8.8.8", port=1, reason="public", service="s")
    again = pickle.loads(pickle.dumps(error))  # noqa: S301
    assert (again.host, again.ip, again.port, again.reason, again.errno) == (
        "h",
        "8.8.8.8",
        1,
        "public",
        errno.ECONNREFUSED,
    )
