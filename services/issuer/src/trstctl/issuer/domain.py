"""The issuer's rules, pure: state dataclasses, ``decide_*`` (state + command -> events)
and ``evolve_*`` (state + event -> state). No I/O, no clock, no randomness of its own:
``now`` is passed in and signing is a ``LeafSigner`` capability passed in, so a test
can run every rule with a fake signer and a fixed time.

How a handler uses it: load the aggregate (replay its subject, ``evolve_*``), call
``decide_*``, append ``decision.events`` with the loaded sequence as the expected one,
reply with a view (``trstctl.issuer.views``). On a ``ConcurrencyConflict`` it reloads
and decides again: the second writer then meets the new state (e.g. ``issued``) and is
refused, or recognises its own idempotency key and returns the first result.

A ``Decision`` with no events and ``replayed=True`` means "already done": the handler
appends nothing and replies with the current state.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from trstctl.events.registry import EventData
from trstctl.issuer import events as ev
from trstctl.issuer.ca import (
    LeafSpec,
    SignedLeaf,
    algorithm_info,
    csr_names,
    describe_public_key,
    parse_csr,
)
from trstctl.issuer.commands import (
    CompleteRenewal,
    IssueCertificate,
    MarkDeployed,
    RequestIdentity,
    RetireIdentity,
    RevokeIdentity,
    StartRenewal,
)
from trstctl.issuer.decision import Decision, IdempotencyRecord, remember, replayed
from trstctl.issuer.errors import (
    CaNotInitialized,
    IdentityExists,
    IdentityNotFound,
    InvalidTransition,
    OwnerNotFound,
    ProfileNotFound,
    ProfileViolation,
    TenantMismatch,
    TtlExceedsMaximum,
)
from trstctl.issuer.owners import (
    Owner,
    OwnerDirectory,
    decide_owner,
    evolve_owner,
    owner_name_key,
)
from trstctl.issuer.profiles import (
    DEFAULT_PROFILE,
    CertificateProfile,
    check_dns_name,
    check_key,
    check_names,
    validity,
)
from trstctl.issuer.tenant import (
    CaState,
    ProfileState,
    decide_ca,
    decide_profile,
    effective_profile,
    evolve_ca,
    evolve_profile,
)

# The owner, CA and profile rules live in ``owners`` and ``tenant``; they are
# re-exported so a handler finds every decision here.
__all__ = [
    "EDGES",
    "CaState",
    "CertificateRef",
    "Decision",
    "IdentityCommand",
    "IdentityContext",
    "IdentityState",
    "IdentityStatus",
    "LeafSigner",
    "Owner",
    "OwnerDirectory",
    "ProfileState",
    "decide_ca",
    "decide_identity",
    "decide_owner",
    "decide_profile",
    "effective_profile",
    "evolve_ca",
    "evolve_identity",
    "evolve_owner",
    "evolve_profile",
    "owner_name_key",
]


# --- identities -----------------------------------------------------------------------


class IdentityStatus(StrEnum):
    REQUESTED = "requested"
    ISSUED = "issued"
    DEPLOYED = "deployed"
    RENEWING = "renewing"
    REVOKED = "revoked"
    RETIRED = "retired"


S = IdentityStatus
# RFC 5280's ub-common-name: a longer CN cannot be put in a certificate's subject.
MAX_COMMON_NAME = 64
# The lifecycle, whole: each edge and the one command that walks it. Anything else is
# ``invalid_transition``. ``renewing -> deployed`` issues the replacement certificate.
EDGES: Mapping[tuple[IdentityStatus | None, IdentityStatus], str] = {
    (None, S.REQUESTED): "request_identity",
    (S.REQUESTED, S.ISSUED): "issue_certificate",
    (S.ISSUED, S.DEPLOYED): "mark_deployed",
    (S.DEPLOYED, S.RENEWING): "start_renewal",
    (S.RENEWING, S.DEPLOYED): "complete_renewal",
    (S.ISSUED, S.REVOKED): "revoke_identity",
    (S.DEPLOYED, S.REVOKED): "revoke_identity",
    (S.RENEWING, S.REVOKED): "revoke_identity",
    (S.REVOKED, S.RETIRED): "retire_identity",
}


@dataclass(frozen=True)
class CertificateRef:
    serial: str
    fingerprint_sha256: str
    not_before: datetime
    not_after: datetime
    ca_id: str
    certificate_der: str  # base64


@dataclass(frozen=True)
class IdentityState:
    identity_id: str
    status: IdentityStatus | None = None
    kind: ev.IdentityKind = ev.IdentityKind.X509_CERTIFICATE
    owner_id: str = ""
    profile: str = DEFAULT_PROFILE
    common_name: str | None = None
    dns_names: tuple[str, ...] = ()
    ip_addresses: tuple[str, ...] = ()
    ttl_seconds: int | None = None
    current: CertificateRef | None = None
    certificates: tuple[CertificateRef, ...] = ()
    revocation_reason: ev.RevocationReason | None = None
    revoked_at: datetime | None = None
    idempotency: IdempotencyRecord = field(default_factory=dict)


class LeafSigner(Protocol):
    """The signing capability ``decide_identity`` is handed (``ca.CaSigner`` for real)."""

    @property
    def tenant(self) -> str: ...

    @property
    def ca_id(self) -> str: ...

    @property
    def not_after(self) -> datetime: ...

    def sign(self, spec: LeafSpec) -> SignedLeaf: ...


@dataclass(frozen=True)
class IdentityContext:
    """What a decision on an identity may consult besides its own state: the tenant,
    the time, the identity's (current) profile, the owners, and the signer."""

    tenant: str
    now: datetime
    profile: CertificateProfile | None = None
    owners: OwnerDirectory | None = None
    signer: LeafSigner | None = None


