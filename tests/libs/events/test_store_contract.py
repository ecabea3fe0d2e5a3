"""EventStore contract: the fake and JetStream behave the same."""

from __future__ import annotations

import asyncio

import pytest
from trstctl.events.errors import ConcurrencyConflict, EventsError, EventTooLarge
from trstctl.events.subjects import event_subject, tenant_events

from .conftest import Backend, note

pytestmark = pytest.mark.integration


async def test_append_then_load_returns_events_in_order(backend: Backend, tenant: str) -> None:
    """Appends to one subject load back in order with the last stream sequence."""
    subject = event_subject(tenant, "note", "n1")
    first = await backend.store.append(subject, [note(tenant, "n1", "a")], 0)
    second = await backend.store.append(subject, [note(tenant, "n1", "b")], first.last_seq)
    loaded = await backend.store.load(subject)
    assert [e.envelope.data.text for e in loaded.events] == ["a", "b"]
    assert [e.stream_seq for e in loaded.events] == [first.last_seq, second.last_seq]
    assert loaded.last_seq == second.last_seq
    assert loaded.events[0].envelope.tenant == tenant


async def test_load_of_unknown_subject_is_empty_at_zero(backend: Backend, tenant: str) -> None:
    """A subject never written loads as no events at sequence 0 (the creation precondition)."""
    loaded = await backend.store.load(event_subject(tenant, "note", "nobody"))
    assert loaded.events == ()
    assert loaded.last_seq == 0


async def test_stale_expected_sequence_is_a_typed_conflict(backend: Backend, tenant: str) -> None:
    """Appending with a stale expected sequence raises ConcurrencyConflict and writes nothing."""
    subject = event_subject(tenant, "note", "n1")
    await backend.store.append(subject, [note(tenant, "n1", "a")], 0)
    with pytest.raises(ConcurrencyConflict) as caught:
        await backend.store.append(subject, [note(tenant, "n1", "b")], 0)
    assert caught.value.code == "concurrency_conflict"
    assert caught.value.subject == subject
    assert len((await backend.store.load(subject)).events) == 1


async def test_create_on_existing_subject_conflicts(backend: Backend, tenant: str) -> None:
    """Expected sequence 0 means 'must not exist': a second creation conflicts."""
    subject = event_subject(tenant, "note", "n1")
    await backend.store.append(subject, [note(tenant, "n1", "a")], 0)
    with pytest.raises(ConcurrencyConflict):
        await backend.store.append(subject, [note(tenant, "n1", "again")], 0)


async def test_duplicate_append_returns_original_sequence(backend: Backend, tenant: str) -> None:
    """Re-appending the same event id returns the original sequence and stores nothing new."""
    subject = event_subject(tenant, "note", "n1")
    event = note(tenant, "n1", "a")
    original = await backend.store.append(subject, [event], 0)
    retried = await backend.store.append(subject, [event], 0)
    assert retried.last_seq == original.last_seq
    assert retried.duplicate is True
    assert len((await backend.store.load(subject)).events) == 1


async def test_concurrent_appends_have_exactly_one_winner(backend: Backend, tenant: str) -> None:
    """Many concurrent appends at the same expected sequence: one lands, the rest conflict."""
    subject = event_subject(tenant, "note", "race")
    results = await asyncio.gather(
        *(backend.store.append(subject, [note(tenant, "race", str(i))], 0) for i in range(20)),
        return_exceptions=True,
    )
    winners = [r for r in results if not isinstance(r, BaseException)]
    conflicts = [r for r in results if isinstance(r, ConcurrencyConflict)]
    assert len(winners) == 1
    assert len(conflicts) == 19


async def test_batch_append_is_all_or_nothing(backend: Backend, tenant: str) -> None:
    """Several events in one append land together, or (on conflict) none of them does."""
    subject = event_subject(tenant, "note", "n1")
    result = await backend.store.append(
        subject, [note(tenant, "n1", "a"), note(tenant, "n1", "b")], 0
    )
    with pytest.raises(ConcurrencyConflict):
        await backend.store.append(subject, [note(tenant, "n1", "c"), note(tenant, "n1", "d")], 0)
    loaded = await backend.store.load(subject)
    assert [e.envelope.data.text for e in loaded.events] == ["a", "b"]
    assert loaded.last_seq == result.last_seq


async def test_append_refuses_event_of_another_subject(backend: Backend, tenant: str) -> None:
    """An event whose aggregate differs from the subject is refused before anything is sent."""
    with pytest.raises(EventsError):
        await backend.store.append(
            event_subject(tenant, "note", "n1"), [note(tenant, "n2", "x")], 0
        )


async def test_replay_yields_stream_order_from_a_sequence(backend: Backend, tenant: str) -> None:
    """Replay returns events across subjects in stream order, starting at ``from_seq``."""
    seqs = []
    for i, aggregate in enumerate(["a", "b", "a", "c", "b"]):
        subject = event_subject(tenant, "note", aggregate)
        last = (await backend.store.load(subject)).last_seq
        seqs.append(
            (await backend.store.append(subject, [note(tenant, aggregate, str(i))], last)).last_seq
        )
    replayed = [e async for e in backend.store.replay(1, tenant_events(tenant))]
    assert [e.stream_seq for e in replayed] == seqs
    assert [e.envelope.data.text for e in replayed] == ["0", "1", "2", "3", "4"]
    tail = [e.stream_seq async for e in backend.store.replay(seqs[2], tenant_events(tenant))]
    assert tail == seqs[2:]
    assert seqs == sorted(seqs)
    assert await backend.store.last_seq() >= seqs[-1]


@pytest.mark.parametrize("batch", [False, True], ids=["single", "batch"])
async def test_an_event_too_large_for_a_message_is_typed_and_writes_nothing(
    backend: Backend, tenant: str, batch: bool
) -> None:
    """An event that cannot fit one stream message (1 MiB) is `event_too_large` before
    anything is written, alone or as the last of an atomic batch."""
    subject = event_subject(tenant, "note", "big")
    huge = note(tenant, "big", "x" * (1024 * 1024))
    events = [note(tenant, "big", "small"), huge] if batch else [huge]
    with pytest.raises(EventTooLarge) as caught:
        await backend.store.append(subject, events, 0)
    assert caught.value.code == "event_too_large"
    assert caught.value.details["size"] > caught.value.details["limit"]
    assert (await backend.store.load(subject)).last_seq == 0
    # Just under the limit still fits a message on the real server.
    fits = note(tenant, "big", "y" * (1024 * 1024 - 2048))
    assert (await backend.store.append(subject, [fits], 0)).last_seq > 0
