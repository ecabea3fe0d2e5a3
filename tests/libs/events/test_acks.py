"""The ack multiplexer: a publish nobody acknowledges fails in time, never hangs."""

from __future__ import annotations

import asyncio

import pytest
from nats.aio.client import Client as NatsClient
from trstctl.events.acks import AckMultiplexer
from trstctl.events.errors import StoreUnavailable

pytestmark = pytest.mark.integration


async def test_unacknowledged_publish_times_out(nc: NatsClient, tenant: str) -> None:
    """A publish whose ack never comes raises StoreUnavailable after about the timeout."""
    subject = f"blackhole.{tenant}"

    async def ignore(_msg: object) -> None:
        return None

    sub = await nc.subscribe(subject, cb=ignore)  # receives, never replies
    acks = AckMultiplexer(nc, timeout=0.3)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(StoreUnavailable):
        await acks.publish(subject, b"x", {})
    assert 0.25 <= loop.time() - started < 2.0
    await sub.unsubscribe()


async def test_publish_without_any_listener_fails_fast(nc: NatsClient, tenant: str) -> None:
    """A subject no stream captures fails at once with StoreUnavailable (no responders)."""
    acks = AckMultiplexer(nc, timeout=5.0)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(StoreUnavailable):
        await acks.publish(f"nowhere.{tenant}", b"x", {})
    assert loop.time() - started < 1.0