IdentityCommand = (
    RequestIdentity
    | IssueCertificate
    | MarkDeployed
    | StartRenewal
    | CompleteRenewal
    | RevokeIdentity
    | RetireIdentity
)
_TARGET: Mapping[type[IdentityCommand], tuple[IdentityStatus, type[EventData], str]] = {
    RequestIdentity: (S.REQUESTED, ev.IdentityRequested, "request_identity"),
    IssueCertificate: (S.ISSUED, ev.IdentityIssued, "issue_certificate"),
    MarkDeployed: (S.DEPLOYED, ev.IdentityDeployed, "mark_deployed"),
    StartRenewal: (S.RENEWING, ev.IdentityRenewalStarted, "start_renewal"),
    CompleteRenewal: (S.DEPLOYED, ev.IdentityRenewed, "complete_renewal"),
    RevokeIdentity: (S.REVOKED, ev.IdentityRevoked, "revoke_identity"),
    RetireIdentity: (S.RETIRED, ev.IdentityRetired, "retire_identity"),
}


def will_sign(state: IdentityState, command: IdentityCommand) -> bool:
    """Whether ``command`` would sign a certificate if its checks pass: an issuance or a
    renewal on an edge the lifecycle allows. The handler creates a tenant's CA (on first
    issuance) only then, so a refused command never creates one."""
    if not isinstance(command, IssueCertificate | CompleteRenewal):
        return False
    target, _, via = _TARGET[type(command)]
    return EDGES.get((state.status, target)) == via


