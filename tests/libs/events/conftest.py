"""Backends for the events contract tests: the in-memory fakes and real JetStream."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from trstctl.events.bus import NatsCommandBus
from trstctl.events.codec import EventCodec
from trstctl.events.consumer import JetStreamSubscriber
from trstctl.events.envelope import EventContext, EventEnvelope, new_event
from trstctl.events.jetstream import JetStreamEventStore
from trstctl.events.memory import MemoryCommandBus, MemoryEventStore
from trstctl.events.registry import REGISTRY, EventData

# Tests decode strictly: no lax coercion may hide a payload that does not match its schema.
STRICT = EventCodec(strict=True)


@REGISTRY.register("contract.noted", version=1, aggregate="note")
class Noted(EventData):
    """A minimal event payload for the contract tests."""

    text: str


@dataclass
class Backend:
    kind: str
    store: Any
    subscriber: Any
    bus: Any


def note(tenant: str, aggregate_id: str, text: str) -> EventEnvelope:
    """A fresh ``contract.noted`` event for ``tenant``/``aggregate_id``."""
    context = EventContext(tenant=tenant, actor="tester", correlation_id="corr-1")
    return new_event(Noted(text=text), context=context, aggregate_id=aggregate_id)


@pytest.fixture(params=["memory", "jetstream"])
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    """Each contract test runs once on the fakes and once on real NATS JetStream."""
    if request.param == "memory":
        store = MemoryEventStore(STRICT)
        yield Backend("memory", store, store, MemoryCommandBus(default_timeout=2.0))
        return
    # A sync fixture, so that it may pull the async ``nc`` fixture only when needed.
    nc = request.getfixturevalue("nc")
    yield Backend(
        "jetstream",
        JetStreamEventStore(nc, codec=STRICT),
        JetStreamSubscriber(nc, codec=STRICT, fetch_timeout=0.2),
        NatsCommandBus(nc, default_timeout=2.0),
    )
