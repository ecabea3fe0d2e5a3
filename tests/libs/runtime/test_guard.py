"""arm_for_service: the guard is installed, proven by the tripwire, or the process stops."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import pytest
from prometheus_client import REGISTRY, generate_latest
from trstctl.egressguard import EgressDenied, hook, metrics
from trstctl.runtime.guard import arm_for_service, policy_from_settings
from trstctl.runtime.settings import load_settings

AIRGAP_ENV = {
    "TRSTCTL_AIRGAP_ENABLED": "true",
    "TRSTCTL_AIRGAP_ALLOW_CIDRS": "100.64.0.0/16",
    "TRSTCTL_AIRGAP_ALLOW_HOSTS": "pg.internal",
}


@pytest.fixture(autouse=True)
def uninstall() -> Iterator[None]:
    """Every test leaves the process without a guard."""
    try:
        yield
    finally:
        hook._uninstall_for_tests()


def test_policy_from_settings() -> None:
    """The policy mirrors the air-gap settings."""
    policy = policy_from_settings(load_settings(AIRGAP_ENV))
    assert policy.enabled
    assert policy.allow_private
    assert policy.allow_hosts == frozenset({"pg.internal"})
    assert [str(c) for c in policy.allow_cidrs] == ["100.64.0.0/16"]


def test_arm_under_airgap_installs_and_proves() -> None:
    """Under air-gap the guard is armed, the gauge is 1 and the trip counter reads zero."""
    arm_for_service(load_settings(AIRGAP_ENV), "issuer")
    assert hook.is_patched()
    assert metrics.armed("issuer") == 1
    assert metrics.trips("issuer") == 0
    exposition = generate_latest(REGISTRY).decode()
    assert 'trstctl_egress_guard_armed{service="issuer"} 1.0' in exposition
    assert 'trstctl_egress_guard_trips_total{reason="public",service="issuer"} 0.0' in exposition
    # And it now denies for real (closed socket: nothing could leave even if it did not).
    sock = socket.socket()
    sock.close()
    with pytest.raises(EgressDenied):
        sock.connect(("8.8.8.8", 53))


def test_arm_without_airgap_is_passive() -> None:
    """With air-gap off the guard is installed but allows everything and reads unarmed."""
    arm_for_service(load_settings({}), "secrets")
    policy = hook.installed_policy()
    assert policy is not None
    assert not policy.enabled
    assert metrics.armed("secrets") == 0


def test_arm_twice_is_harmless() -> None:
    """Arming again (e.g. two services in one process) keeps one guard and zero trips."""
    settings = load_settings(AIRGAP_ENV)
    arm_for_service(settings, "issuer")
    arm_for_service(settings, "policy")
    assert metrics.armed("policy") == 1
    assert metrics.trips("issuer") == 0


def test_arm_refuses_foreign_loop_under_airgap() -> None:
    """A uvloop-like loop policy under air-gap stops the process with a non-zero exit."""

    class FakeUvloopPolicy(asyncio.DefaultEventLoopPolicy):
        """Stands in for uvloop.EventLoopPolicy."""

    previous = asyncio.get_event_loop_policy()
    asyncio.set_event_loop_policy(FakeUvloopPolicy())
    try:
        with pytest.raises(SystemExit) as caught:
            arm_for_service(load_settings(AIRGAP_ENV), "gateway")
    finally:
        asyncio.set_event_loop_policy(previous)
    assert caught.value.code != 0
    assert "FakeUvloopPolicy" in str(caught.value.code)
    assert hook.installed_policy() is None  # refused before installing anything


def test_arm_allows_foreign_loop_without_airgap() -> None:
    """Without air-gap, a non-default loop is the operator's business."""

    class OtherPolicy(asyncio.DefaultEventLoopPolicy):
        """A non-default policy."""

    previous = asyncio.get_event_loop_policy()
    asyncio.set_event_loop_policy(OtherPolicy())
    try:
        arm_for_service(load_settings({}), "gateway")
    finally:
        asyncio.set_event_loop_policy(previous)


def test_failed_tripwire_exits_non_zero(monkeypatch: pytest.MonkeyPatch) -> None:
    """A guard that cannot prove itself stops the process with a clear message."""
    # Simulate a broken backstop: the tripwire's audit probe goes unanswered.
    monkeypatch.setattr(hook, "_AUDITED_EVENTS", frozenset())
    with pytest.raises(SystemExit) as caught:
        arm_for_service(load_settings(AIRGAP_ENV), "audit-projector")
    message = str(caught.value.code)
    assert "trstctl-audit-projector" in message
    assert "tripwire" in message


def test_conflicting_policy_exits_non_zero() -> None:
    """A second arm with different air-gap settings in one process refuses to start."""
    arm_for_service(load_settings(AIRGAP_ENV), "issuer")
    with pytest.raises(SystemExit, match="another policy"):
        arm_for_service(load_settings({}), "secrets")