def decide_identity(
    state: IdentityState, command: IdentityCommand, ctx: IdentityContext
) -> Decision:
    """Walk one lifecycle edge, producing exactly one event, or raise a typed error and
    produce none. A replayed idempotency key returns ``replayed`` with no event."""
    target, event_model, via = _TARGET[type(command)]
    if replayed(state.idempotency, command, event_model.event_type):
        return Decision(replayed=True)
    if isinstance(command, RequestIdentity):
        if state.status is not None:
            raise IdentityExists(
                f"identity {state.identity_id} exists", identity_id=state.identity_id
            )
        return Decision((_request(state, command, ctx),))
    if state.status is None:
        raise IdentityNotFound(f"no identity {state.identity_id}", identity_id=state.identity_id)
    if EDGES.get((state.status, target)) != via:
        raise InvalidTransition(
            state.status.value, target.value, via=via, identity_id=state.identity_id
        )
    if isinstance(command, IssueCertificate | CompleteRenewal):
        return _issue(state, command, ctx)
    current = state.current
    assert current is not None  # every state the remaining edges leave holds a certificate
    if isinstance(command, MarkDeployed):
        event: EventData = ev.IdentityDeployed(
            identity_id=state.identity_id,
            serial=current.serial,
            target=command.target,
            **command.idempotency(),
        )
    elif isinstance(command, StartRenewal):
        event = ev.IdentityRenewalStarted(
            identity_id=state.identity_id,
            serial=current.serial,
            reason=command.reason,
            **command.idempotency(),
        )
    elif isinstance(command, RevokeIdentity):
        event = ev.IdentityRevoked(
            identity_id=state.identity_id,
            ca_id=current.ca_id,
            serials=_still_valid_serials(state, ctx.now),
            reason=command.reason,
            revoked_at=ctx.now,
            **command.idempotency(),
        )
    else:
        event = ev.IdentityRetired(identity_id=state.identity_id, **command.idempotency())
    return Decision((event,))


def _still_valid_serials(state: IdentityState, now: datetime) -> tuple[str, ...]:
    """Revoking an identity revokes every certificate of it that has not yet expired,
    not just the current one: a superseded certificate may still be deployed somewhere."""
    return tuple(c.serial for c in state.certificates if c.not_after > now)


def _require_profile(ctx: IdentityContext, name: str) -> CertificateProfile:
    if ctx.profile is None or ctx.profile.name != name:
        raise ProfileNotFound(f"no certificate profile {name!r}", profile=name)
    return ctx.profile


def _request(state: IdentityState, command: RequestIdentity, ctx: IdentityContext) -> EventData:
    """A new identity names an existing owner and only names its profile allows; the
    common name, if any, is a DNS name that is also put among the SANs."""
    if ctx.owners is None or command.owner_id not in ctx.owners.owners:
        raise OwnerNotFound(f"no owner {command.owner_id}", owner_id=command.owner_id)
    profile = _require_profile(ctx, command.profile)
    cn = check_dns_name(profile, command.common_name) if command.common_name else None
    if cn is not None and len(cn) > MAX_COMMON_NAME:
        # Refused now: the certificate's subject could never carry it, so a later
        # issuance of this identity would always fail.
        raise ProfileViolation(
            f"a common name has at most {MAX_COMMON_NAME} characters (RFC 5280); "
            "put a longer name among dns_names",
            rule="common_name_too_long",
            value=cn,
            maximum=MAX_COMMON_NAME,
        )
    dns, ips = check_names(
        profile, (*((cn,) if cn else ()), *command.dns_names), command.ip_addresses
    )
    if command.ttl_seconds is not None and command.ttl_seconds > profile.max_ttl_seconds:
        raise TtlExceedsMaximum(
            f"TTL {command.ttl_seconds}s exceeds the maximum of {profile.max_ttl_seconds}s",
            rule="ttl_exceeds_maximum",
            requested_seconds=command.ttl_seconds,
            maximum_seconds=profile.max_ttl_seconds,
        )
    return ev.IdentityRequested(
        identity_id=state.identity_id,
        kind=command.kind,
        owner_id=command.owner_id,
        profile=profile.name,
        common_name=cn,
        dns_names=dns,
        ip_addresses=ips,
        ttl_seconds=command.ttl_seconds,
        **command.idempotency(),
    )


