"""Codec and registry: bytes become models in one place, old schemas are upcast."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError
from trstctl.events.codec import EventCodec
from trstctl.events.envelope import EventContext, EventEnvelope, new_event
from trstctl.events.errors import DecodeError, EventsError, UnknownEventType
from trstctl.events.ids import uuid7
from trstctl.events.registry import EventData, EventRegistry

registry = EventRegistry()


@registry.register("widget.renamed", version=3, aggregate="widget")
class WidgetRenamed(EventData):
    """v3: ``display_name`` (v1 had ``name``; v2 added ``reason``)."""

    display_name: str
    reason: str


@registry.upcaster("widget.renamed", from_version=1)
def _v1_to_v2(data: dict[str, object]) -> dict[str, object]:
    return {**data, "reason": "unknown"}


@registry.upcaster("widget.renamed", from_version=2)
def _v2_to_v3(data: dict[str, object]) -> dict[str, object]:
    rest = {k: v for k, v in data.items() if k != "name"}
    return {**rest, "display_name": data["name"]}


CONTEXT = EventContext(tenant="acme", actor="alice", correlation_id="c1", causation_id="cmd-1")
codec = EventCodec(registry, strict=True)


def _raw(version: int, data: dict[str, object]) -> bytes:
    event = new_event(
        WidgetRenamed(display_name="x", reason="r"), context=CONTEXT, aggregate_id="w1"
    )
    body = json.loads(codec.encode(event))
    body["schema_version"] = version
    body["data"] = data
    return json.dumps(body).encode()


def test_roundtrip_preserves_every_field() -> None:
    """encode then decode gives an equal envelope with the payload model restored."""
    event = new_event(
        WidgetRenamed(display_name="w", reason="r"), context=CONTEXT, aggregate_id="w1"
    )
    decoded = codec.decode(codec.encode(event))
    assert decoded == event
    assert isinstance(decoded.data, WidgetRenamed)
    assert decoded.subject == "trstctl.evt.acme.widget.w1"
    assert decoded.causation_id == "cmd-1"


def test_old_versions_are_upcast_step_by_step() -> None:
    """A v1 payload is upcast v1->v2->v3 on read."""
    decoded = codec.decode(_raw(1, {"name": "legacy"}))
    assert decoded.data == WidgetRenamed(display_name="legacy", reason="unknown")
    assert decoded.schema_version == 3


def test_newer_version_than_known_is_refused() -> None:
    """An event from a newer build is an UnknownEventType, not a guess."""
    with pytest.raises(UnknownEventType):
        codec.decode(_raw(4, {"display_name": "x", "reason": "r"}))


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x00\x01",
        b"null",
        b'{"type": "widget.renamed"}',
        b'{"type": "widget.renamed", "schema_version": 3, "data": []}',
    ],
)
def test_garbage_is_a_decode_error(raw: bytes) -> None:
    """Bytes that are not an envelope raise DecodeError (never a bare exception)."""
    with pytest.raises(DecodeError):
        codec.decode(raw)


def test_unknown_type_is_typed() -> None:
    """An unregistered type raises UnknownEventType with the type in details."""
    raw = _raw(3, {"display_name": "x", "reason": "r"}).replace(b"widget.renamed", b"gadget.made")
    with pytest.raises(UnknownEventType) as caught:
        codec.decode(raw)
    assert caught.value.details["event_type"] == "gadget.made"


def test_strict_mode_refuses_coercion() -> None:
    """Strict decoding refuses a number where the schema says string."""
    with pytest.raises(DecodeError):
        codec.decode(_raw(3, {"display_name": 5, "reason": "r"}))


def test_extra_payload_fields_are_refused() -> None:
    """Payloads forbid unknown fields, so a typo never silently drops data."""
    with pytest.raises(DecodeError):
        codec.decode(_raw(3, {"display_name": "x", "reason": "r", "colour": "red"}))


def test_envelope_is_frozen_and_times_are_utc() -> None:
    """Envelopes are immutable and occurred_at is normalised to UTC."""
    local = datetime(2026, 1, 1, 12, tzinfo=timezone(timedelta(hours=2)))
    event = new_event(
        WidgetRenamed(display_name="w", reason="r"),
        context=CONTEXT,
        aggregate_id="w1",
        occurred_at=local,
    )
    assert event.occurred_at == datetime(2026, 1, 1, 10, tzinfo=UTC)
    assert event.occurred_at.tzinfo == UTC
    with pytest.raises(ValidationError):
        event.actor = "mallory"  # type: ignore[misc]


def test_naive_time_is_refused() -> None:
    """A timestamp without a zone is refused rather than guessed."""
    with pytest.raises(ValidationError):
        EventEnvelope(
            id=uuid7(), type="widget.renamed", schema_version=3, tenant="acme", aggregate="widget",
            aggregate_id="w1", occurred_at=datetime(2026, 1, 1), actor="a", correlation_id="c",
            data=WidgetRenamed(display_name="w", reason="r"),
        )  # fmt: skip


def test_registering_a_second_model_under_one_type_fails() -> None:
    """Two models can never claim the same wire name."""
    with pytest.raises(EventsError):

        @registry.register("widget.renamed", version=1, aggregate="widget")
        class Impostor(EventData):
            pass


def test_uuid7_is_version_7_and_time_ordered() -> None:
    """Event ids are UUIDv7 and sort by creation time."""
    ids = [uuid7() for _ in range(100)]
    assert all(i.version == 7 for i in ids)
    assert [i.int >> 80 for i in ids] == sorted(i.int >> 80 for i in ids)
    assert len(set(ids)) == 100


def test_uuid7_differs_in_a_forked_child() -> None:
    """A forked process does not repeat its parent's event ids."""
    import os
    import warnings

    read, write = os.pipe()
    with warnings.catch_warnings():
        # Python >= 3.12 warns about fork() in a multi-threaded process; the child here
        # only writes 16 bytes and exits.
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        os.write(write, uuid7().bytes)
        os._exit(0)
    os.waitpid(pid, 0)
    child_random = int.from_bytes(os.read(read, 16), "big") & ((1 << 62) - 1)
    assert child_random != uuid7().int & ((1 << 62) - 1)  # random bits, not the time


def test_new_event_equals_a_validated_envelope() -> None:
    """new_event's fast assembly gives exactly what full validation would."""
    event = new_event(
        WidgetRenamed(display_name="w", reason="r"), context=CONTEXT, aggregate_id="w1"
    )
    validated = EventEnvelope.model_validate(
        {**event.model_dump(exclude={"data"}), "data": event.data}
    )
    assert event == validated
    assert event.model_fields_set == validated.model_fields_set
    assert event.model_dump_json() == validated.model_dump_json()
    with pytest.raises(ValidationError):
        event.actor = "mallory"  # type: ignore[misc]


@pytest.mark.parametrize("bad", ["a.b", "*", "x y", ""])
def test_new_event_refuses_unsafe_ids(bad: str) -> None:
    """new_event checks tenant and aggregate id as subject tokens."""
    from trstctl.events.errors import InvalidSubjectToken

    with pytest.raises(InvalidSubjectToken):
        new_event(WidgetRenamed(display_name="w", reason="r"), context=CONTEXT, aggregate_id=bad)
