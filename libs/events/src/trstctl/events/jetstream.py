"""The event store on NATS JetStream (the production adapter of ``EventStore``).

Appends carry ``Nats-Msg-Id`` (the event id, so a retried append is de-duplicated by
the server) and ``Nats-Expected-Last-Subject-Sequence`` (optimistic concurrency per
aggregate subject). Appends are pipelined: each call publishes without waiting for
earlier ones, so many aggregates in flight share one connection's throughput.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from nats.aio.client import Client as NatsClient
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError
from trstctl.events import wirejson
from trstctl.events.acks import AckMultiplexer
from trstctl.events.codec import DEFAULT_CODEC, EventCodec
from trstctl.events.envelope import EventEnvelope, StoredEvent
from trstctl.events.errors import ConcurrencyConflict, StoreUnavailable
from trstctl.events.ids import uuid7
from trstctl.events.ports import AppendResult, LoadedAggregate, check_append, check_event_sizes
from trstctl.events.provision import DEFAULT_STREAM
from trstctl.events.subjects import ALL_EVENTS

# JetStream API error codes we translate into typed errors.
ERR_WRONG_LAST_SEQUENCE = 10071
ERR_BATCH_WRONG_LAST_SEQUENCE = 10164

H_MSG_ID = "Nats-Msg-Id"
# No Nats-Expected-Stream header: trstctl.evt.> is captured by exactly one stream, and
# an uncaptured subject fails anyway (no responders); the header costs every append.
H_EXPECTED_LAST_SUBJECT_SEQ = "Nats-Expected-Last-Subject-Sequence"
H_BATCH_ID = "Nats-Batch-Id"
H_BATCH_SEQ = "Nats-Batch-Sequence"
H_BATCH_COMMIT = "Nats-Batch-Commit"


def _parse_ack(raw: bytes, subject: str, expected_last_seq: int) -> AppendResult:
    """The one place a JetStream publish ack becomes a result or a typed error."""
    try:
        body = wirejson.loads(raw)
    except wirejson.WireJsonError as e:
        raise StoreUnavailable(f"unreadable ack for {subject}", subject=subject) from e
    error = body.get("error")
    if error:
        if error.get("err_code") in (ERR_WRONG_LAST_SEQUENCE, ERR_BATCH_WRONG_LAST_SEQUENCE):
            raise ConcurrencyConflict(subject, expected_last_seq, str(error.get("description", "")))
        raise StoreUnavailable(
            f"append to {subject} refused: {error.get('description')} ({error.get('err_code')})",
            subject=subject,
            err_code=error.get("err_code"),
        )
    return AppendResult(last_seq=int(body["seq"]), duplicate=bool(body.get("duplicate", False)))


class JetStreamEventStore:
    """``EventStore`` on one JetStream stream."""

    def __init__(
        self,
        nc: NatsClient,
        *,
        stream: str = DEFAULT_STREAM,
        codec: EventCodec = DEFAULT_CODEC,
        timeout: float = 5.0,
    ) -> None:
        self._nc = nc
        self._js: JetStreamContext = nc.jetstream(timeout=timeout)
        self._stream = stream
        self._codec = codec
        self._timeout = timeout
        self._acks = AckMultiplexer(nc, timeout)

    async def append(
        self, subject: str, events: Sequence[EventEnvelope], expected_last_seq: int
    ) -> AppendResult:
        """See ``EventStore.append``. Several events go in one atomic batch (all or none)."""
        check_append(subject, events)
        payloads = [self._codec.encode(event) for event in events]
        check_event_sizes(subject, payloads, self._nc.max_payload)
        if len(events) > 1:
            return await self._append_batch(subject, events, payloads, expected_last_seq)
        event = events[0]
        headers = {
            H_MSG_ID: str(event.id),
            H_EXPECTED_LAST_SUBJECT_SEQ: str(expected_last_seq),
        }
        try:
            return await self._publish(subject, payloads[0], headers, expected_last_seq)
        except ConcurrencyConflict:
            # The server checks the expected sequence before de-duplication, so a retried
            # append whose first attempt landed looks like a conflict: look for our id.
            original = await self._find_event(subject, event.id.hex, after=expected_last_seq)
            if original is None:
                raise
            return AppendResult(last_seq=original, duplicate=True)

    async def _publish(
        self, subject: str, payload: bytes, headers: dict[str, str], expected_last_seq: int
    ) -> AppendResult:
        raw = await self._acks.publish(subject, payload, headers)
        return _parse_ack(raw, subject, expected_last_seq)

    async def _find_event(self, subject: str, event_hex: str, *, after: int) -> int | None:
        """Stream sequence of the event with id ``event_hex`` on ``subject`` after ``after``."""
        cursor = after + 1
        while True:
            try:
                msg = await self._js.get_msg(
                    self._stream, seq=cursor, subject=subject, next=True, direct=True
                )
            except NotFoundError:
                return None
            msg_id = (msg.headers or {}).get(H_MSG_ID, "")
            if msg_id.replace("-", "") == event_hex:
                return int(msg.seq or 0)
            cursor = int(msg.seq or 0) + 1

    async def _append_batch(
        self,
        subject: str,
        events: Sequence[EventEnvelope],
        payloads: Sequence[bytes],
        expected_last_seq: int,
    ) -> AppendResult:
        # Atomic batch publish (nats-server >= 2.12, stream allow_atomic): the server
        # applies every message or none, and checks the expected sequence on the first.
        try:
            return await self._publish_batch(
                subject, events, payloads, expected_last_seq, str(uuid7())
            )
        except ConcurrencyConflict:
            # As for single appends: a retried batch that already landed is a duplicate.
            original = await self._find_event(subject, events[-1].id.hex, after=expected_last_seq)
            if original is None:
                raise
            return AppendResult(last_seq=original, duplicate=True)

    async def _publish_batch(
        self,
        subject: str,
        events: Sequence[EventEnvelope],
        payloads: Sequence[bytes],
        expected_last_seq: int,
        batch_id: str,
    ) -> AppendResult:
        last = len(events)
        for index, (event, payload) in enumerate(zip(events, payloads, strict=True), start=1):
            headers = {
                H_MSG_ID: str(event.id),
                H_BATCH_ID: batch_id,
                H_BATCH_SEQ: str(index),
            }
            if index == 1:
                headers[H_EXPECTED_LAST_SUBJECT_SEQ] = str(expected_last_seq)
            if index < last:
                await self._nc.publish(subject, payload, headers=headers)
            else:
                headers[H_BATCH_COMMIT] = "1"
                return await self._publish(subject, payload, headers, expected_last_seq)
        raise AssertionError("unreachable: the loop returns on the commit message")

    async def load(self, subject: str) -> LoadedAggregate:
        """See ``EventStore.load``: direct gets walk the subject (aggregates are short)."""
        try:
            return await self._load(subject)
        except (TimeoutError, NatsTimeoutError) as e:
            raise StoreUnavailable(f"cannot load {subject}", subject=subject) from e

    async def _load(self, subject: str) -> LoadedAggregate:
        try:
            last = await self._js.get_last_msg(self._stream, subject, direct=True)
        except NotFoundError:
            return LoadedAggregate(subject=subject, events=(), last_seq=0)
        last_seq = int(last.seq or 0)
        events: list[StoredEvent] = []
        cursor = 1
        while True:
            msg = await self._js.get_msg(
                self._stream, seq=cursor, subject=subject, next=True, direct=True
            )
            seq = int(msg.seq or 0)
            events.append(StoredEvent(self._codec.decode(msg.data or b""), subject, seq))
            if seq >= last_seq:
                break
            cursor = seq + 1
        return LoadedAggregate(subject=subject, events=tuple(events), last_seq=last_seq)

    async def replay(
        self, from_seq: int = 1, filter_subject: str = ALL_EVENTS
    ) -> AsyncIterator[StoredEvent]:
        """See ``EventStore.replay``: an ephemeral pull consumer read up to the current end."""
        config = ConsumerConfig(
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=max(from_seq, 1),
            ack_policy=AckPolicy.NONE,
            filter_subject=filter_subject,
            inactive_threshold=30.0,
            mem_storage=True,
        )
        sub = await self._js.pull_subscribe(
            filter_subject, durable=None, stream=self._stream, config=config
        )
        try:
            info = await sub.consumer_info()
            if not info.num_pending:
                return
            while True:
                try:
                    msgs = await sub.fetch(batch=512, timeout=self._timeout)
                except NatsTimeoutError:
                    return
                for msg in msgs:
                    yield StoredEvent(
                        self._codec.decode(msg.data), msg.subject, msg.metadata.sequence.stream
                    )
                    if msg.metadata.num_pending == 0:
                        return
        finally:
            await sub.unsubscribe()

    async def last_seq(self) -> int:
        info = await self._js.stream_info(self._stream)
        return int(info.state.last_seq)
