"""Issuer events on the wire and replies as JSON."""

from __future__ import annotations

import json
from collections.abc import Callable

from trstctl.events.codec import EventCodec
from trstctl.events.envelope import EventContext, new_event
from trstctl.events.registry import REGISTRY
from trstctl.issuer import events as ev
from trstctl.issuer.commands import COMMANDS, IssueCertificate, RequestIdentity
from trstctl.issuer.domain import (
    IdentityContext,
    IdentityState,
    decide_identity,
    evolve_identity,
)
from trstctl.issuer.views import identity_reply, identity_view

Ctx = Callable[..., IdentityContext]


def test_event_types_registered() -> None:
    """Every issuer event is registered under its wire name."""
    names = {
        "owner.created",
        "owner.updated",
        "owner.deleted",
        "identity.requested",
        "identity.issued",
        "identity.deployed",
        "identity.renewal_started",
        "identity.renewed",
        "identity.revoked",
        "identity.retired",
        "ca.initialized",
        "profile.defined",
    }
    assert names <= set(REGISTRY.types())
    assert ev.IdentityRenewed.event_type == "identity.renewed"
    assert ev.IdentityIssued.aggregate == "identity"


def issued(ctx: IdentityContext) -> tuple[IdentityState, object]:
    state = IdentityState("i1")
    request = RequestIdentity(identity_id="i1", owner_id="o1", dns_names=("api.example.com",))
    for event in decide_identity(state, request, ctx).events:
        state = evolve_identity(state, event)
    decision = decide_identity(state, IssueCertificate(identity_id="i1"), ctx)
    for event in decision.events:
        state = evolve_identity(state, event)
    return state, decision


def test_issued_event_roundtrips_through_codec(ctx_for: Ctx) -> None:
    """identity.issued encodes to JSON and decodes back equal, with no key material."""
    ctx = ctx_for()
    _, decision = issued(ctx)
    (data,) = decision.events  # type: ignore[attr-defined]
    envelope = new_event(data, context=EventContext("acme", "tester", "corr-1"), aggregate_id="i1")
    codec = EventCodec()
    raw = codec.encode(envelope)
    assert codec.decode(raw) == envelope
    assert b"PRIVATE KEY" not in raw
    assert decision.private_key_pem.split("\n")[1].encode() not in raw  # type: ignore[attr-defined]


def test_reply_is_json_and_carries_key_once(ctx_for: Ctx) -> None:
    """The issue reply is plain JSON with the certificate and the one-time key; the view
    of the same identity (as a replay would return) has no key."""
    state, decision = issued(ctx_for())
    reply = identity_reply(state, decision)  # type: ignore[arg-type]
    assert json.loads(json.dumps(reply)) == reply
    assert reply["status"] == "issued"
    assert reply["certificate"]["certificate_pem"].startswith("-----BEGIN CERTIFICATE-----")
    assert "PRIVATE KEY" in reply["private_key_pem"]
    assert "private_key_pem" not in json.dumps(identity_view(state))


def test_commands_are_strict() -> None:
    """Commands refuse unknown fields and are frozen; every command has a wire name."""
    import pytest
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        IssueCertificate.model_validate({"identity_id": "i1", "private_key": "x"})
    with pytest.raises(ValidationError):
        IssueCertificate(identity_id="bad.id")
    cmd = IssueCertificate(identity_id="i1")
    with pytest.raises(ValidationError):
        cmd.identity_id = "i2"  # type: ignore[misc]
    assert COMMANDS["issue_certificate"] is IssueCertificate
    assert len(COMMANDS) == 12


def test_retried_creation_lands_on_same_aggregate() -> None:
    """Without an explicit id, the same idempotency key gives the same identity/owner id,
    so a retried creation is recognised as a replay; without a key ids are fresh."""
    from trstctl.issuer.commands import CreateOwner
    from trstctl.issuer.events import OwnerKind

    a = RequestIdentity(owner_id="o1", idempotency_key="k")
    b = RequestIdentity(owner_id="o1", idempotency_key="k")
    assert a.identity_id == b.identity_id
    assert RequestIdentity(owner_id="o1").identity_id != RequestIdentity(owner_id="o1").identity_id
    c = CreateOwner(name="x", kind=OwnerKind.TEAM, idempotency_key="k2")
    assert c.owner_id == CreateOwner(name="y", kind=OwnerKind.USER, idempotency_key="k2").owner_id


def test_no_private_key_in_any_lifecycle_event(ctx_for: Ctx) -> None:
    """Across issue, deploy, renew (generated keys), revoke and retire, no encoded event
    contains any generated private key or the CA keys."""
    import base64

    from trstctl.issuer.ca import private_key_der
    from trstctl.issuer.commands import (
        CompleteRenewal,
        MarkDeployed,
        RetireIdentity,
        RevokeIdentity,
        StartRenewal,
    )

    ctx = ctx_for()
    codec = EventCodec()
    state = IdentityState("i1")
    raw: list[bytes] = []
    keys: list[str] = []
    for cmd in (
        RequestIdentity(identity_id="i1", owner_id="o1", dns_names=("api.example.com",)),
        IssueCertificate(identity_id="i1"),
        MarkDeployed(identity_id="i1"),
        StartRenewal(identity_id="i1"),
        CompleteRenewal(identity_id="i1"),
        RevokeIdentity(identity_id="i1"),
        RetireIdentity(identity_id="i1"),
    ):
        decision = decide_identity(state, cmd, ctx)
        if decision.private_key_pem:
            keys.append(decision.private_key_pem)
        for data in decision.events:
            state = evolve_identity(state, data)
            envelope = new_event(data, context=EventContext("acme", "t", "c"), aggregate_id="i1")
            raw.append(codec.encode(envelope))
    assert len(keys) == 2
    blob = b"\n".join(raw)
    signer = ctx.signer
    ca = signer.ca  # type: ignore[union-attr]
    secrets = [k.encode() for k in keys]
    secrets += [base64.b64encode(private_key_der(k)) for k in (ca.root_key, ca.issuing_key)]
    # The base64 body lines of each PEM key, too: any line would betray the key.
    secrets += [line.encode() for k in keys for line in k.splitlines()[1:-1]]
    assert not [s for s in secrets if s in blob]
