"""Ports of the event spine. The JetStream adapters and the in-memory fakes both
implement them and pass the same contract tests (tests/libs/events/contract/)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from trstctl.events.envelope import EventEnvelope, StoredEvent
from trstctl.events.errors import EventsError, EventTooLarge

JsonObject = dict[str, Any]


@dataclass(frozen=True, slots=True)
class AppendResult:
    """Where an append landed. ``duplicate`` means the event id was already in the stream
    and ``last_seq`` is the sequence of the original."""

    last_seq: int
    duplicate: bool = False


@dataclass(frozen=True, slots=True)
class LoadedAggregate:
    """Every event of one subject, in order, and the stream sequence of the last one
    (0 when the subject has no events: the ``expected_last_seq`` of a creation)."""

    subject: str
    events: tuple[StoredEvent, ...]
    last_seq: int


# NATS's default max_payload; the server counts headers too, hence the room left for them.
DEFAULT_MAX_PAYLOAD = 1024 * 1024
HEADER_ROOM = 1024


def check_event_sizes(subject: str, encoded: Sequence[bytes], max_payload: int) -> None:
    """Refuse, before anything is written, an append with an event that would not fit
    one stream message (``EventTooLarge``, with the sizes)."""
    limit = max_payload - HEADER_ROOM
    for payload in encoded:
        if len(payload) > limit:
            raise EventTooLarge(
                f"an event of {len(payload)} bytes does not fit a stream message (at most {limit})",
                subject=subject,
                size=len(payload),
                limit=limit,
            )


def check_append(subject: str, events: Sequence[EventEnvelope]) -> None:
    """The precondition every ``EventStore.append`` enforces before anything is written:
    at least one event, and every event belongs to ``subject``."""
    if not events:
        raise EventsError("append needs at least one event", subject=subject)
    for event in events:
        if event.subject != subject:
            raise EventsError(
                f"event {event.id} belongs to {event.subject}, not {subject}",
                subject=subject,
                event_id=str(event.id),
            )


class EventStore(Protocol):
    """Append-only store of events, one subject per aggregate instance."""

    async def append(
        self, subject: str, events: Sequence[EventEnvelope], expected_last_seq: int
    ) -> AppendResult:
        """Append ``events`` to ``subject`` if its last sequence is still ``expected_last_seq``
        (0 = the subject must be empty). Raises ``ConcurrencyConflict`` otherwise. Appending an
        event id already stored returns the original sequence with ``duplicate=True``."""
        ...

    async def load(self, subject: str) -> LoadedAggregate:
        """Every event of one subject, in stream order."""
        ...

    def replay(self, from_seq: int = 1, filter_subject: str = ...) -> AsyncIterator[StoredEvent]:
        """Every event (matching ``filter_subject``) from ``from_seq`` on, in stream order."""
        ...

    async def last_seq(self) -> int:
        """The stream's last sequence (0 when empty)."""
        ...


@dataclass(frozen=True, slots=True)
class CommandRequest:
    """A command as the handler sees it: payload plus who/why metadata."""

    service: str
    name: str
    payload: JsonObject
    tenant: str
    actor: str
    correlation_id: str
    command_id: str
    idempotency_key: str | None = None


@dataclass(frozen=True, slots=True)
class CommandResult:
    """What a handler returns: the reply body and the stream sequence of its last event
    (so a client can wait until projections have caught up: read-your-writes)."""

    result: JsonObject = field(default_factory=dict)
    stream_seq: int | None = None


CommandHandler = Callable[[CommandRequest], Awaitable[CommandResult]]


class CommandServer(Protocol):
    async def stop(self) -> None: ...


class CommandBus(Protocol):
    """Request/reply between services on ``trstctl.cmd.<service>.<name>``."""

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
        """Send a command; return its result or raise the responder's typed error
        (``CommandError`` with its code), ``CommandTimeout`` or ``NoResponders``."""
        ...

    async def serve(
        self, service: str, handlers: Mapping[str, CommandHandler], *, max_in_flight: int = 256
    ) -> CommandServer:
        """Serve ``handlers`` for ``service`` in the service's queue group."""
        ...


EventHandler = Callable[[StoredEvent], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    """How a durable consumer retries. Attempt ``n`` (1-based) that fails with a retryable
    error is redelivered after ``backoff[n-1]`` seconds (the last value repeats); after
    ``max_deliver`` attempts the event is terminated and logged, never silently dropped."""

    max_deliver: int = 5
    backoff: tuple[float, ...] = (0.2, 1.0, 5.0, 30.0)
    ack_wait: float = 30.0
    batch: int = 256

    def delay_after(self, attempt: int) -> float:
        return self.backoff[min(attempt, len(self.backoff)) - 1] if self.backoff else 0.0


class Subscription(Protocol):
    async def stop(self) -> None: ...


class EventSubscriber(Protocol):
    """Durable, at-least-once delivery of stored events to a handler."""

    async def subscribe(
        self,
        durable: str,
        filter_subjects: Sequence[str],
        handler: EventHandler,
        *,
        policy: DeliveryPolicy = ...,
    ) -> Subscription:
        """Deliver every matching event (from the start of the stream, then live) to
        ``handler``, resuming where the durable ``durable`` left off. Outcomes: return →
        ack; ``PoisonEvent`` or undecodable bytes → terminate + log; any other exception →
        retry with backoff up to ``policy.max_deliver`` attempts."""
        ...
