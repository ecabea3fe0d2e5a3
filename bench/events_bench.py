"""Event spine throughput, each figure beside the raw nats-py rate of the same run.

Starts its own embedded nats-server (loopback, temporary store) and prints:
- raw ``js.publish_async`` messages/s (no headers, no concurrency control): the ceiling;
- sequential appends/s (one awaited append at a time, with concurrency control);
- pipelined appends/s with 256 and with 1024 aggregates in flight (each append with
  its expected sequence and de-duplication id; each aggregate's appends in order);
- consumer events/s (durable pull consumer, explicit acks, trivial handler).

Goal (issue #2): pipelined appends >= 50% of raw publish_async throughput.
Run: ``make bench`` or ``.venv/bin/python bench/events_bench.py [--events N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from trstctl.events.connection import connect_nats
from trstctl.events.consumer import JetStreamSubscriber
from trstctl.events.envelope import EventContext, StoredEvent, new_event
from trstctl.events.jetstream import JetStreamEventStore
from trstctl.events.ports import DeliveryPolicy
from trstctl.events.provision import ensure_stream
from trstctl.events.registry import REGISTRY, EventData
from trstctl.events.subjects import event_subject, tenant_events
from trstctl.runtime.embedded import EmbeddedNats


@REGISTRY.register("bench.ticked", version=1, aggregate="ticker")
class Ticked(EventData):
    n: int


CONTEXT = EventContext(tenant="bench", actor="bench", correlation_id="bench")


async def raw_publish_async(nc: object, count: int) -> float:
    js = nc.jetstream(publish_async_max_pending=8192)  # type: ignore[attr-defined]
    payload = b'{"n":0,"padding":"' + b"x" * 200 + b'"}'
    started = time.perf_counter()
    futures = [
        await js.publish_async(f"trstctl.evt.raw.ticker.r{i % 1000}", payload) for i in range(count)
    ]
    await asyncio.gather(*futures)
    return count / (time.perf_counter() - started)


async def sequential_appends(store: JetStreamEventStore, count: int) -> float:
    subject = event_subject("bench", "ticker", "sequential")
    last = 0
    started = time.perf_counter()
    for n in range(count):
        event = new_event(Ticked(n=n), context=CONTEXT, aggregate_id="sequential")
        last = (await store.append(subject, [event], last)).last_seq
    return count / (time.perf_counter() - started)


async def pipelined_appends(
    store: JetStreamEventStore, count: int, in_flight: int, *, prefix: str = "p"
) -> float:
    per_aggregate = max(count // in_flight, 1)

    async def one_aggregate(index: int) -> None:
        aggregate_id = f"{prefix}{index}"
        subject = event_subject("bench", "ticker", aggregate_id)
        last = 0
        for n in range(per_aggregate):
            event = new_event(Ticked(n=n), context=CONTEXT, aggregate_id=aggregate_id)
            last = (await store.append(subject, [event], last)).last_seq

    started = time.perf_counter()
    await asyncio.gather(*(one_aggregate(i) for i in range(in_flight)))
    return per_aggregate * in_flight / (time.perf_counter() - started)


async def consumer_rate(nc: object, expected: int) -> float:
    seen = 0
    done = asyncio.Event()

    async def handler(event: StoredEvent) -> None:
        nonlocal seen
        seen += 1
        if seen >= expected:
            done.set()

    subscriber = JetStreamSubscriber(nc, fetch_timeout=0.5)  # type: ignore[arg-type]
    started = time.perf_counter()
    sub = await subscriber.subscribe(
        "bench", [tenant_events("bench")], handler, policy=DeliveryPolicy(batch=512)
    )
    await asyncio.wait_for(done.wait(), 300)
    elapsed = time.perf_counter() - started
    await sub.stop()
    return expected / elapsed


async def run(events: int, in_flights: list[int]) -> None:
    with tempfile.TemporaryDirectory(prefix="trstctl-bench-") as tmp:
        server = EmbeddedNats(Path(tmp) / "nats")
        server.start()
        try:
            nc = await connect_nats(server.url, name="bench")
            await ensure_stream(nc.jetstream())
            store = JetStreamEventStore(nc, timeout=30.0)
            raw_before = await raw_publish_async(nc, events)
            sequential_count = min(events // 4, 5000)
            sequential = await sequential_appends(store, sequential_count)
            pipelined = {}
            for round_, in_flight in enumerate(in_flights):
                pipelined[in_flight] = await pipelined_appends(
                    store, events, in_flight, prefix=f"r{round_}"
                )
            # The raw rate is measured before and after; the higher one is the ceiling we
            # compare against, so background noise cannot flatter the ratio.
            raw = max(raw_before, await raw_publish_async(nc, events))
            total = sequential_count + sum((events // f) * f for f in in_flights)
            consumed = await consumer_rate(nc, total)
            await nc.close()
        finally:
            server.stop()
    print("== event spine (nats-server 2.15 embedded, loopback, one connection) ==")
    print(f"raw nats-py publish_async (best of 2)   : {raw:>9,.0f} msg/s")
    print(f"sequential appends (awaited, one agg.)  : {sequential:>9,.0f} events/s")
    for in_flight, rate in pipelined.items():
        ratio = rate / raw
        verdict = "MET" if ratio >= 0.5 else "NOT MET"
        print(
            f"pipelined appends ({in_flight:>4} aggregates)     : {rate:>9,.0f} events/s"
            f"  = {ratio:.0%} of raw (goal >= 50%: {verdict})"
        )
    print(f"durable consumer (explicit acks)        : {consumed:>9,.0f} events/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=40_000)
    parser.add_argument(
        "--in-flight",
        type=int,
        nargs="+",
        default=[256, 1024],
        help="aggregates appended to concurrently, one run each (default 256 1024)",
    )
    args = parser.parse_args()
    asyncio.run(run(args.events, args.in_flight))


if __name__ == "__main__":
    main()
