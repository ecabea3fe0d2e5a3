"""The tenant-level aggregates: its CA hierarchy and its certificate profiles. Pure."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from trstctl.events.registry import EventData
from trstctl.issuer import events as ev
from trstctl.issuer.ca import TenantCa, fingerprint_sha256
from trstctl.issuer.commands import DefineProfile, InitializeCa
from trstctl.issuer.decision import Decision, IdempotencyRecord, remember, replayed
from trstctl.issuer.errors import CaAlreadyInitialized, ProfileViolation
from trstctl.issuer.profiles import DEFAULT_PROFILE, CertificateProfile, default_profile

# --- the tenant CA --------------------------------------------------------------------


@dataclass(frozen=True)
class CaState:
    initialized: ev.CaInitialized | None = None
    idempotency: IdempotencyRecord = field(default_factory=dict)


def decide_ca(state: CaState, command: InitializeCa, *, tenant: str, built: TenantCa) -> Decision:
    """Record a tenant's CA hierarchy once. ``built`` is made by the handler (key
    generation is slow and random, so it stays out of here); only its public
    certificates enter the event. A CA built for another tenant is refused."""
    early = precheck_ca(state, command, tenant=tenant)
    if early is not None:
        return early
    built.check_tenant(tenant)
    return Decision(
        (
            ev.CaInitialized(
                ca_id=built.ca_id,
                algorithm=built.algorithm.value,
                root_certificate_der=_b64_der(built.root_cert),
                issuing_certificate_der=_b64_der(built.issuing_cert),
                root_fingerprint_sha256=fingerprint_sha256(built.root_cert),
                issuing_fingerprint_sha256=fingerprint_sha256(built.issuing_cert),
                not_after=built.not_after,
                **command.idempotency(),
            ),
        )
    )


def precheck_ca(state: CaState, command: InitializeCa, *, tenant: str) -> Decision | None:
    """The part of ``decide_ca`` that needs no CA: a replay, or a refusal because the
    tenant has one already. ``None`` means "build it" (the handler checks this first so
    it does not generate keys only to be refused)."""
    if replayed(state.idempotency, command, ev.CaInitialized.event_type):
        return Decision(replayed=True)
    if state.initialized is not None:
        raise CaAlreadyInitialized(
            f"tenant {tenant} already has CA {state.initialized.ca_id}",
            ca_id=state.initialized.ca_id,
        )
    return None


def _b64_der(cert: x509.Certificate) -> str:
    return base64.b64encode(cert.public_bytes(Encoding.DER)).decode()


def evolve_ca(state: CaState, event: EventData) -> CaState:
    if isinstance(event, ev.CaInitialized):
        return CaState(event, remember(state.idempotency, event))
    return state


# --- profiles -------------------------------------------------------------------------


@dataclass(frozen=True)
class ProfileState:
    name: str
    profile: CertificateProfile | None = None
    idempotency: IdempotencyRecord = field(default_factory=dict)


def decide_profile(state: ProfileState, command: DefineProfile) -> Decision:
    """Define or replace a profile as a whole. Redefining it identically is a no-op (no
    event), so re-applying a configuration does not grow the log."""
    if command.profile.name != state.name:
        raise ProfileViolation(
            f"profile {command.profile.name!r} sent to aggregate {state.name!r}",
            rule="profile_name_mismatch",
            value=command.profile.name,
        )
    if replayed(state.idempotency, command, ev.ProfileDefined.event_type):
        return Decision(replayed=True)
    if state.profile == command.profile:
        return Decision(replayed=True)
    return Decision((ev.ProfileDefined(profile=command.profile, **command.idempotency()),))


def evolve_profile(state: ProfileState, event: EventData) -> ProfileState:
    if isinstance(event, ev.ProfileDefined):
        return ProfileState(state.name, event.profile, remember(state.idempotency, event))
    return state


def effective_profile(state: ProfileState) -> CertificateProfile | None:
    """The profile in force: the defined one, else the built-in default for ``default``."""
    if state.profile is not None:
        return state.profile
    return default_profile() if state.name == DEFAULT_PROFILE else None
