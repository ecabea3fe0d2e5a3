"""Pipelined JetStream publish acks over one wildcard inbox subscription.

Why not nats-py's ``publish_async``: when the server answers with an error (such as
10071, wrong last sequence) its reply handler raises instead of failing the future, so
the caller waits for a timeout. Why not ``nc.request`` per append: it costs a
``wait_for`` and a fresh inbox token per call and halves throughput. Here each publish
carries ``reply=<prefix>.<n>``; one subscription resolves the matching future with the
raw ack bytes; a timer (not a task) expires it.
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
        self._pending: dict[str, asyncio.Future[bytes]] = {}
        self._ready = asyncio.Lock()

    async def _start(self) -> None:
        async with self._ready:
            if not self._prefix:
                prefix = self._nc.new_inbox()
                await self._nc.subscribe(f"{prefix}.*", cb=self._on_reply)
                self._prefix = prefix

    async def _on_reply(self, msg: Msg) -> None:
        token = msg.subject[len(self._prefix) + 1 :]
        future = self._pending.pop(token, None)
        if future is None or future.done():
            return
        if msg.headers and msg.headers.get("Status") == NO_RESPONDERS_STATUS:
            future.set_exception(StoreUnavailable(f"no stream listens on {msg.subject}"))
            return
        future.set_result(msg.data)

    def _expire(self, token: str, subject: str) -> None:
        future = self._pending.pop(token, None)
        if future is not None and not future.done():
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
        self._pending[token] = future
        timer = loop.call_later(self._timeout, self._expire, token, subject)
        try:
            await self._nc.publish(
                subject, payload, reply=f"{self._prefix}.{token}", headers=headers
            )
            return await future
        finally:
            timer.cancel()
            self._pending.pop(token, None)
