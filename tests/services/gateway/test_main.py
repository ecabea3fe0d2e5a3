"""The gateway app: health JSON on its port, a taken port named, the pool in cleanup_ctx."""

from __future__ import annotations

import asyncio
import importlib
import socket

import aiohttp
import pytest
from aiohttp import web
from nats.aio.client import Client as NatsClient
from trstctl.gateway.app import PG_POOL, build, make_app
from trstctl.runtime.embedded import free_port
from trstctl.runtime.service import HealthRegistry, ServiceContext
from trstctl.runtime.settings import load_settings

ENTRY = importlib.import_module("trstctl.gateway.__main__")


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
