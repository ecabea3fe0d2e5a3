"""The identity lifecycle: every edge allowed, every other transition refused."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import timedelta
from itertools import product
from typing import Any

import pytest
from cryptography import x509
from trstctl.issuer import events as ev
from trstctl.issuer.ca import TenantCa
from trstctl.issuer.commands import (
    CompleteRenewal,
    IssueCertificate,
    MarkDeployed,
    RequestIdentity,
    RetireIdentity,
    RevokeIdentity,
    StartRenewal,
)
from trstctl.issuer.domain import (
    EDGES,
    Decision,
    IdentityCommand,
    IdentityContext,
    IdentityState,
    IdentityStatus,
    decide_identity,
    evolve_identity,
)
from trstctl.issuer.errors import (
    CaNotInitialized,
    IdempotencyKeyReused,
    IdentityExists,
    IdentityNotFound,
    InvalidTransition,
    OwnerNotFound,
    ProfileNotFound,
    TenantMismatch,
)

S = IdentityStatus
Ctx = Callable[..., IdentityContext]

COMMANDS: dict[str, IdentityCommand] = {
    "issue_certificate": IssueCertificate(identity_id="i1"),
    "mark_deployed": MarkDeployed(identity_id="i1", target="web-1"),
    "start_renewal": StartRenewal(identity_id="i1"),
    "complete_renewal": CompleteRenewal(identity_id="i1"),
    "revoke_identity": RevokeIdentity(identity_id="i1"),
    "retire_identity": RetireIdentity(identity_id="i1"),
}
TARGETS = {
    "issue_certificate": S.ISSUED,
    "mark_deployed": S.DEPLOYED,
    "start_renewal": S.RENEWING,
    "complete_renewal": S.DEPLOYED,
    "revoke_identity": S.REVOKED,
    "retire_identity": S.RETIRED,
}
# A path from nothing to each status, walking only allowed edges.
PATHS = {
    S.REQUESTED: [],
    S.ISSUED: ["issue_certificate"],
    S.DEPLOYED: ["issue_certificate", "mark_deployed"],
    S.RENEWING: ["issue_certificate", "mark_deployed", "start_renewal"],
    S.REVOKED: ["issue_certificate", "revoke_identity"],
    S.RETIRED: ["issue_certificate", "revoke_identity", "retire_identity"],
}


def apply(state: IdentityState, decision: Decision) -> IdentityState:
    for event in decision.events:
        state = evolve_identity(state, event)
    return state


def requested(ctx: IdentityContext) -> IdentityState:
    cmd = RequestIdentity(identity_id="i1", owner_id="o1", dns_names=("api.example.com",))
    return apply(IdentityState("i1"), decide_identity(IdentityState("i1"), cmd, ctx))


def walk(ctx: IdentityContext, status: IdentityStatus) -> IdentityState:
    state = requested(ctx)
    for name in PATHS[status]:
        state = apply(state, decide_identity(state, COMMANDS[name], ctx))
    assert state.status is status
    return state


def test_full_lifecycle_one_event_per_edge(ctx_for: Ctx) -> None:
    """requested -> issued -> deployed -> renewing -> deployed -> revoked -> retired, one
    event of the edge's type each."""
    ctx = ctx_for()
    state = requested(ctx)
    assert state.status is S.REQUESTED
    expected = [
        ("issue_certificate", ev.IdentityIssued, S.ISSUED),
        ("mark_deployed", ev.IdentityDeployed, S.DEPLOYED),
        ("start_renewal", ev.IdentityRenewalStarted, S.RENEWING),
        ("complete_renewal", ev.IdentityRenewed, S.DEPLOYED),
        ("revoke_identity", ev.IdentityRevoked, S.REVOKED),
        ("retire_identity", ev.IdentityRetired, S.RETIRED),
    ]
    for name, event_type, status in expected:
        decision = decide_identity(state, COMMANDS[name], ctx)
        assert [type(e) for e in decision.events] == [event_type]
        state = apply(state, decision)
        assert state.status is status


