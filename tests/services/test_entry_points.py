"""Every `python -m trstctl.<service>`: guard armed before any connection; bad config exits 2."""

from __future__ import annotations

import importlib
import socket
import sys
import types

import pytest
from trstctl.runtime import service

# (module, service name as it appears in logs, metrics and the NATS connection name)
SERVICES = [
    ("trstctl.issuer", "issuer"),
    ("trstctl.secrets", "secrets"),
    ("trstctl.policy", "policy"),
    ("trstctl.audit_projector", "audit-projector"),
    ("trstctl.gateway", "gateway"),
]


@pytest.mark.parametrize(("module", "name"), SERVICES, ids=[n for _, n in SERVICES])
def test_entry_point_arms_the_guard_before_opening_any_connection(
    monkeypatch: pytest.MonkeyPatch, module: str, name: str
) -> None:
    """The guard is armed for the service before the first outgoing connect or NATS dial."""
    entry = importlib.import_module(f"{module}.__main__")
    calls: list[str] = []
    guard = types.ModuleType("trstctl.runtime.guard")
    guard.arm_for_service = lambda _s, svc: calls.append(f"arm:{svc}")  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "trstctl.runtime.guard", guard)
    monkeypatch.setattr(service, "configure_logging", lambda _s: None)
    real_connect = socket.socket.connect

    def connect(sock: socket.socket, address: object) -> None:
        calls.append("socket.connect")
        real_connect(sock, address)  # type: ignore[arg-type]

    async def connect_nats(url: str, *, name: str) -> object:
        calls.append(f"connect_nats:{name}")
        raise OSError("no NATS in this test")

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr("trstctl.events.connection.connect_nats", connect_nats)
    monkeypatch.setenv("TRSTCTL_NATS_URL", "nats://127.0.0.1:1")
    monkeypatch.setenv("TRSTCTL_METRICS_PORT", "0")
    assert entry.main() == 1
    assert calls[0] == f"arm:{name}"
    assert f"connect_nats:trstctl-{name}" in calls


@pytest.mark.parametrize(("module", "name"), SERVICES, ids=[n for _, n in SERVICES])
def test_invalid_setting_fails_start_up_with_exit_2_and_the_name(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], module: str, name: str
) -> None:
    """TRSTCTL_NATS_MODE=sometimes is refused, naming the variable, exit code 2."""
    entry = importlib.import_module(f"{module}.__main__")
    monkeypatch.setenv("TRSTCTL_NATS_MODE", "sometimes")
    assert entry.main() == 2
    assert "TRSTCTL_NATS_MODE" in capsys.readouterr().err
