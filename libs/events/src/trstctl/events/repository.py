"""Load → decide → append for one aggregate kind, with a state cache and conflict retry.

Every service's handlers go through this, so the write-side rules live in one place:
- state is cached with the stream sequence of its last event and rebuilt by replaying
  the aggregate's subject when missing;
- an append carries the loaded sequence as the expected one; on ``ConcurrencyConflict``
  (another replica got there first) the cache entry is dropped, the aggregate reloaded
  and the decision taken again on the new state — never overwritten;
- within one process, commands on one aggregate take turns (a per-subject lock), so
  concurrent requests do not all do expensive work (signing) only to lose the race.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from trstctl.events.envelope import EventContext, new_event
from trstctl.events.errors import ConcurrencyConflict
from trstctl.events.ports import EventStore
from trstctl.events.registry import EventData
from trstctl.events.subjects import event_subject

S = TypeVar("S")


class Decided(Protocol):
    """What a ``decide`` returns: the events to append (possibly none)."""

    @property
    def events(self) -> Sequence[EventData]: ...


D = TypeVar("D", bound=Decided)


@dataclass(frozen=True, slots=True)
class Loaded(Generic[S]):
    state: S
    last_seq: int
    loaded_at: float = 0.0


@dataclass(frozen=True, slots=True)
class Executed(Generic[S, D]):
    """The state after the decision, the decision itself, and the stream sequence of the
    aggregate's last event (the new one, or the current one if nothing was appended)."""

    state: S
    decision: D
    last_seq: int


class Repository(Generic[S]):
    """Aggregates of one kind (``aggregate``) on an ``EventStore``."""

    def __init__(
        self,
        store: EventStore,
        *,
        aggregate: str,
        initial: Callable[[str], S],
        evolve: Callable[[S, EventData], S],
        max_cached: int = 10_000,
        max_attempts: int = 5,
    ) -> None:
        self._store = store
        self._aggregate = aggregate
        self._initial = initial
        self._evolve = evolve
        self._cache: OrderedDict[str, Loaded[S]] = OrderedDict()
        self._max_cached = max_cached
        self._max_attempts = max_attempts
        # Weak: a lock lives exactly as long as some command on that subject holds it.
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    def subject(self, tenant: str, aggregate_id: str) -> str:
        return event_subject(tenant, self._aggregate, aggregate_id)

    def _remember(self, subject: str, loaded: Loaded[S]) -> None:
        self._cache[subject] = loaded
        self._cache.move_to_end(subject)
        while len(self._cache) > self._max_cached:
            self._cache.popitem(last=False)

    async def load(
        self,
        tenant: str,
        aggregate_id: str,
        *,
        cached: bool = True,
        max_age: float | None = None,
    ) -> Loaded[S]:
        """The aggregate's state and last sequence (replayed if not cached).

        ``cached=False`` always reads the stream; ``max_age`` accepts a cached state read
        (or written) at most that many seconds ago: for context that may lag another
        replica by that much, such as a profile consulted on every issuance."""
        subject = self.subject(tenant, aggregate_id)
        hit = self._cache.get(subject) if cached else None
        if hit is not None and (max_age is None or time.monotonic() - hit.loaded_at <= max_age):
            return hit
        stream = await self._store.load(subject)
        state = self._initial(aggregate_id)
        for stored in stream.events:
            state = self._evolve(state, stored.envelope.data)
        loaded = Loaded(state, stream.last_seq, time.monotonic())
        self._remember(subject, loaded)
        return loaded

    async def execute(
        self,
        tenant: str,
        aggregate_id: str,
        decide: Callable[[S], D],
        context: EventContext,
        *,
        decide_in_thread: bool = False,
    ) -> Executed[S, D]:
        """Decide on the current state and append the resulting events atomically.

        ``decide_in_thread`` runs a CPU-heavy decision (one that signs or generates keys)
        in a worker thread: ``decide`` is pure, and cryptography releases the GIL while
        it signs, so the event loop keeps serving other commands meanwhile."""
        subject = self.subject(tenant, aggregate_id)
        lock = self._locks.get(subject)
        if lock is None:
            lock = self._locks[subject] = asyncio.Lock()
        async with lock:
            return await self._execute(
                tenant, aggregate_id, subject, decide, context, decide_in_thread
            )

    async def _execute(
        self,
        tenant: str,
        aggregate_id: str,
        subject: str,
        decide: Callable[[S], D],
        context: EventContext,
        decide_in_thread: bool,
    ) -> Executed[S, D]:
        cached = True
        for attempt in range(1, self._max_attempts + 1):
            loaded = await self.load(tenant, aggregate_id, cached=cached)
            if decide_in_thread:
                decision = await asyncio.to_thread(decide, loaded.state)
            else:
                decision = decide(loaded.state)
            events = list(decision.events)
            if not events:
                return Executed(loaded.state, decision, loaded.last_seq)
            envelopes = [new_event(e, context=context, aggregate_id=aggregate_id) for e in events]
            try:
                result = await self._store.append(subject, envelopes, loaded.last_seq)
            except ConcurrencyConflict:
                self._cache.pop(subject, None)
                cached = False
                if attempt == self._max_attempts:
                    raise
                continue
            state = loaded.state
            for event in events:
                state = self._evolve(state, event)
            self._remember(subject, Loaded(state, result.last_seq, time.monotonic()))
            return Executed(state, decision, result.last_seq)
        raise AssertionError("unreachable")  # pragma: no cover