@pytest.mark.parametrize(
    ("status", "name"),
    [
        (status, name)
        for status, name in product(S, COMMANDS)
        if EDGES.get((status, TARGETS[name])) != name
    ],
)
def test_every_other_transition_is_refused(ctx_for: Ctx, status: IdentityStatus, name: str) -> None:
    """A command whose edge does not leave the current status is invalid_transition with
    from/to, and decides no event."""
    ctx = ctx_for()
    state = walk(ctx, status)
    with pytest.raises(InvalidTransition) as info:
        decide_identity(state, COMMANDS[name], ctx)
    assert info.value.code == "invalid_transition"
    assert info.value.details["from"] == status.value
    assert info.value.details["to"] == TARGETS[name].value
    assert info.value.details["via"] == name


def test_refused_transitions_cover_the_table() -> None:
    """The lifecycle table has exactly the nine edges of the issue, nothing else."""
    assert set(EDGES) == {
        (None, S.REQUESTED),
        (S.REQUESTED, S.ISSUED),
        (S.ISSUED, S.DEPLOYED),
        (S.DEPLOYED, S.RENEWING),
        (S.RENEWING, S.DEPLOYED),
        (S.ISSUED, S.REVOKED),
        (S.DEPLOYED, S.REVOKED),
        (S.RENEWING, S.REVOKED),
        (S.REVOKED, S.RETIRED),
    }


def test_command_on_missing_identity(ctx_for: Ctx) -> None:
    """Any command but request on an identity with no history is identity_not_found."""
    with pytest.raises(IdentityNotFound):
        decide_identity(IdentityState("i1"), COMMANDS["issue_certificate"], ctx_for())


def test_request_twice_is_identity_exists(ctx_for: Ctx) -> None:
    """Requesting an existing identity again (without the same idempotency key) is refused."""
    ctx = ctx_for()
    cmd = RequestIdentity(identity_id="i1", owner_id="o1", dns_names=("a.example.com",))
    with pytest.raises(IdentityExists):
        decide_identity(requested(ctx), cmd, ctx)


def test_request_needs_existing_owner_and_profile(ctx_for: Ctx) -> None:
    """An unknown owner is owner_not_found; an unknown profile is profile_not_found."""
    ctx = ctx_for()
    with pytest.raises(OwnerNotFound):
        decide_identity(
            IdentityState("i1"),
            RequestIdentity(identity_id="i1", owner_id="ghost", dns_names=("a.example.com",)),
            ctx,
        )
    with pytest.raises(ProfileNotFound):
        decide_identity(
            IdentityState("i1"),
            RequestIdentity(identity_id="i1", owner_id="o1", profile="strict", dns_names=("a.b",)),
            ctx,
        )


def test_issued_event_carries_certificate_not_key(ctx_for: Ctx) -> None:
    """identity.issued holds DER, serial, fingerprint, validity, SANs, key algorithm and
    profile; the generated private key is only in the decision, never in the event."""
    ctx = ctx_for()
    decision = decide_identity(requested(ctx), COMMANDS["issue_certificate"], ctx)
    (event,) = decision.events
    assert isinstance(event, ev.IdentityIssued)
    cert = x509.load_der_x509_certificate(base64.b64decode(event.certificate_der))
    assert format(cert.serial_number, "x") == event.serial
    assert event.dns_names == ("api.example.com",)
    assert event.key_algorithm == "ec-secp256r1"
    assert event.key_source == "generated"
    assert event.profile == "default"
    assert event.replaces is None
    assert event.not_after - ctx.now == timedelta(days=30)
    assert decision.private_key_pem is not None
    assert "PRIVATE KEY" in decision.private_key_pem
    assert decision.private_key_pem not in event.model_dump_json()
    assert "private_key_pem" not in repr(decision)


