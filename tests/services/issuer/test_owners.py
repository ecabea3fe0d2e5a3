"""The owner directory: create, update, delete, names unique per tenant."""

from __future__ import annotations

import pytest
from trstctl.issuer import events as ev
from trstctl.issuer.commands import CreateOwner, DeleteOwner, UpdateOwner
from trstctl.issuer.domain import Decision, OwnerDirectory, decide_owner, evolve_owner
from trstctl.issuer.errors import (
    IdempotencyKeyReused,
    OwnerExists,
    OwnerInUse,
    OwnerNameTaken,
    OwnerNotFound,
)
from trstctl.issuer.events import OwnerKind
from trstctl.issuer.owners import OwnerUsage


def apply(state: OwnerDirectory, decision: Decision) -> OwnerDirectory:
    for event in decision.events:
        state = evolve_owner(state, event)
    return state


def created(*names: str) -> OwnerDirectory:
    state = OwnerDirectory()
    for i, name in enumerate(names):
        cmd = CreateOwner(owner_id=f"o{i}", name=name, kind=OwnerKind.TEAM)
        state = apply(state, decide_owner(state, cmd))
    return state


def test_create_update_delete() -> None:
    """Each owner command decides exactly one event of its kind and evolve follows it."""
    state = OwnerDirectory()
    d = decide_owner(state, CreateOwner(owner_id="o1", name=" Web  Team ", kind=OwnerKind.TEAM))
    assert [type(e) for e in d.events] == [ev.OwnerCreated]
    state = apply(state, d)
    assert state.owners["o1"].name == "Web Team"
    d = decide_owner(state, UpdateOwner(owner_id="o1", kind=OwnerKind.SERVICE, contact="ops@x"))
    assert [type(e) for e in d.events] == [ev.OwnerUpdated]
    state = apply(state, d)
    assert state.owners["o1"].kind is OwnerKind.SERVICE
    assert state.owners["o1"].name == "Web Team"
    assert state.owners["o1"].contact == "ops@x"
    d = decide_owner(state, DeleteOwner(owner_id="o1"))
    assert [type(e) for e in d.events] == [ev.OwnerDeleted]
    assert apply(state, d).owners == {}


@pytest.mark.parametrize("kind", list(OwnerKind))
def test_every_owner_kind(kind: OwnerKind) -> None:
    """user, team, workload, service and vendor are all valid owner kinds."""
    d = decide_owner(OwnerDirectory(), CreateOwner(owner_id="o1", name="x", kind=kind))
    assert d.events[0].kind is kind  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", ["Payments", "payments", "  PAYMENTS ", "payMents"])
def test_name_taken_case_insensitively(name: str) -> None:
    """A second owner named like an existing one (case, spacing aside) is owner_name_taken."""
    state = created("Payments")
    with pytest.raises(OwnerNameTaken) as info:
        decide_owner(state, CreateOwner(owner_id="new", name=name, kind=OwnerKind.USER))
    assert info.value.code == "owner_name_taken"
    assert info.value.details["owner_id"] == "o0"


def test_rename_onto_taken_name_is_refused() -> None:
    """Renaming an owner to another owner's name is owner_name_taken; to its own name is fine."""
    state = created("Payments", "Search")
    with pytest.raises(OwnerNameTaken):
        decide_owner(state, UpdateOwner(owner_id="o1", name="payments"))
    assert decide_owner(state, UpdateOwner(owner_id="o1", name="SEARCH")).events


def test_deleted_name_is_free_again() -> None:
    """Deleting an owner frees its name."""
    state = created("Payments")
    state = apply(state, decide_owner(state, DeleteOwner(owner_id="o0")))
    assert decide_owner(state, CreateOwner(name="Payments", kind=OwnerKind.TEAM)).events


def test_unknown_owner_and_duplicate_id() -> None:
    """Unknown id on update/delete is owner_not_found; reusing an id to create is owner_exists."""
    state = created("Payments")
    with pytest.raises(OwnerNotFound):
        decide_owner(state, UpdateOwner(owner_id="ghost", name="x"))
    with pytest.raises(OwnerNotFound):
        decide_owner(state, DeleteOwner(owner_id="ghost"))
    with pytest.raises(OwnerExists):
        decide_owner(state, CreateOwner(owner_id="o0", name="Other", kind=OwnerKind.TEAM))


def test_create_replay_and_key_reuse() -> None:
    """A replayed create is a no-op; the same key on another command is refused."""
    cmd = CreateOwner(owner_id="o1", name="Payments", kind=OwnerKind.TEAM, idempotency_key="k")
    state = apply(OwnerDirectory(), decide_owner(OwnerDirectory(), cmd))
    assert decide_owner(state, cmd).replayed
    with pytest.raises(IdempotencyKeyReused):
        decide_owner(state, DeleteOwner(owner_id="o1", idempotency_key="k"))


def test_an_owner_with_live_identities_is_not_deleted() -> None:
    """delete_owner with identities that are not retired is owner_in_use, nothing decided."""
    state = created("web")
    with pytest.raises(OwnerInUse) as caught:
        decide_owner(state, DeleteOwner(owner_id="o0"), live_identities=2)
    assert caught.value.code == "owner_in_use"
    assert caught.value.details == {"owner_id": "o0", "identities": 2}
    assert decide_owner(state, DeleteOwner(owner_id="o0"), live_identities=0).events


def _requested(identity_id: str, owner_id: str) -> ev.IdentityRequested:
    return ev.IdentityRequested(
        identity_id=identity_id,
        kind=ev.IdentityKind.X509_CERTIFICATE,
        owner_id=owner_id,
        profile="default",
        common_name=None,
        dns_names=("a.example.com",),
        ip_addresses=(),
    )


def test_owner_usage_counts_identities_until_they_are_retired() -> None:
    """Requested identities count for their owner; a retired one stops counting; the
    fold gives the same whether events come at once or one by one."""
    events = [
        _requested("i1", "o1"),
        _requested("i2", "o1"),
        _requested("i3", "o2"),
        ev.IdentityRetired(identity_id="i1"),
        ev.IdentityRetired(identity_id="i3"),
    ]
    at_once = OwnerUsage().evolve_all(events)
    one_by_one = OwnerUsage()
    for event in events:
        one_by_one = one_by_one.evolve_all([event])
    assert at_once == one_by_one
    assert at_once.live == {"o1": 1}
