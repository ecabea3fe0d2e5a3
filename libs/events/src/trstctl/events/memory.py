"""In-memory fakes of the store, subscriber and command bus.

They pass the same contract tests as the JetStream adapters (tests/libs/events/contract/),
so domain and handler tests can run on them without a server. Bytes still go through
the codec and the command wire format, so a fake never accepts what the real bus would
refuse to carry.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import structlog
from trstctl.events.codec import DEFAULT_CODEC, EventCodec
from trstctl.events.commands import (
    command_timeout,
    decode_reply,
    dispatch,
    encode_request,
    no_responders,
)
from trstctl.events.envelope import EventEnvelope, StoredEvent
from trstctl.events.errors import ConcurrencyConflict
from trstctl.events.outcomes import Action, outcome_for
from trstctl.events.ports import (
    DEFAULT_MAX_PAYLOAD,
    AppendResult,
    CommandHandler,
    CommandResult,
    DeliveryPolicy,
    EventHandler,
    LoadedAggregate,
    check_append,
    check_event_sizes,
)
from trstctl.events.subjects import ALL_EVENTS, subject_matches

log = structlog.get_logger("trstctl.events.memory")


class MemoryEventStore:
    """``EventStore`` in a list. Stores encoded bytes, exactly as the stream would."""

    def __init__(
        self, codec: EventCodec = DEFAULT_CODEC, *, max_payload: int = DEFAULT_MAX_PAYLOAD
    ) -> None:
        self._codec = codec
        self._max_payload = max_payload
        self._log: list[tuple[str, bytes]] = []  # index = stream_seq - 1
        self._by_subject: dict[str, list[int]] = {}
        self._by_id: dict[uuid.UUID, int] = {}
        self._lock = asyncio.Lock()
        self.appended = asyncio.Condition()

    async def append(
        self, subject: str, events: Sequence[EventEnvelope], expected_last_seq: int
    ) -> AppendResult:
        check_append(subject, events)
        payloads = [self._codec.encode(event) for event in events]
        check_event_sizes(subject, payloads, self._max_payload)
        seq = 0
        async with self._lock:
            if events[-1].id in self._by_id:
                return AppendResult(last_seq=self._by_id[events[-1].id], duplicate=True)
            seqs = self._by_subject.get(subject, [])
            current = seqs[-1] if seqs else 0
            if current != expected_last_seq:
                raise ConcurrencyConflict(subject, expected_last_seq, f"last is {current}")
            for event, payload in zip(events, payloads, strict=True):
                self._log.append((subject, payload))
                seq = len(self._log)
                self._by_subject.setdefault(subject, []).append(seq)
                self._by_id[event.id] = seq
        async with self.appended:
            self.appended.notify_all()
        return AppendResult(last_seq=seq)

    def _stored(self, seq: int) -> StoredEvent:
        subject, raw = self._log[seq - 1]
        return StoredEvent(self._codec.decode(raw), subject, seq)

    def raw(self, seq: int) -> tuple[str, bytes]:
        """The stored bytes at ``seq`` (tests scan them for secrets)."""
        return self._log[seq - 1]

    async def inject_raw(self, subject: str, raw: bytes) -> int:
        """Append bytes that bypass the codec (tests of poison/undecodable handling)."""
        self._log.append((subject, raw))
        self._by_subject.setdefault(subject, []).append(len(self._log))
        async with self.appended:
            self.appended.notify_all()
        return len(self._log)

    async def load(self, subject: str) -> LoadedAggregate:
        seqs = list(self._by_subject.get(subject, []))
        events = tuple(self._stored(seq) for seq in seqs)
        return LoadedAggregate(subject=subject, events=events, last_seq=seqs[-1] if seqs else 0)

    async def replay(
        self, from_seq: int = 1, filter_subject: str = ALL_EVENTS
    ) -> AsyncIterator[StoredEvent]:
        end = len(self._log)
        for seq in range(max(from_seq, 1), end + 1):
            if subject_matches(filter_subject, self._log[seq - 1][0]):
                yield self._stored(seq)

    async def last_seq(self) -> int:
        return len(self._log)

    # -- subscriber ------------------------------------------------------------------
    async def subscribe(
        self,
        durable: str,
        filter_subjects: Sequence[str],
        handler: EventHandler,
        *,
        policy: DeliveryPolicy = DeliveryPolicy(),  # noqa: B008 - frozen value object
    ) -> MemorySubscription:
        subscription = MemorySubscription(self, list(filter_subjects), handler, policy)
        subscription.start()
        return subscription


class MemorySubscription:
    """Delivers a fake store's events in order, with the real outcome mapping."""

    def __init__(
        self,
        store: MemoryEventStore,
        filters: list[str],
        handler: EventHandler,
        policy: DeliveryPolicy,
    ) -> None:
        self._store = store
        self._filters = filters
        self._handler = handler
        self._policy = policy
        self._task: asyncio.Task[None] | None = None
        self._cursor = 1

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            async with self._store.appended:
                await self._store.appended.wait_for(lambda: len(self._store._log) >= self._cursor)
            while self._cursor <= len(self._store._log):
                seq = self._cursor
                subject, raw = self._store.raw(seq)
                if any(subject_matches(f, subject) for f in self._filters):
                    await self._deliver(seq, subject, raw)
                self._cursor += 1

    async def _deliver(self, seq: int, subject: str, raw: bytes) -> None:
        attempt = 0
        while True:
            attempt += 1
            error: BaseException | None = None
            try:
                event = StoredEvent(self._store._codec.decode(raw), subject, seq)
                await self._handler(event)
            except Exception as e:
                error = e
            outcome = outcome_for(error, attempt, self._policy)
            if outcome.action is Action.ACK:
                return
            if outcome.action is Action.TERM:
                log.error(
                    "event.terminated", subject=subject, stream_seq=seq, reason=outcome.reason
                )
                return
            await asyncio.sleep(outcome.delay)


class MemoryCommandBus:
    """``CommandBus`` by direct calls, through the same wire encoding as NATS."""

    def __init__(self, *, default_timeout: float = 5.0) -> None:
        self._services: dict[str, Mapping[str, CommandHandler]] = {}
        self._default_timeout = default_timeout

    async def request(
        self,
        service: str,
        name: str,
        payload: Mapping[str, Any],
        *,
        tenant: str,
        actor: str,
        correlation_id: str | None = None,
        idempotency_key: str | None = None,
        timeout: float | None = None,
    ) -> CommandResult:
        # Encoded first, as on NATS: a request that cannot be sent fails the same way.
        data = encode_request(
            payload,
            tenant=tenant,
            actor=actor,
            correlation_id=correlation_id,
            idempotency_key=idempotency_key,
        )
        handlers = self._services.get(service)
        if handlers is None:
            raise no_responders(service, name)
        wait = timeout if timeout is not None else self._default_timeout
        try:
            reply, _, _ = await asyncio.wait_for(dispatch(handlers, service, name, data), wait)
        except TimeoutError as e:
            raise command_timeout(service, name, wait) from e
        return decode_reply(reply)

    async def serve(
        self, service: str, handlers: Mapping[str, CommandHandler], *, max_in_flight: int = 256
    ) -> MemoryCommandServer:
        self._services[service] = handlers
        return MemoryCommandServer(self, service)


class MemoryCommandServer:
    def __init__(self, bus: MemoryCommandBus, service: str) -> None:
        self._bus = bus
        self._service = service

    async def stop(self) -> None:
        self._bus._services.pop(self._service, None)
