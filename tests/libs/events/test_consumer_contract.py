"""Durable consumer contract: outcome mapping behaves the same on the fake and JetStream."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from trstctl.events.envelope import StoredEvent
from trstctl.events.errors import PoisonEvent, RetryableError
from trstctl.events.ports import DeliveryPolicy
from trstctl.events.subjects import event_subject, tenant_events

from .conftest import Backend, note

pytestmark = pytest.mark.integration

FAST = DeliveryPolicy(max_deliver=4, backoff=(0.05, 0.05, 0.05), ack_wait=5.0, batch=16)


async def _append_notes(backend: Backend, tenant: str, texts: list[str]) -> list[int]:
    seqs = []
    for text in texts:
        subject = event_subject(tenant, "note", text)
        seqs.append((await backend.store.append(subject, [note(tenant, text, text)], 0)).last_seq)
    return seqs


async def _inject_garbage(backend: Backend, tenant: str, raw: bytes) -> None:
    subject = event_subject(tenant, "note", "garbage")
    if backend.kind == "memory":
        await backend.store.inject_raw(subject, raw)
    else:
        await backend.store._nc.request(subject, raw, timeout=2)


async def _wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    async def poll() -> None:
        # The handlers append to plain lists; polling them keeps the tests free of plumbing.
        while not predicate():  # noqa: ASYNC110
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), timeout)


async def test_delivers_every_event_once_in_order(backend: Backend, tenant: str) -> None:
    """A handler that succeeds sees every matching event once, in stream order."""
    seqs = await _append_notes(backend, tenant, ["a", "b", "c"])
    seen: list[int] = []

    async def handler(event: StoredEvent) -> None:
        seen.append(event.stream_seq)

    sub = await backend.subscriber.subscribe(
        f"d{tenant}", [tenant_events(tenant)], handler, policy=FAST
    )
    try:
        await _wait_for(lambda: len(seen) >= 3)
        await asyncio.sleep(0.3)  # a redelivery, if any, would arrive within ack_wait
    finally:
        await sub.stop()
    assert seen == seqs


async def test_retryable_failure_is_redelivered(backend: Backend, tenant: str) -> None:
    """A retryable failure is nak'ed and the same event comes back until it succeeds."""
    [seq] = await _append_notes(backend, tenant, ["a"])
    attempts: list[int] = []

    async def handler(event: StoredEvent) -> None:
        attempts.append(event.stream_seq)
        if len(attempts) < 3:
            raise RetryableError("projection database busy")

    sub = await backend.subscriber.subscribe(
        f"d{tenant}", [tenant_events(tenant)], handler, policy=FAST
    )
    try:
        await _wait_for(lambda: len(attempts) >= 3)
    finally:
        await sub.stop()
    assert attempts == [seq, seq, seq]


async def test_unexpected_exception_is_retried_not_dropped(backend: Backend, tenant: str) -> None:
    """Any exception other than PoisonEvent is retried (unlike FastStream's term-on-error)."""
    [seq] = await _append_notes(backend, tenant, ["a"])
    attempts: list[int] = []

    async def handler(event: StoredEvent) -> None:
        attempts.append(event.stream_seq)
        if len(attempts) == 1:
            raise KeyError("bug on first try")

    sub = await backend.subscriber.subscribe(
        f"d{tenant}", [tenant_events(tenant)], handler, policy=FAST
    )
    try:
        await _wait_for(lambda: len(attempts) >= 2)
    finally:
        await sub.stop()
    assert attempts == [seq, seq]


async def test_poison_is_terminated_and_consumption_continues(
    backend: Backend, tenant: str
) -> None:
    """A PoisonEvent is terminated (never redelivered) and later events still arrive."""
    seqs = await _append_notes(backend, tenant, ["poison", "fine"])
    attempts: list[str] = []

    async def handler(event: StoredEvent) -> None:
        attempts.append(event.envelope.data.text)
        if event.envelope.data.text == "poison":
            raise PoisonEvent("cannot ever apply this")

    sub = await backend.subscriber.subscribe(
        f"d{tenant}", [tenant_events(tenant)], handler, policy=FAST
    )
    try:
        await _wait_for(lambda: "fine" in attempts)
        await asyncio.sleep(0.3)
    finally:
        await sub.stop()
    assert attempts == ["poison", "fine"]
    assert len(seqs) == 2


@pytest.mark.parametrize(
    "raw",
    [b"\xff\xfe not json", b"[1,2]", b'{"type":"no.such.type","schema_version":1,"data":{}}'],
    ids=["bytes", "not-an-object", "unknown-type"],
)
async def test_undecodable_event_never_crashes_the_consumer(
    backend: Backend, tenant: str, raw: bytes
) -> None:
    """Undecodable or unknown-type bytes are terminated; the consumer goes on to the next."""
    await _inject_garbage(backend, tenant, raw)
    [seq] = await _append_notes(backend, tenant, ["after"])
    seen: list[int] = []

    async def handler(event: StoredEvent) -> None:
        seen.append(event.stream_seq)

    sub = await backend.subscriber.subscribe(
        f"d{tenant}", [tenant_events(tenant)], handler, policy=FAST
    )
    try:
        await _wait_for(lambda: seq in seen)
    finally:
        await sub.stop()
    assert seen == [seq]


async def test_exhausted_retries_terminate(backend: Backend, tenant: str) -> None:
    """After max_deliver failed attempts the event is terminated, and the next one arrives."""
    seqs = await _append_notes(backend, tenant, ["always-fails", "ok"])
    attempts: list[str] = []

    async def handler(event: StoredEvent) -> None:
        attempts.append(event.envelope.data.text)
        if event.envelope.data.text == "always-fails":
            raise RetryableError("still down")

    sub = await backend.subscriber.subscribe(
        f"d{tenant}", [tenant_events(tenant)], handler, policy=FAST
    )
    try:
        await _wait_for(lambda: "ok" in attempts and attempts.count("always-fails") >= 4)
        await asyncio.sleep(0.3)
    finally:
        await sub.stop()
    assert attempts.count("always-fails") == FAST.max_deliver
    assert len(seqs) == 2
