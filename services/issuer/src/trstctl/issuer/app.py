"""Composition root of the issuer: KEK, key store, event store, CAs, command handlers.

Start-up fails (non-zero exit, reason logged) when the KEK file is missing or unsafe,
or when it cannot unseal a CA already in the log (a wrong KEK).
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
from trstctl.events.bus import NatsCommandBus
from trstctl.events.jetstream import JetStreamEventStore
from trstctl.events.ports import CommandBus, CommandServer, EventStore
from trstctl.issuer.cas import TenantCas
from trstctl.issuer.handlers import IssuerHandlers, utc_now
from trstctl.issuer.keys import PostgresKeyStore, SealedKeyStore, SyncKeyStoreAdapter
from trstctl.issuer.keystore import FileCaKeyStore
from trstctl.runtime.service import ServiceContext
from trstctl.runtime.settings import Settings
from trstctl.sealing import Kek, load_kek

SERVICE = "issuer"


@dataclass
class App:
    """The running issuer."""

    server: CommandServer
    handlers: IssuerHandlers
    pool: asyncpg.Pool | None

    async def stop(self) -> None:
        """Stop taking commands (in-flight ones finish), then close the key-store pool."""
        await self.server.stop()
        if self.pool is not None:
            await self.pool.close()


async def open_key_store(settings: Settings) -> tuple[SealedKeyStore, asyncpg.Pool | None]:
    """Sealed CA keys in PostgreSQL when a DSN is configured, else in files under the
    data dir (one machine only: replicas must share PostgreSQL)."""
    if settings.postgres_dsn is not None:
        pool = await asyncpg.create_pool(
            settings.postgres_dsn.get_secret_value(), min_size=1, max_size=4
        )
        return await PostgresKeyStore.open(pool), pool
    return SyncKeyStoreAdapter(FileCaKeyStore(settings.data_dir / "issuer" / "ca-keys")), None


async def start_issuer(
    store: EventStore, bus: CommandBus, keys: SealedKeyStore, kek: Kek
) -> tuple[IssuerHandlers, CommandServer]:
    """Unseal the known CAs, then serve the issuer commands on ``bus``. Tests call this
    with the in-memory fakes or with real NATS, without a process around it."""
    cas = TenantCas(store, keys, kek, clock=utc_now)
    await cas.unseal_all()
    handlers = IssuerHandlers(store, cas, clock=utc_now)
    server = await bus.serve(SERVICE, handlers.handlers())
    return handlers, server


async def build(ctx: ServiceContext) -> App:
    """Wire the issuer on ``ctx`` and start serving ``trstctl.cmd.issuer.*``."""
    settings = ctx.settings
    kek = load_kek(settings.resolved_kek_file)
    keys, pool = await open_key_store(settings)
    try:
        store = JetStreamEventStore(
            ctx.nats, stream=settings.nats_stream, timeout=settings.command_timeout_seconds
        )
        bus = NatsCommandBus(ctx.nats, default_timeout=settings.command_timeout_seconds)
        handlers, server = await start_issuer(store, bus, keys, kek)
    except BaseException:
        if pool is not None:
            await pool.close()
        raise
    return App(server, handlers, pool)
