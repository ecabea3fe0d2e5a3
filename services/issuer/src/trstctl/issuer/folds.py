"""In-memory read models folded forward from the stream, caught up when consulted.

The revocation index (CRL, OCSP) and the owners' identity counts (``delete_owner``) are
each a pure fold over one tenant's identity events. ``CaughtUpFold`` keeps that fold's
state per key with the stream sequence it has reached, and before answering reads only
the events after it (``replay`` from there): another replica's events are never missed
and history is read once per process. Events are folded in chunks, so a fold that copies
its state does so once per chunk, not once per event.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from trstctl.events.ports import EventStore
from trstctl.events.registry import EventData

T = TypeVar("T")
CHUNK = 4096


@dataclass
class _Folded(Generic[T]):
    state: T
    last_seq: int = 0


class CaughtUpFold(Generic[T]):
    """``fold(state, events) -> state`` kept per key over the events of a subject filter."""

    def __init__(
        self,
        store: EventStore,
        fold: Callable[[T, Sequence[EventData]], T],
        *,
        chunk: int = CHUNK,
    ) -> None:
        self._store = store
        self._fold = fold
        self._chunk = chunk
        self._folded: dict[str, _Folded[T]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def current(self, key: str, filter_subject: str, initial: Callable[[], T]) -> T:
        """The state under ``key`` with every event of ``filter_subject`` folded in, up to
        the end of the stream as of this call (``initial()`` the first time)."""
        async with self._locks.setdefault(key, asyncio.Lock()):
            folded = self._folded.get(key)
            if folded is None:
                folded = self._folded[key] = _Folded(initial())
            pending: list[EventData] = []
            last_seq = folded.last_seq
            async for stored in self._store.replay(folded.last_seq + 1, filter_subject):
                pending.append(stored.envelope.data)
                last_seq = stored.stream_seq
                if len(pending) >= self._chunk:
                    folded.state, folded.last_seq = self._fold(folded.state, pending), last_seq
                    pending = []
            if pending:
                folded.state, folded.last_seq = self._fold(folded.state, pending), last_seq
            return folded.state
