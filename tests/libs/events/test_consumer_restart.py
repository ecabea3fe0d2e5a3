"""Real JetStream only: consumption survives a nats-server restart mid-stream."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from trstctl.events.connection import connect_nats
from trstctl.events.consumer import JetStreamSubscriber
from trstctl.events.envelope import StoredEvent
from trstctl.events.jetstream import JetStreamEventStore
from trstctl.events.ports import DeliveryPolicy
from trstctl.events.provision import ensure_stream
from trstctl.events.subjects import event_subject, tenant_events
from trstctl.runtime.embedded import EmbeddedNats

from .conftest import note

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.mark.timeout(120)
async def test_consumption_resumes_after_server_restart(tmp_path: Path, tenant: str) -> None:
    """Restarting nats-server mid-stream loses no acked event and skips none."""
    server = EmbeddedNats(tmp_path / "nats")
    server.start()
    nc = await connect_nats(server.url, name="restart-test")
    try:
        await ensure_stream(nc.jetstream())
        store = JetStreamEventStore(nc)
        before = [
            (
                await store.append(
                    event_subject(tenant, "note", f"b{i}"), [note(tenant, f"b{i}", "x")], 0
                )
            ).last_seq
            for i in range(200)
        ]
        seen: list[int] = []
        half = asyncio.Event()

        async def handler(event: StoredEvent) -> None:
            seen.append(event.stream_seq)
            if len(seen) == 100:
                half.set()
            await asyncio.sleep(0.002)

        subscriber = JetStreamSubscriber(nc, fetch_timeout=0.5)
        sub = await subscriber.subscribe(
            "restart",
            [tenant_events(tenant)],
            handler,
            policy=DeliveryPolicy(batch=20, ack_wait=2.0),
        )
        await asyncio.wait_for(half.wait(), 30)
        # Stop and start the server process (same port and store) while consuming.
        await asyncio.to_thread(server.restart)
        after = []
        for i in range(100):
            subject = event_subject(tenant, "note", f"a{i}")
            for _ in range(100):  # the client reconnects within a few hundred ms
                try:
                    after.append(
                        (await store.append(subject, [note(tenant, f"a{i}", "y")], 0)).last_seq
                    )
                    break
                except Exception:
                    await asyncio.sleep(0.1)
        expected = set(before) | set(after)
        assert len(expected) == 300

        async def all_seen() -> None:
            while not expected <= set(seen):  # noqa: ASYNC110 - handler appends to a list
                await asyncio.sleep(0.05)

        await asyncio.wait_for(all_seen(), 60)
        # An ack sent while the server was down is lost; the server redelivers that event
        # after ack_wait (at-least-once), so wait for the consumer to be fully acked.
        for _ in range(100):
            await nc.flush()
            info = await nc.jetstream().consumer_info("TRSTCTL_EVENTS", "restart")
            if info.num_ack_pending == 0 and info.num_pending == 0:
                break
            await asyncio.sleep(0.1)
        await sub.stop()
        assert info.num_ack_pending == 0
        assert info.num_pending == 0
        assert set(seen) == expected  # none skipped, nothing foreign
        assert sub.rebinds >= 1  # the watchdog noticed the reconnect
    finally:
        await nc.close()
        server.stop()
