"""Pipelined JetStream publish acks over one wildcard inbox subscription.

Why not nats-py's ``publish_async``: when the server answers with an error (such as
10071, wrong last sequence) its reply handler raises instead of failing the future, so
the caller waits for a timeout. Why not ``nc.request`` per append: it costs a
``wait_for`` and a fresh inbox token per call and halves throughput. Here each publish
carries ``reply=<prefix>.<n>``; one subscription resolves the matching future with the
raw ack bytes; one sweeper task expires overdue ones (cheaper than a timer each).
"""

from __future__ import annotations

import asyncio
import itertools

from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from trstctl.events.errors import StoreUnavailable

NO_RESPONDERS_STATUS = "503"


class AckMultiplexer:
    """Matches JetStream publish acks to the publishes waiting for them."""

    def __init__(self, nc: NatsClient, timeout: float) -> None:
        self._nc = nc
        self._timeout = timeout
        self._prefix = ""
        self._counter = itertools.count()
        self._pending: dict[str, tuple[asyncio.Future[bytes], float, str]] = {}
        self._ready = asyncio.Lock()
        self._sweeper: asyncio.Task[None] | None = None

    async def _start(self) -> None:
        async with self._ready:
            if not self._prefix:
                prefix = self._nc.new_inbox()
                await self._nc.subscribe(f"{prefix}.*", cb=self._on_reply)
                self._prefix = prefix
                self._sweeper = asyncio.create_task(self._sweep(), name="ack-sweeper")

    async def _on_reply(self, msg: Msg) -> None:
        token = msg.subject[len(self._prefix) + 1 :]
        entry = self._pending.pop(token, None)
        if entry is None or entry[0].done():
            return
        future = entry[0]
        if msg.headers and msg.headers.get("Status") == NO_RESPONDERS_STATUS:
            future.set_exception(StoreUnavailable(f"no stream listens on {msg.subject}"))
            return
        future.set_result(msg.data)

    async def _sweep(self) -> None:
        # Expire publishes whose ack is overdue; ends with the connection.
        loop = asyncio.get_running_loop()
        while not self._nc.is_closed:
            await asyncio.sleep(min(self._timeout / 4, 0.25))
            now = loop.time()
            overdue = [t for t, (_, deadline, _) in self._pending.items() if deadline <= now]
            for token in overdue:
                future, _, subject = self._pending.pop(token)
                if not future.done():
                    future.set_exception(
                        StoreUnavailable(f"no ack for append to {subject}", subject=subject)
                    )

    async def publish(self, subject: str, payload: bytes, headers: dict[str, str]) -> bytes:
        """Publish and return the raw ack bytes (or raise ``StoreUnavailable``)."""
        if not self._prefix:
            await self._start()
        token = str(next(self._counter))
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bytes] = loop.create_future()
        self._pending[token] = (future, loop.time() + self._timeout, subject)
        try:
            reply = f"{self._prefix}.{token}"
            await self._nc.publish(subject, payload, reply=reply, headers=headers)
            return await future
        finally:
            self._pending.pop(token, None)
