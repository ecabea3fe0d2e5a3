"""Repository: load → decide → append with a cache, conflict retry and per-aggregate turns."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest
from trstctl.events.envelope import EventContext
from trstctl.events.errors import ConcurrencyConflict
from trstctl.events.memory import MemoryEventStore
from trstctl.events.registry import EventData
from trstctl.events.repository import Repository

from .conftest import STRICT, Noted, note

CONTEXT = EventContext(tenant="acme", actor="tester", correlation_id="c1")


@dataclass(frozen=True)
class Decided:
    events: tuple[EventData, ...]


def count(state: int, _event: EventData) -> int:
    return state + 1


def repository(store: MemoryEventStore, **kw: int) -> Repository[int]:
    return Repository(store, aggregate="note", initial=lambda _id: 0, evolve=count, **kw)


async def test_execute_appends_and_evolves() -> None:
    """Executing a decision appends its events and returns the evolved state and sequence."""
    store = MemoryEventStore(STRICT)
    repo = repository(store)
    done = await repo.execute("acme", "n1", lambda s: Decided((Noted(text=str(s)),)), CONTEXT)
    assert done.state == 1
    assert done.last_seq == 1
    loaded = await store.load("trstctl.evt.acme.note.n1")
    assert [e.envelope.data.text for e in loaded.events] == ["0"]
    assert loaded.events[0].envelope.actor == "tester"


async def test_no_events_appends_nothing() -> None:
    """A decision without events leaves the stream untouched."""
    store = MemoryEventStore(STRICT)
    done = await repository(store).execute("acme", "n1", lambda s: Decided(()), CONTEXT)
    assert done.last_seq == 0
    assert await store.last_seq() == 0


async def test_conflict_reloads_and_decides_again() -> None:
    """Another writer's event in between: the repository reloads and re-decides on it."""
    store = MemoryEventStore(STRICT)
    repo = repository(store)
    await repo.load("acme", "n1")  # cached at sequence 0
    await store.append("trstctl.evt.acme.note.n1", [note("acme", "n1", "other writer")], 0)
    seen: list[int] = []

    def decide(state: int) -> Decided:
        seen.append(state)
        return Decided((Noted(text=f"after {state}"),))

    done = await repo.execute("acme", "n1", decide, CONTEXT)
    assert seen == [0, 1]  # stale cache first, then the reloaded truth
    assert done.state == 2
    assert done.last_seq == 2


async def test_conflicts_give_up_after_max_attempts() -> None:
    """A subject that moves on before every append ends in ConcurrencyConflict, not a loop."""
    store = MemoryEventStore(STRICT)
    repo = repository(store, max_attempts=3)
    original = store.append
    attempts = 0

    async def rival_first(subject: str, events: object, expected_last_seq: int) -> object:
        nonlocal attempts
        attempts += 1
        # A competing writer lands between our load and our append, every time.
        current = (await store.load(subject)).last_seq
        await original(subject, [note("acme", "n1", "rival")], current)
        return await original(subject, events, expected_last_seq)  # type: ignore[arg-type]

    store.append = rival_first  # type: ignore[method-assign]
    with pytest.raises(ConcurrencyConflict):
        await repo.execute("acme", "n1", lambda s: Decided((Noted(text="mine"),)), CONTEXT)
    assert attempts == 3


async def test_commands_on_one_aggregate_take_turns() -> None:
    """Concurrent commands on one aggregate in one process never conflict with each other."""
    store = MemoryEventStore(STRICT)
    repo = repository(store)
    results = await asyncio.gather(
        *(
            repo.execute("acme", "n1", lambda s: Decided((Noted(text=str(s)),)), CONTEXT)
            for _ in range(20)
        )
    )
    assert sorted(r.state for r in results) == list(range(1, 21))
    assert await store.last_seq() == 20


async def test_max_age_refreshes_a_stale_cache() -> None:
    """max_age=0 rereads the stream; the default cache does not."""
    store = MemoryEventStore(STRICT)
    repo = repository(store)
    await repo.load("acme", "n1")
    await store.append("trstctl.evt.acme.note.n1", [note("acme", "n1", "x")], 0)
    assert (await repo.load("acme", "n1")).state == 0
    assert (await repo.load("acme", "n1", max_age=0)).state == 1