def test_renewal_issues_new_certificate_replacing_old(ctx_for: Ctx) -> None:
    """renewing -> deployed signs a new certificate whose event names the one it replaces."""
    ctx = ctx_for()
    state = walk(ctx, S.RENEWING)
    old = state.current
    assert old is not None
    decision = decide_identity(state, COMMANDS["complete_renewal"], ctx)
    (event,) = decision.events
    assert isinstance(event, ev.IdentityRenewed)
    assert event.replaces == old.serial
    assert event.serial != old.serial
    state = apply(state, decision)
    assert state.current is not None
    assert state.current.serial == event.serial
    assert len(state.certificates) == 2


def test_revoke_lists_every_unexpired_certificate(ctx_for: Ctx) -> None:
    """Revocation covers the current and the superseded-but-unexpired certificates, with
    reason unspecified by default and revoked_at = now."""
    ctx = ctx_for()
    state = walk(ctx, S.RENEWING)
    state = apply(state, decide_identity(state, COMMANDS["complete_renewal"], ctx))
    (event,) = decide_identity(state, RevokeIdentity(identity_id="i1"), ctx).events
    assert isinstance(event, ev.IdentityRevoked)
    assert set(event.serials) == {c.serial for c in state.certificates}
    assert event.reason is ev.RevocationReason.UNSPECIFIED
    assert event.revoked_at == ctx.now


def test_replayed_idempotency_key_returns_no_second_certificate(ctx_for: Ctx) -> None:
    """The same issue command with the same idempotency key, after it took effect, decides
    nothing (replayed) instead of a second certificate or an invalid_transition."""
    ctx = ctx_for()
    cmd = IssueCertificate(identity_id="i1", idempotency_key="k1")
    state = apply(requested(ctx), decide_identity(requested(ctx), cmd, ctx))
    again = decide_identity(state, cmd, ctx)
    assert again.events == ()
    assert again.replayed


def test_idempotency_key_reused_for_other_command(ctx_for: Ctx) -> None:
    """An idempotency key already used to issue cannot be reused to deploy."""
    ctx = ctx_for()
    state = requested(ctx)
    state = apply(
        state, decide_identity(state, IssueCertificate(identity_id="i1", idempotency_key="k"), ctx)
    )
    with pytest.raises(IdempotencyKeyReused) as info:
        decide_identity(state, MarkDeployed(identity_id="i1", idempotency_key="k"), ctx)
    assert info.value.code == "idempotency_key_reused"


def test_idempotency_key_reused_with_a_different_request(ctx_for: Ctx) -> None:
    """The same key on the same command but with other content is refused, not replayed."""
    ctx = ctx_for()
    first = IssueCertificate(identity_id="i1", idempotency_key="k", ttl_seconds=3600)
    state = apply(requested(ctx), decide_identity(requested(ctx), first, ctx))
    assert decide_identity(state, first, ctx).replayed
    changed = IssueCertificate(identity_id="i1", idempotency_key="k", ttl_seconds=7200)
    with pytest.raises(IdempotencyKeyReused) as info:
        decide_identity(state, changed, ctx)
    assert info.value.details["used_for"] == "identity.issued"


def test_issue_without_ca_is_ca_not_initialized(ctx_for: Ctx) -> None:
    """With no signer (the tenant has no CA yet) issuance is ca_not_initialized."""
    ctx = ctx_for()
    with pytest.raises(CaNotInitialized):
        decide_identity(requested(ctx), COMMANDS["issue_certificate"], ctx_for(signer=None))


def test_other_tenants_ca_never_signs(
    ctx_for: Ctx, globex_ca: TenantCa, signer_for: Callable[[TenantCa], Any]
) -> None:
    """A signer of tenant globex handed to an acme decision is refused; nothing is signed."""
    ctx = ctx_for()
    foreign = signer_for(globex_ca)
    with pytest.raises(TenantMismatch) as info:
        decide_identity(requested(ctx), COMMANDS["issue_certificate"], ctx_for(signer=foreign))
    assert info.value.code == "tenant_mismatch"
    assert foreign.specs == []
