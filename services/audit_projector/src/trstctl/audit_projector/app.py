"""Composition root of the audit-projector (placeholder: connects to NATS and
PostgreSQL, reports both in ``/healthz``, stops). Its own issue adds the projections."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
from trstctl.runtime.service import ServiceContext


class MissingDatabase(RuntimeError):
    """The projector was started without ``TRSTCTL_POSTGRES_DSN``."""


@dataclass
class App:
    """The running projector and the connection pool it owns."""

    ctx: ServiceContext
    pool: asyncpg.Pool

    async def ping(self) -> bool:
        """PostgreSQL answers a trivial query."""
        async with self.pool.acquire(timeout=2) as conn:
            return bool(await conn.fetchval("SELECT 1", timeout=2) == 1)

    async def stop(self) -> None:
        """Close the pool (waits for queries in flight)."""
        await self.pool.close()


async def build(ctx: ServiceContext) -> App:
    """Open the PostgreSQL pool and make health depend on it."""
    if ctx.settings.postgres_dsn is None:
        raise MissingDatabase(
            "TRSTCTL_POSTGRES_DSN is not set; start services with `trstctl up` "
            "or point the projector at a database"
        )
    dsn = ctx.settings.postgres_dsn.get_secret_value()
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=4)
    app = App(ctx, pool)
    ctx.add_health_check("postgres", app.ping)
    return app
