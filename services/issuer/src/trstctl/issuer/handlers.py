"""Issuer command handlers: parse → load → decide → append → reply.

A business ``if`` here is misplaced: rules live in ``domain``/``owners``/``tenant``.
Replies are JSON-able dicts (``views``) that the gateway passes through unchanged; each
carries ``stream_seq`` (the aggregate's last event) so a client can read its own write.
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import BaseModel
from trstctl.events.envelope import EventContext
from trstctl.events.errors import InvalidCommand
from trstctl.events.ports import CommandHandler, CommandRequest, CommandResult, EventStore
from trstctl.events.repository import Repository
from trstctl.events.subjects import aggregate_events
from trstctl.issuer import events as ev
from trstctl.issuer.cas import TenantCas
from trstctl.issuer.commands import (
    CompleteRenewal,
    CreateOwner,
    DefineProfile,
    DeleteOwner,
    InitializeCa,
    IssueCertificate,
    MarkDeployed,
    RequestIdentity,
    RetireIdentity,
    RevokeIdentity,
    StartRenewal,
    UpdateOwner,
)
from trstctl.issuer.domain import (
    IdentityCommand,
    IdentityContext,
    IdentityState,
    decide_identity,
    evolve_identity,
    will_sign,
)
from trstctl.issuer.errors import CaNotInitialized, IdentityNotFound, ProfileNotFound
from trstctl.issuer.folds import CaughtUpFold
from trstctl.issuer.owners import OwnerDirectory, OwnerUsage, decide_owner, evolve_owner
from trstctl.issuer.revocations import Revocations
from trstctl.issuer.tenant import ProfileState, decide_profile, effective_profile, evolve_profile
from trstctl.issuer.views import (
    ca_view,
    identity_reply,
    identity_view,
    owner_view,
    owners_view,
    profile_view,
)

M = TypeVar("M", bound=BaseModel)
# Requests and issuances consult a profile every time; a profile redefined on another
# replica is seen here within this many seconds (redefinitions on this replica at once).
PROFILE_MAX_AGE_SECONDS = 5.0
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def _parse(model: type[M], request: CommandRequest) -> M:
    """Validate the payload; the bus-level idempotency key fills in when the payload has none."""
    payload = dict(request.payload)
    if request.idempotency_key and "idempotency_key" in model.model_fields:
        payload.setdefault("idempotency_key", request.idempotency_key)
    return model.model_validate(payload)


def _context(request: CommandRequest) -> EventContext:
    return EventContext(
        tenant=request.tenant,
        actor=request.actor,
        correlation_id=request.correlation_id,
        causation_id=request.command_id,
    )


def _generates_rsa_key(command: IdentityCommand, ctx: IdentityContext) -> bool:
    """RSA key generation takes up to a second: that decision runs in a worker thread so
    the event loop keeps serving. (P-256 signing is faster than the hand-off: measured.)"""
    if not isinstance(command, IssueCertificate | CompleteRenewal) or command.has_csr:
        return False
    algorithm = command.key_algorithm or (
        ctx.profile.generated_key_algorithm if ctx.profile is not None else None
    )
    return algorithm is not None and algorithm.value.startswith("rsa")


class IssuerHandlers:
    """Every ``trstctl.cmd.issuer.*`` command, over an event store and the tenant CAs."""

    def __init__(self, store: EventStore, cas: TenantCas, *, clock: Clock = utc_now) -> None:
        self._clock = clock
        self._cas = cas
        self.owners: Repository[OwnerDirectory] = Repository(
            store,
            aggregate=ev.OWNER_DIRECTORY,
            initial=lambda _: OwnerDirectory(),
            evolve=evolve_owner,
        )
        self.identities: Repository[IdentityState] = Repository(
            store, aggregate=ev.IDENTITY, initial=IdentityState, evolve=evolve_identity
        )
        self.profiles: Repository[ProfileState] = Repository(
            store, aggregate=ev.PROFILE, initial=ProfileState, evolve=evolve_profile
        )
        self.revocations = Revocations(store)
        self._owner_usage = CaughtUpFold(store, OwnerUsage.evolve_all)

    def handlers(self) -> Mapping[str, CommandHandler]:
        """Wire name → handler, for ``CommandBus.serve("issuer", ...)``."""
        table: dict[str, Callable[[CommandRequest], Awaitable[CommandResult]]] = {
            "create_owner": self.owner_command(CreateOwner),
            "update_owner": self.owner_command(UpdateOwner),
            "delete_owner": self.owner_command(DeleteOwner),
            "list_owners": self.list_owners,
            "define_profile": self.define_profile,
            "get_profile": self.get_profile,
            "initialize_ca": self.initialize_ca,
            "get_ca": self.get_ca,
            "request_identity": self.identity_command(RequestIdentity),
            "issue_certificate": self.identity_command(IssueCertificate),
            "mark_deployed": self.identity_command(MarkDeployed),
            "start_renewal": self.identity_command(StartRenewal),
            "complete_renewal": self.identity_command(CompleteRenewal),
            "revoke_identity": self.identity_command(RevokeIdentity),
            "retire_identity": self.identity_command(RetireIdentity),
            "get_identity": self.get_identity,
            "get_crl": self.get_crl,
            "ocsp": self.ocsp,
        }
        return table

    # -- owners ---------------------------------------------------------------------------
    def owner_command(
        self, model: type[CreateOwner] | type[UpdateOwner] | type[DeleteOwner]
    ) -> CommandHandler:
        async def handle(request: CommandRequest) -> CommandResult:
            command = _parse(model, request)
            live = (
                await self._live_identities(request.tenant, command.owner_id)
                if isinstance(command, DeleteOwner)
                else 0
            )
            done = await self.owners.execute(
                request.tenant,
                ev.OWNER_DIRECTORY_ID,
                lambda state: decide_owner(state, command, live_identities=live),
                _context(request),
            )
            owner = done.state.owners.get(command.owner_id)
            result: dict[str, Any] = {
                "owner_id": command.owner_id,
                "deleted": owner is None,
                "replayed": done.decision.replayed,
            }
            if owner is not None:
                result.update(owner_view(owner))
            return CommandResult(result, done.last_seq)

        return handle

    async def _live_identities(self, tenant: str, owner_id: str) -> int:
        """Identities of the owner that are not retired, as of the end of the stream now.
        (An identity another replica requests for this owner while the delete is being
        appended can slip past: the window is one append.)"""
        usage = await self._owner_usage.current(
            tenant, aggregate_events(ev.IDENTITY, tenant), OwnerUsage
        )
        return usage.live.get(owner_id, 0)

    async def list_owners(self, request: CommandRequest) -> CommandResult:
        loaded = await self.owners.load(request.tenant, ev.OWNER_DIRECTORY_ID, cached=False)
        return CommandResult(owners_view(loaded.state), loaded.last_seq)

    # -- profiles and the CA ----------------------------------------------------------------
    async def define_profile(self, request: CommandRequest) -> CommandResult:
        command = _parse(DefineProfile, request)
        done = await self.profiles.execute(
            request.tenant,
            command.profile.name,
            lambda state: decide_profile(state, command),
            _context(request),
        )
        profile = effective_profile(done.state)
        assert profile is not None  # just defined
        return CommandResult(
            {**profile_view(profile), "replayed": done.decision.replayed}, done.last_seq
        )

    async def get_profile(self, request: CommandRequest) -> CommandResult:
        name = str(request.payload.get("name", "default"))
        loaded = await self.profiles.load(request.tenant, name, cached=False)
        profile = effective_profile(loaded.state)
        if profile is None:
            raise ProfileNotFound(f"no profile {name!r}", profile=name)
        return CommandResult(profile_view(profile), loaded.last_seq)

    async def initialize_ca(self, request: CommandRequest) -> CommandResult:
        command = _parse(InitializeCa, request)
        done = await self._cas.initialize(request.tenant, command, _context(request))
        return CommandResult(
            {**ca_view(done.state), "replayed": done.decision.replayed}, done.last_seq
        )

    async def get_ca(self, request: CommandRequest) -> CommandResult:
        loaded = await self._cas.repository.load(request.tenant, ev.CA_ID, cached=False)
        return CommandResult(ca_view(loaded.state), loaded.last_seq)

    # -- identities -------------------------------------------------------------------------
    def identity_command(self, model: type[IdentityCommand]) -> CommandHandler:
        async def handle(request: CommandRequest) -> CommandResult:
            command = _parse(model, request)
            context = _context(request)
            ctx = await self._identity_context(request.tenant, command, context)
            done = await self.identities.execute(
                request.tenant,
                command.identity_id,
                lambda state: decide_identity(state, command, ctx),
                context,
                decide_in_thread=_generates_rsa_key(command, ctx),
            )
            return CommandResult(identity_reply(done.state, done.decision), done.last_seq)

        return handle

    async def _identity_context(
        self, tenant: str, command: IdentityCommand, context: EventContext
    ) -> IdentityContext:
        """Gather what the decision may consult: owners for a request, the profile and
        the signer for an issuance (creating the tenant CA on first issuance)."""
        now = self._clock()
        if isinstance(command, RequestIdentity):
            owners = await self.owners.load(tenant, ev.OWNER_DIRECTORY_ID, cached=False)
            profile = await self.profiles.load(
                tenant, command.profile, max_age=PROFILE_MAX_AGE_SECONDS
            )
            return IdentityContext(
                tenant, now, profile=effective_profile(profile.state), owners=owners.state
            )
        if isinstance(command, IssueCertificate | CompleteRenewal):
            identity = await self.identities.load(tenant, command.identity_id)
            profile = await self.profiles.load(
                tenant, identity.state.profile, max_age=PROFILE_MAX_AGE_SECONDS
            )
            signer = (
                await self._cas.ensure(tenant, context)
                if will_sign(identity.state, command)
                else None
            )
            return IdentityContext(
                tenant, now, profile=effective_profile(profile.state), signer=signer
            )
        return IdentityContext(tenant, now)

    async def get_identity(self, request: CommandRequest) -> CommandResult:
        identity_id = str(request.payload.get("identity_id", ""))
        if not identity_id:
            raise InvalidCommand("identity_id is required")
        loaded = await self.identities.load(request.tenant, identity_id, cached=False)
        if loaded.state.status is None:
            raise IdentityNotFound(f"no identity {identity_id}", identity_id=identity_id)
        return CommandResult(identity_view(loaded.state), loaded.last_seq)

    # -- revocation status ------------------------------------------------------------------
    async def get_crl(self, request: CommandRequest) -> CommandResult:
        signer = await self._cas.signer(request.tenant)
        if signer is None:
            raise CaNotInitialized(f"tenant {request.tenant} has no CA yet", tenant=request.tenant)
        crl = await self.revocations.crl(signer.ca, now=self._clock())
        return CommandResult({"crl_der": base64.b64encode(crl).decode()})

    async def ocsp(self, request: CommandRequest) -> CommandResult:
        raw = request.payload.get("request_der")
        if not isinstance(raw, str):
            raise InvalidCommand("request_der (base64 DER OCSP request) is required")
        try:
            der = base64.b64decode(raw, validate=True)
        except ValueError as e:  # binascii.Error, or text that is not even ASCII
            raise InvalidCommand("request_der is not base64") from e
        signer = await self._cas.signer(request.tenant)
        if signer is None:
            raise CaNotInitialized(f"tenant {request.tenant} has no CA yet", tenant=request.tenant)
        response = await self.revocations.ocsp(signer.ca, der, now=self._clock())
        return CommandResult({"response_der": base64.b64encode(response).decode()})
