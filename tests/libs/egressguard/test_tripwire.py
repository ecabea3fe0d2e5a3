"""The start-up tripwire proves the guard is armed, and fails loudly when it is not."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from prometheus_client import REGISTRY, generate_latest
from trstctl.egressguard import Policy, TripwireFailed, hook, metrics, run_tripwire

AIRGAP = Policy.build(enabled=True)


def test_tripwire_passes_and_resets_counter(install_guard: Any) -> None:
    """An armed guard passes; the trip counter reads zero afterwards, armed gauge 1."""
    calls = install_guard(AIRGAP, service="issuer")
    run_tripwire("issuer")
    assert calls.reached == []
    assert metrics.trips("issuer") == 0
    exposition = generate_latest(REGISTRY).decode()
    assert 'trstctl_egress_guard_armed{service="issuer"} 1.0' in exposition
    assert 'trstctl_egress_guard_trips_total{reason="public",service="issuer"} 0.0' in exposition


def test_tripwire_fails_without_guard() -> None:
    """With no guard installed the tripwire refuses to pass."""
    with pytest.raises(TripwireFailed, match="not installed"):
        run_tripwire("issuer")


def test_tripwire_fails_with_airgap_off(install_guard: Any) -> None:
    """A guard installed with air-gap off does not count as armed."""
    install_guard(Policy())
    with pytest.raises(TripwireFailed):
        run_tripwire("issuer")


def test_tripwire_fails_when_wrapper_removed(install_guard: Any) -> None:
    """If something restores socket.socket.connect, the tripwire notices."""
    install_guard(AIRGAP)
    wrapper = socket.socket.__dict__["connect"]
    delattr(socket.socket, "connect")
    try:
        with pytest.raises(TripwireFailed, match="no longer carry"):
            run_tripwire("issuer")
    finally:
        socket.socket.connect = wrapper  # type: ignore[method-assign]


def test_tripwire_fails_when_public_is_allowed(install_guard: Any) -> None:
    """A policy that lets the probe's public address through fails, before any syscall."""
    calls = install_guard(Policy.build(enabled=True, allow_cidrs=["1.1.1.0/24"]))
    with pytest.raises(TripwireFailed, match="reached the system call"):
        run_tripwire("issuer")
    assert calls.reached == []


def test_tripwire_fails_when_backstop_silent(install_guard: Any, monkeypatch: Any) -> None:
    """A dead audit backstop (hook inert) is reported."""
    install_guard(AIRGAP)
    monkeypatch.setattr(hook, "_AUDITED_EVENTS", frozenset())
    with pytest.raises(TripwireFailed, match="audit hook"):
        run_tripwire("issuer")
