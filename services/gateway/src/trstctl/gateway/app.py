"""Composition root of the gateway: the aiohttp application and its listener."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
from aiohttp import web
from trstctl.gateway.routes import routes
from trstctl.runtime.service import ServiceContext

CONTEXT = web.AppKey("context", ServiceContext)
# None when no database is configured: routes that read projections answer 503 then.
PG_POOL: web.AppKey[asyncpg.Pool | None] = web.AppKey("pg_pool")


async def _pg_pool(app: web.Application) -> AsyncIterator[None]:
    # The gateway reads projections; the pool lives exactly as long as the application.
    dsn = app[CONTEXT].settings.postgres_dsn
    pool = None
    if dsn is not None:
        pool = await asyncpg.create_pool(dsn.get_secret_value(), min_size=1, max_size=8)
    app[PG_POOL] = pool
    yield
    if pool is not None:
        await pool.close()


def make_app(ctx: ServiceContext) -> web.Application:
    """The gateway's aiohttp application (no listener: tests drive it with a test client)."""
    app = web.Application()
    app[CONTEXT] = ctx
    app.cleanup_ctx.append(_pg_pool)
    app.add_routes(routes)
    return app


@dataclass
class App:
    """The gateway application bound to ``gateway_host:gateway_port``."""

    runner: web.AppRunner

    async def stop(self) -> None:
        """Stop listening and run the cleanup contexts (closes the pool)."""
        await self.runner.cleanup()


async def build(ctx: ServiceContext) -> App:
    """Start the HTTP listener; a taken port fails start-up naming TRSTCTL_GATEWAY_PORT."""
    settings = ctx.settings
    runner = web.AppRunner(make_app(ctx), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, settings.gateway_host, settings.gateway_port).start()
    except OSError as e:
        await runner.cleanup()
        raise OSError(
            e.errno,
            f"gateway cannot listen on {settings.gateway_host}:{settings.gateway_port} "
            f"({e.strerror}); set TRSTCTL_GATEWAY_PORT to a free port",
        ) from e
    return App(runner)