def _issue(
    state: IdentityState, command: IssueCertificate | CompleteRenewal, ctx: IdentityContext
) -> Decision:
    """Sign the identity's certificate (first issue or renewal). The names are re-checked
    against the profile as it is now, which may have been tightened since the request; a
    CSR may ask for no name the identity was not granted and must carry an allowed key."""
    signer = ctx.signer
    if signer is None:
        raise CaNotInitialized(f"tenant {ctx.tenant} has no CA yet", tenant=ctx.tenant)
    if signer.tenant != ctx.tenant:
        raise TenantMismatch(
            f"the CA of tenant {signer.tenant!r} does not sign for tenant {ctx.tenant!r}",
            ca_tenant=signer.tenant,
            tenant=ctx.tenant,
        )
    profile = _require_profile(ctx, state.profile)
    dns, ips = check_names(profile, state.dns_names, state.ip_addresses)
    public_key = None
    generate = None
    if (sent := command.csr) is not None:
        csr = parse_csr(sent)
        public_key = csr.public_key()  # decoded anew on every call: once is enough
        check_key(profile, describe_public_key(public_key))
        cn, csr_dns, csr_ips = csr_names(csr)
        asked = {check_dns_name(profile, n) for n in (*csr_dns, *((cn,) if cn else ()))}
        extra = sorted(asked - set(dns)) + sorted(set(csr_ips) - set(ips))
        if extra:
            raise ProfileViolation(
                "the CSR asks for names this identity was not granted",
                rule="csr_name_not_requested",
                value=extra,
            )
    else:
        generate = command.key_algorithm or profile.generated_key_algorithm
        check_key(profile, algorithm_info(generate))
    not_before, not_after = validity(
        profile,
        now=ctx.now,
        ttl_seconds=command.ttl_seconds or state.ttl_seconds,
        ca_not_after=signer.not_after,
    )
    leaf = signer.sign(
        LeafSpec(
            tenant=ctx.tenant,
            common_name=state.common_name,
            dns_names=dns,
            ip_addresses=ips,
            not_before=not_before,
            not_after=not_after,
            key_usages=profile.key_usages,
            server_auth=profile.server_auth,
            client_auth=profile.client_auth,
            public_key=public_key,
            generate=generate,
        )
    )
    model = ev.IdentityRenewed if isinstance(command, CompleteRenewal) else ev.IdentityIssued
    event = model(
        identity_id=state.identity_id,
        ca_id=leaf.ca_id,
        certificate_der=base64.b64encode(leaf.certificate_der).decode(),
        serial=leaf.serial,
        fingerprint_sha256=leaf.fingerprint_sha256,
        not_before=leaf.not_before,
        not_after=leaf.not_after,
        common_name=state.common_name,
        dns_names=dns,
        ip_addresses=ips,
        key_algorithm=leaf.key_algorithm,
        key_source="csr" if public_key is not None else "generated",
        profile=profile.name,
        replaces=state.current.serial if model is ev.IdentityRenewed and state.current else None,
        **command.idempotency(),
    )
    return Decision((event,), private_key_pem=leaf.private_key_pem)


def evolve_identity(state: IdentityState, event: EventData) -> IdentityState:
    """Apply one identity event (the edge it names) to the state."""
    seen = remember(state.idempotency, event)
    if isinstance(event, ev.IdentityRequested):
        return replace(
            state,
            status=S.REQUESTED,
            kind=event.kind,
            owner_id=event.owner_id,
            profile=event.profile,
            common_name=event.common_name,
            dns_names=event.dns_names,
            ip_addresses=event.ip_addresses,
            ttl_seconds=event.ttl_seconds,
            idempotency=seen,
        )
    if isinstance(event, ev.CERTIFICATE_EVENTS):
        cert = CertificateRef(
            event.serial,
            event.fingerprint_sha256,
            event.not_before,
            event.not_after,
            event.ca_id,
            event.certificate_der,
        )
        status = S.DEPLOYED if isinstance(event, ev.IdentityRenewed) else S.ISSUED
        return replace(
            state,
            status=status,
            current=cert,
            certificates=(*state.certificates, cert),
            idempotency=seen,
        )
    if isinstance(event, ev.IdentityDeployed):
        return replace(state, status=S.DEPLOYED, idempotency=seen)
    if isinstance(event, ev.IdentityRenewalStarted):
        return replace(state, status=S.RENEWING, idempotency=seen)
    if isinstance(event, ev.IdentityRevoked):
        return replace(
            state,
            status=S.REVOKED,
            revocation_reason=event.reason,
            revoked_at=event.revoked_at,
            idempotency=seen,
        )
    if isinstance(event, ev.IdentityRetired):
        return replace(state, status=S.RETIRED, idempotency=seen)
    return state
