"""Each tenant's CA at run time: created once, sealed at rest, unsealed into memory.

The CA aggregate (``ca/tenant_ca`` of a tenant) holds the public certificates; the
sealed private keys are in the ``SealedKeyStore``. Start-up unseals every known CA, so
a wrong or missing KEK stops the issuer at once rather than at the first issuance.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import Callable
from datetime import datetime, timedelta

from trstctl.events.envelope import EventContext
from trstctl.events.ports import EventStore
from trstctl.events.repository import Executed, Repository
from trstctl.issuer import events as ev
from trstctl.issuer.ca import (
    CaSigner,
    KeyAlgorithm,
    PrivateKey,
    TenantCa,
    build_tenant_ca,
    private_key_der,
)
from trstctl.issuer.commands import InitializeCa
from trstctl.issuer.decision import Decision
from trstctl.issuer.errors import CaAlreadyInitialized
from trstctl.issuer.keys import SealedKeyStore
from trstctl.issuer.keystore import ROLES, KeyRole, MemoryCaKeyStore, key_aad, load_ca
from trstctl.issuer.tenant import CaState, decide_ca, evolve_ca, precheck_ca
from trstctl.sealing import Kek, seal

Clock = Callable[[], datetime]


class TenantCas:
    """Unsealed CAs by tenant, and their creation."""

    def __init__(self, store: EventStore, keys: SealedKeyStore, kek: Kek, clock: Clock) -> None:
        self.repository: Repository[CaState] = Repository(
            store, aggregate=ev.CA, initial=lambda _: CaState(), evolve=evolve_ca
        )
        self._store = store
        self._keys = keys
        self._kek = kek
        self._clock = clock
        self._signers: dict[str, CaSigner] = {}
        self._creating: dict[str, asyncio.Lock] = {}

    async def unseal_all(self) -> int:
        """Unseal every CA whose keys this issuer holds, proving the KEK at start-up: a
        wrong KEK raises ``SealError`` (``seal_wrong_kek``) before any command is served.
        Keys of a CA the log does not know (a failed initialisation) are skipped."""
        count = 0
        for tenant, ca_id in await self._keys.list_cas():
            loaded = await self.repository.load(tenant, ev.CA_ID, cached=False)
            initialized = loaded.state.initialized
            if initialized is not None and initialized.ca_id == ca_id:
                await self._unseal(tenant, initialized)
                count += 1
        return count

    async def _unseal(self, tenant: str, initialized: ev.CaInitialized) -> CaSigner:
        sealed = MemoryCaKeyStore()
        for role in ROLES:
            blob = await self._keys.get(tenant, initialized.ca_id, role)
            sealed.put(tenant, initialized.ca_id, role, blob)
        ca = load_ca(
            sealed,
            self._kek,
            tenant=tenant,
            ca_id=initialized.ca_id,
            algorithm=KeyAlgorithm(initialized.algorithm),
            root_certificate_der=base64.b64decode(initialized.root_certificate_der),
            issuing_certificate_der=base64.b64decode(initialized.issuing_certificate_der),
        )
        signer = CaSigner(ca)
        self._signers[tenant] = signer
        return signer

    async def signer(self, tenant: str) -> CaSigner | None:
        """The tenant's signer, or ``None`` if the tenant has no CA yet."""
        if (signer := self._signers.get(tenant)) is not None:
            return signer
        loaded = await self.repository.load(tenant, ev.CA_ID, cached=False)
        if loaded.state.initialized is None:
            return None
        return await self._unseal(tenant, loaded.state.initialized)

    async def initialize(
        self, tenant: str, command: InitializeCa, context: EventContext
    ) -> Executed[CaState, Decision]:
        """Build, seal and record a tenant CA (once). Keys are stored before the event is
        appended; if the append loses (another replica initialised first), they are
        discarded again, so no orphan key stays behind."""
        existing = await self.repository.load(tenant, ev.CA_ID, cached=False)
        early = precheck_ca(existing.state, command, tenant=tenant)
        if early is not None:
            return Executed(existing.state, early, existing.last_seq)
        built = await asyncio.to_thread(
            build_tenant_ca,
            tenant,
            now=self._clock(),
            algorithm=command.algorithm,
            root_ttl=timedelta(days=command.root_ttl_days),
            issuing_ttl=timedelta(days=command.issuing_ttl_days),
        )
        try:
            await self._store_keys(built)
            executed = await self.repository.execute(
                tenant,
                ev.CA_ID,
                lambda s: decide_ca(s, command, tenant=tenant, built=built),
                context,
            )
        except BaseException:
            await self._keys.discard(tenant, built.ca_id)
            raise
        if executed.decision.events:
            self._signers[tenant] = CaSigner(built)
        else:
            await self._keys.discard(tenant, built.ca_id)
        return executed

    async def ensure(self, tenant: str, context: EventContext) -> CaSigner:
        """The tenant's signer, creating the default CA on first issuance."""
        signer = await self.signer(tenant)
        if signer is not None:
            return signer
        # One creation per tenant at a time here; another replica may still win the race,
        # which is fine: its CA is the tenant's CA, and ours is discarded.
        async with self._creating.setdefault(tenant, asyncio.Lock()):
            if (signer := self._signers.get(tenant)) is not None:
                return signer
            with contextlib.suppress(CaAlreadyInitialized):
                await self.initialize(tenant, InitializeCa(), context)
        signer = await self.signer(tenant)
        assert signer is not None  # initialised above, by us or by a concurrent replica
        return signer

    async def _store_keys(self, ca: TenantCa) -> None:
        keys: tuple[tuple[KeyRole, PrivateKey], ...] = (
            ("root", ca.root_key),
            ("issuing", ca.issuing_key),
        )
        for role, key in keys:
            blob = seal(self._kek, private_key_der(key), key_aad(ca.tenant, ca.ca_id, role))
            await self._keys.put(ca.tenant, ca.ca_id, role, blob)
