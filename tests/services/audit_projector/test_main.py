"""The audit-projector app: PostgreSQL in its health, a missing DSN named at start-up."""

from __future__ import annotations

import asyncio
import importlib

import pytest
from nats.aio.client import Client as NatsClient
from trstctl.audit_projector.app import MissingDatabase, build
from trstctl.runtime.service import HealthRegistry, ServiceContext
from trstctl.runtime.settings import load_settings

ENTRY = importlib.import_module("trstctl.audit_projector.__main__")


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
