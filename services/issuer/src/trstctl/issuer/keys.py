"""Where sealed CA keys live at run time: a PostgreSQL table, or files under the data dir.

Only sealed blobs (``trstctl.sealing``) are stored, never plaintext keys, and never in
the event log: destroying a row destroys the key, the log stays immutable. The table is
the issuer's own (no other service reads it) and lets several issuer replicas share
one CA.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

import asyncpg
from trstctl.issuer.errors import CaKeyExists, CaKeyMissing
from trstctl.issuer.keystore import CaKeyStore, KeyRole

SCHEMA = """
CREATE TABLE IF NOT EXISTS issuer_ca_keys (
    tenant     text        NOT NULL,
    ca_id      text        NOT NULL,
    role       text        NOT NULL CHECK (role IN ('root', 'issuing')),
    sealed     bytea       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, ca_id, role)
)
"""


class SealedKeyStore(Protocol):
    """Async store of sealed CA keys; a key is written once and never replaced."""

    async def put(self, tenant: str, ca_id: str, role: KeyRole, sealed: bytes) -> None: ...

    async def get(self, tenant: str, ca_id: str, role: KeyRole) -> bytes: ...

    async def discard(self, tenant: str, ca_id: str) -> None:
        """Remove the keys of a CA that never made it into the log (a failed init)."""
        ...

    async def list_cas(self) -> list[tuple[str, str]]:
        """Every ``(tenant, ca_id)`` with keys here."""
        ...


class PostgresKeyStore:
    """Sealed keys in the ``issuer_ca_keys`` table."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @classmethod
    async def open(cls, pool: asyncpg.Pool) -> PostgresKeyStore:
        async with pool.acquire() as conn:
            await conn.execute(SCHEMA)
        return cls(pool)

    async def put(self, tenant: str, ca_id: str, role: KeyRole, sealed: bytes) -> None:
        inserted = await self._pool.fetchval(
            "INSERT INTO issuer_ca_keys (tenant, ca_id, role, sealed) VALUES ($1, $2, $3, $4) "
            "ON CONFLICT DO NOTHING RETURNING 1",
            tenant,
            ca_id,
            role,
            sealed,
        )
        if inserted is None:
            raise CaKeyExists(f"a sealed {role} key for {tenant}/{ca_id} already exists")

    async def get(self, tenant: str, ca_id: str, role: KeyRole) -> bytes:
        sealed = await self._pool.fetchval(
            "SELECT sealed FROM issuer_ca_keys WHERE tenant = $1 AND ca_id = $2 AND role = $3",
            tenant,
            ca_id,
            role,
        )
        if sealed is None:
            raise CaKeyMissing(f"no sealed {role} key for {tenant}/{ca_id}")
        return bytes(sealed)

    async def list_cas(self) -> list[tuple[str, str]]:
        rows = await self._pool.fetch(
            "SELECT DISTINCT tenant, ca_id FROM issuer_ca_keys ORDER BY tenant, ca_id"
        )
        return [(row["tenant"], row["ca_id"]) for row in rows]

    async def discard(self, tenant: str, ca_id: str) -> None:
        await self._pool.execute(
            "DELETE FROM issuer_ca_keys WHERE tenant = $1 AND ca_id = $2", tenant, ca_id
        )


class SyncKeyStoreAdapter:
    """Runs a synchronous ``CaKeyStore`` (files, memory) off the event loop."""

    def __init__(self, store: CaKeyStore) -> None:
        self._store = store

    async def put(self, tenant: str, ca_id: str, role: KeyRole, sealed: bytes) -> None:
        await asyncio.to_thread(self._store.put, tenant, ca_id, role, sealed)

    async def get(self, tenant: str, ca_id: str, role: KeyRole) -> bytes:
        return await asyncio.to_thread(self._store.get, tenant, ca_id, role)

    async def list_cas(self) -> list[tuple[str, str]]:
        return await asyncio.to_thread(self._store.list_cas)

    async def discard(self, tenant: str, ca_id: str) -> None:
        discard = getattr(self._store, "discard", None)
        if discard is not None:
            await asyncio.to_thread(discard, tenant, ca_id)
