"""Revocation state per tenant CA, kept incrementally from the identity events.

Each issuing CA's ``RevocationIndex`` is a ``CaughtUpFold`` over its tenant's identity
events: before answering a CRL or OCSP request the issuer reads only the identity
events it has not seen yet, so another replica's revocation is never missed and history
is never rescanned.
"""

from __future__ import annotations

from datetime import datetime

from trstctl.events.ports import EventStore
from trstctl.events.subjects import aggregate_events
from trstctl.issuer import events as ev
from trstctl.issuer.ca import TenantCa
from trstctl.issuer.folds import CaughtUpFold
from trstctl.issuer.revocation import RevocationIndex, answer_ocsp, build_crl


class Revocations:
    """CRLs and OCSP answers from an up-to-date revocation index per issuing CA."""

    def __init__(self, store: EventStore) -> None:
        self._indexes = CaughtUpFold(store, RevocationIndex.evolve_all)

    async def index(self, ca: TenantCa) -> RevocationIndex:
        """The CA's index, caught up with the stream."""
        return await self._indexes.current(
            f"{ca.tenant}/{ca.ca_id}",
            aggregate_events(ev.IDENTITY, ca.tenant),
            lambda: RevocationIndex(ca.ca_id),
        )

    async def crl(self, ca: TenantCa, *, now: datetime) -> bytes:
        """A freshly signed DER CRL of what the tenant's issuing CA revoked (entries of
        certificates long expired left out, see ``RevocationIndex.entries``)."""
        index = await self.index(ca)
        return build_crl(ca, index.entries(now=now), now=now)

    async def ocsp(self, ca: TenantCa, request_der: bytes, *, now: datetime) -> bytes:
        """A signed DER OCSP response (RFC 6960) for one request."""
        return answer_ocsp(ca, request_der, await self.index(ca), now=now)
