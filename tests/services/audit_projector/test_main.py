"""`python -m trstctl.audit_projector`: guard armed before any connection; bad config exits 2."""

from __future__ import annotations

import asyncio
import importlib
import socket
import sys
import types

import pytest
from nats.aio.client import Client as NatsClient
from trstctl.audit_projector.app import MissingDatabase, build
from trstctl.runtime import service
from trstctl.runtime.service import HealthRegistry, ServiceContext
from trstctl.runtime.settings import load_settings

ENTRY = importlib.import_module("trstctl.audit_projector.__main__")


def test_entry_point_arms_the_guard_before_opening_any_connection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The guard is armed for 'audit-projector' before the first outgoing connect or NATS dial."""
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
    assert calls[0] == "arm:audit-projector"
    assert "connect_nats:trstctl-audit-projector" in calls


def test_invalid_setting_fails_start_up_with_exit_2_and_the_name(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """TRSTCTL_NATS_MODE=sometimes is refused, naming the variable, exit code 2."""
    monkeypatch.setenv("TRSTCTL_NATS_MODE", "sometimes")
    assert ENTRY.main() == 2
    assert "TRSTCTL_NATS_MODE" in capsys.readouterr().err


def _context(nc: NatsClient, **env: str) -> ServiceContext:
    settings = load_settings({"TRSTCTL_NATS_URL": "nats://127.0.0.1:1", **env})
    registry = HealthRegistry("audit-projector", started=True)
    return ServiceContext("audit-projector", settings, nc, registry, asyncio.Event())


async def test_projector_reports_postgres_in_health(nc: NatsClient, postgres_dsn: str) -> None:
    """The projector's health includes a live PostgreSQL check; stop closes the pool."""
    ctx = _context(nc, TRSTCTL_POSTGRES_DSN=postgres_dsn)
    app = await build(ctx)
    assert await ctx.health.report() == (True, {"postgres": True})
    await app.stop()
    assert await ctx.health.report() == (False, {"postgres": False})


async def test_projector_without_a_dsn_names_the_variable(nc: NatsClient) -> None:
    """Started without TRSTCTL_POSTGRES_DSN, the projector refuses to build and says why."""
    with pytest.raises(MissingDatabase, match="TRSTCTL_POSTGRES_DSN"):
        await build(_context(nc))
