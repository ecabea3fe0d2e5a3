"""The owner directory: who a machine identity belongs to. Pure, like ``domain``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from trstctl.events.registry import EventData
from trstctl.issuer import events as ev
from trstctl.issuer.commands import CreateOwner, DeleteOwner, UpdateOwner
from trstctl.issuer.decision import Decision, IdempotencyRecord, remember, replayed
from trstctl.issuer.errors import OwnerExists, OwnerInUse, OwnerNameTaken, OwnerNotFound

# Names are unique per tenant, and uniqueness across aggregates cannot be checked
# atomically on an append-only log. So all owners of a tenant form one aggregate (the
# owner directory, one subject): the name check and the append share one expected
# sequence, and two concurrent "create web" commands give one owner and one conflict.
# Owners change rarely, so one subject per tenant is no bottleneck; a check against a
# projection would be eventually consistent and let duplicates through.


@dataclass(frozen=True)
class Owner:
    owner_id: str
    name: str
    kind: ev.OwnerKind
    description: str | None = None
    contact: str | None = None


@dataclass(frozen=True)
class OwnerDirectory:
    owners: Mapping[str, Owner] = field(default_factory=dict)
    idempotency: IdempotencyRecord = field(default_factory=dict)

    def by_name(self, name: str) -> Owner | None:
        wanted = owner_name_key(name)
        return next((o for o in self.owners.values() if owner_name_key(o.name) == wanted), None)


def owner_name_key(name: str) -> str:
    """Names compare case-insensitively with whitespace collapsed: "Web Team" == "web  team"."""
    return " ".join(name.split()).casefold()


@dataclass(frozen=True)
class OwnerUsage:
    """How many identities that are not retired name each owner, folded from a tenant's
    identity events (requested: +1, retired: -1). ``delete_owner`` consults it."""

    live: Mapping[str, int] = field(default_factory=dict)
    owner_of: Mapping[str, str] = field(default_factory=dict)  # live identity -> owner

    def evolve_all(self, events: Iterable[EventData]) -> OwnerUsage:
        """Fold identity events in order, copying the counts once per call."""
        live, owner_of = dict(self.live), dict(self.owner_of)
        for event in events:
            if isinstance(event, ev.IdentityRequested):
                owner_of[event.identity_id] = event.owner_id
                live[event.owner_id] = live.get(event.owner_id, 0) + 1
            elif isinstance(event, ev.IdentityRetired):
                owner = owner_of.pop(event.identity_id, None)
                if owner is not None:
                    live[owner] -= 1
                    if not live[owner]:
                        del live[owner]
        return OwnerUsage(live, owner_of)


def decide_owner(
    state: OwnerDirectory,
    command: CreateOwner | UpdateOwner | DeleteOwner,
    *,
    live_identities: int = 0,
) -> Decision:
    """Create, update or delete an owner; a name is taken while any other owner has it,
    and an owner is deleted only once no identity that is not retired names it
    (``live_identities``: how many do, for a ``DeleteOwner``)."""
    if isinstance(command, CreateOwner):
        if replayed(state.idempotency, command, ev.OwnerCreated.event_type):
            return Decision(replayed=True)
        if command.owner_id in state.owners:
            raise OwnerExists(f"owner {command.owner_id} exists", owner_id=command.owner_id)
        name = " ".join(command.name.split())
        _check_name_free(state, name, command.owner_id)
        return Decision(
            (
                ev.OwnerCreated(
                    owner_id=command.owner_id,
                    name=name,
                    kind=command.kind,
                    description=command.description,
                    contact=command.contact,
                    **command.idempotency(),
                ),
            )
        )
    event_type = (
        ev.OwnerUpdated if isinstance(command, UpdateOwner) else ev.OwnerDeleted
    ).event_type
    if replayed(state.idempotency, command, event_type):
        return Decision(replayed=True)
    owner = state.owners.get(command.owner_id)
    if owner is None:
        raise OwnerNotFound(f"no owner {command.owner_id}", owner_id=command.owner_id)
    if isinstance(command, DeleteOwner):
        if live_identities:
            raise OwnerInUse(
                f"owner {owner.name!r} still has {live_identities} identities that are not "
                "retired; retire them first",
                owner_id=owner.owner_id,
                identities=live_identities,
            )
        return Decision(
            (ev.OwnerDeleted(owner_id=owner.owner_id, name=owner.name, **command.idempotency()),)
        )
    name = " ".join(command.name.split()) if command.name is not None else owner.name
    _check_name_free(state, name, owner.owner_id)
    return Decision(
        (
            ev.OwnerUpdated(
                owner_id=owner.owner_id,
                name=name,
                kind=command.kind or owner.kind,
                description=command.description
                if command.description is not None
                else owner.description,
                contact=command.contact if command.contact is not None else owner.contact,
                **command.idempotency(),
            ),
        )
    )


def _check_name_free(state: OwnerDirectory, name: str, owner_id: str) -> None:
    holder = state.by_name(name)
    if holder is not None and holder.owner_id != owner_id:
        raise OwnerNameTaken(f"owner name {name!r} is taken", name=name, owner_id=holder.owner_id)


def evolve_owner(state: OwnerDirectory, event: EventData) -> OwnerDirectory:
    owners = dict(state.owners)
    if isinstance(event, ev.OwnerCreated | ev.OwnerUpdated):
        owners[event.owner_id] = Owner(
            event.owner_id, event.name, event.kind, event.description, event.contact
        )
    elif isinstance(event, ev.OwnerDeleted):
        owners.pop(event.owner_id, None)
    return OwnerDirectory(owners, remember(state.idempotency, event))
