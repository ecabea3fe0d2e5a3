"""Durable JetStream consumers with one outcome mapping and a stall watchdog.

nats-py pull subscriptions can stop silently after a server restart (the pull request
in flight is lost, and the subscription's inbox may not be re-armed). The fetch loop
therefore uses short fetches and re-binds its pull subscription whenever the
connection reconnected or a fetch failed for any reason other than "no messages".
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

import structlog
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from trstctl.events.codec import DEFAULT_CODEC, EventCodec
from trstctl.events.envelope import StoredEvent
from trstctl.events.outcomes import Action, outcome_for
from trstctl.events.ports import DeliveryPolicy, EventHandler
from trstctl.events.provision import DEFAULT_STREAM
from trstctl.events.subjects import token

log = structlog.get_logger("trstctl.events.consumer")


class JetStreamSubscription:
    """A running durable consumer; ``stop`` finishes the event in hand, then returns."""

    def __init__(
        self,
        nc: NatsClient,
        js: JetStreamContext,
        *,
        stream: str,
        durable: str,
        handler: EventHandler,
        policy: DeliveryPolicy,
        codec: EventCodec,
        fetch_timeout: float,
    ) -> None:
        self._nc = nc
        self._js = js
        self._stream = stream
        self._durable = durable
        self._handler = handler
        self._policy = policy
        self._codec = codec
        self._fetch_timeout = fetch_timeout
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.rebinds = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"consumer:{self._durable}")

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                await self._consume()
            except asyncio.CancelledError:
                raise
            except Exception as e:
                # Server gone, consumer missing, connection closed mid-fetch: re-bind after
                # a pause. Nothing is lost: un-acked events are redelivered by the server.
                log.warning(
                    "consumer.rebind", durable=self._durable, error=f"{type(e).__name__}: {e}"
                )
                self.rebinds += 1
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), 0.5)

    async def _consume(self) -> None:
        subscription = await self._js.pull_subscribe_bind(
            durable=self._durable, stream=self._stream
        )
        reconnects = self._nc.stats["reconnects"]
        try:
            while not self._stopping.is_set():
                if self._nc.stats["reconnects"] != reconnects:
                    # The watchdog: a reconnect may have lost our pull request.
                    self.rebinds += 1
                    return
                try:
                    messages = await subscription.fetch(
                        self._policy.batch, timeout=self._fetch_timeout
                    )
                except NatsTimeoutError:
                    continue
                for msg in messages:
                    await self._deliver(msg)
        finally:
            with contextlib.suppress(Exception):
                await subscription.unsubscribe()

    async def _deliver(self, msg: Msg) -> None:
        attempt = msg.metadata.num_delivered
        stream_seq = msg.metadata.sequence.stream
        error: BaseException | None = None
        try:
            event = StoredEvent(self._codec.decode(msg.data), msg.subject, stream_seq)
            await self._handler(event)
        except asyncio.CancelledError:
            raise
        except Exception as e:
            error = e
        outcome = outcome_for(error, attempt, self._policy)
        if outcome.action is Action.ACK:
            await msg.ack()
            return
        fields = {
            "durable": self._durable,
            "subject": msg.subject,
            "stream_seq": stream_seq,
            "attempt": attempt,
            "reason": outcome.reason,
            "error": f"{type(error).__name__}: {error}",
        }
        if outcome.action is Action.NAK:
            log.warning("event.retry", delay=outcome.delay, **fields)
            await msg.nak(delay=outcome.delay)
        else:
            log.error("event.terminated", **fields)
            await msg.term()


class JetStreamSubscriber:
    """``EventSubscriber`` on the event stream."""

    def __init__(
        self,
        nc: NatsClient,
        *,
        stream: str = DEFAULT_STREAM,
        codec: EventCodec = DEFAULT_CODEC,
        fetch_timeout: float = 1.0,
    ) -> None:
        self._nc = nc
        self._js = nc.jetstream()
        self._stream = stream
        self._codec = codec
        self._fetch_timeout = fetch_timeout

    async def subscribe(
        self,
        durable: str,
        filter_subjects: Sequence[str],
        handler: EventHandler,
        *,
        policy: DeliveryPolicy = DeliveryPolicy(),  # noqa: B008 - frozen value object
    ) -> JetStreamSubscription:
        token(durable, "durable")
        filters = list(filter_subjects)
        config = ConsumerConfig(
            durable_name=durable,
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=policy.ack_wait,
            max_deliver=policy.max_deliver,
            max_ack_pending=max(policy.batch * 4, 1024),
        )
        # nats-server >= 2.10 honours several filters; one filter uses the classic field.
        if len(filters) == 1:
            config.filter_subject = filters[0]
        else:
            config.filter_subjects = filters
        await self._js.add_consumer(self._stream, config)
        subscription = JetStreamSubscription(
            self._nc,
            self._js,
            stream=self._stream,
            durable=durable,
            handler=handler,
            policy=policy,
            codec=self._codec,
            fetch_timeout=self._fetch_timeout,
        )
        subscription.start()
        return subscription
