"""`python -m trstctl.secrets`: guard armed before any connection; bad config exits 2."""

from __future__ import annotations

import importlib
import socket
import sys
import types

import pytest
from trstctl.runtime import service

ENTRY = importlib.import_module("trstctl.secrets.__main__")


def test_entry_point_arms_the_guard_before_opening_any_connection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The guard is armed for 'secrets' before the first outgoing connect or NATS dial."""
    calls: list[str] = []
    guard = types.ModuleType("trstctl.runtime.guard")
    guard.arm_for_service = lambda _s, name: calls.append(f"arm:{name}")  # type: ignore[attr-defined]
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
    assert ENTRY.main() == 1
    assert calls[0] == "arm:secrets"
    assert "connect_nats:trstctl-secrets" in calls


def test_invalid_setting_fails_start_up_with_exit_2_and_the_name(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """TRSTCTL_NATS_MODE=sometimes is refused, naming the variable, exit code 2."""
    monkeypatch.setenv("TRSTCTL_NATS_MODE", "sometimes")
    assert ENTRY.main() == 2
    assert "TRSTCTL_NATS_MODE" in capsys.readouterr().err
