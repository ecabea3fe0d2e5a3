"""`python -m trstctl.gateway`: guard armed before any connection; bad config exits 2."""

from __future__ import annotations

import asyncio
import importlib
import socket
import sys
import types

import aiohttp
import pytest
from aiohttp import web
from nats.aio.client import Client as NatsClient
from trstctl.gateway.app import PG_POOL, build, make_app
from trstctl.runtime import service
from trstctl.runtime.embedded import free_port
from trstctl.runtime.service import HealthRegistry, ServiceContext
from trstctl.runtime.settings import load_settings

ENTRY = importlib.import_module("trstctl.gateway.__main__")


def test_entry_point_arms_the_guard_before_opening_any_connection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The guard is armed for 'gateway' before the first outgoing connect or NATS dial."""
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
    assert calls[0] == "arm:gateway"
    assert "connect_nats:trstctl-gateway" in calls


def test_invalid_setting_fails_start_up_with_exit_2_and_the_name(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """TRSTCTL_NATS_MODE=sometimes is refused, naming the variable, exit code 2."""
    monkeypatch.setenv("TRSTCTL_NATS_MODE", "sometimes")
    assert ENTRY.main() == 2
    assert "TRSTCTL_NATS_MODE" in capsys.readouterr().err


def _context(nc: NatsClient, **env: str) -> ServiceContext:
    settings = load_settings({"TRSTCTL_NATS_URL": "nats://127.0.0.1:1", **env})
    return ServiceContext("gateway", settings, nc, HealthRegistry("gateway"), asyncio.Event())


async def test_gateway_healthz_answers_json_on_its_port(nc: NatsClient) -> None:
    """GET /healthz on gateway_host:gateway_port returns {"status":"ok","service":"gateway"}."""
    port = free_port()
    app = await build(_context(nc, TRSTCTL_GATEWAY_PORT=str(port)))
    try:
        url = f"http://127.0.0.1:{port}/healthz"
        async with aiohttp.ClientSession() as http, http.get(url) as response:
            assert response.status == 200
            assert await response.json() == {"status": "ok", "service": "gateway"}
    finally:
        await app.stop()


async def test_gateway_port_in_use_names_the_variable(nc: NatsClient) -> None:
    """A taken gateway port fails start-up with a message naming TRSTCTL_GATEWAY_PORT."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(OSError, match="TRSTCTL_GATEWAY_PORT"):
            await build(_context(nc, TRSTCTL_GATEWAY_PORT=str(port)))


async def test_cleanup_ctx_owns_the_postgres_pool(nc: NatsClient, postgres_dsn: str) -> None:
    """The pool opens with the application and closes with it."""
    app = make_app(_context(nc, TRSTCTL_POSTGRES_DSN=postgres_dsn))
    runner = web.AppRunner(app)
    await runner.setup()
    pool = app[PG_POOL]
    assert pool is not None
    assert await pool.fetchval("SELECT 1") == 1
    await runner.cleanup()
    assert pool.is_closing()
