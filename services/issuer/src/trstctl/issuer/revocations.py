"""Revocation state per tenant CA, kept incrementally from the identity events.

Each tenant's ``RevocationIndex`` is folded forward from the stream: before answering a
CRL or OCSP request the issuer reads only the identity events it has not seen yet
(``replay`` from its last sequence), so another replica's revocation is never missed
and history is never rescanned.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime

from trstctl.events.ports import EventStore
from trstctl.events.subjects import aggregate_events
from trstctl.issuer import events as ev
from trstctl.issuer.ca import TenantCa
from trstctl.issuer.revocation import RevocationIndex, answer_ocsp, build_crl


@dataclass
class _TenantIndex:
    index: RevocationIndex
    last_seq: int = 0


class Revocations:
    """CRLs and OCSP answers from an up-to-date revocation index per tenant."""

    def __init__(self, store: EventStore) -> None:
        self._store = store
        self._tenants: dict[str, _TenantIndex] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def index(self, ca: TenantCa) -> RevocationIndex:
        """The tenant's index, caught up with the stream."""
        lock = self._locks.setdefault(ca.tenant, asyncio.Lock())
        async with lock:
            current = self._tenants.get(ca.tenant)
            if current is None or current.index.ca_id != ca.ca_id:
                current = self._tenants[ca.tenant] = _TenantIndex(RevocationIndex(ca.ca_id))
            subjects = aggregate_events(ev.IDENTITY, ca.tenant)
            async for stored in self._store.replay(current.last_seq + 1, subjects):
                current.index = current.index.evolve(stored.envelope.data)
                current.last_seq = stored.stream_seq
            return current.index

    async def crl(self, ca: TenantCa, *, now: datetime) -> bytes:
        """A freshly signed DER CRL of everything the tenant's issuing CA revoked."""
        index = await self.index(ca)
        return build_crl(ca, index.entries(), now=now)

    async def ocsp(self, ca: TenantCa, request_der: bytes, *, now: datetime) -> bytes:
        """A signed DER OCSP response (RFC 6960) for one request."""
        return answer_ocsp(ca, request_der, await self.index(ca), now=now)
