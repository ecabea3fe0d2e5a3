"""The command bus on core NATS request/reply (production adapter of ``CommandBus``).

Each service subscribes to ``trstctl.cmd.<service>.*`` in the queue group
``trstctl-<service>`` so any number of replicas share the load. nats-py runs one
subscription's callbacks one at a time, so every request is handled in its own task
(bounded by ``max_in_flight``): a handler awaiting its JetStream append must not
serialise the whole service.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import structlog
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.errors import NoRespondersError as NatsNoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError
from trstctl.events.commands import (
    command_timeout,
    decode_reply,
    dispatch,
    encode_request,
    no_responders,
)
from trstctl.events.errors import ReplyTooLarge
from trstctl.events.ports import HEADER_ROOM, CommandHandler, CommandResult
from trstctl.events.subjects import command_subject, service_commands

log = structlog.get_logger("trstctl.events.bus")


class NatsCommandServer:
    """One service's command subscription; ``stop`` drains in-flight requests."""

    def __init__(
        self, subscription: Subscription, tasks: set[asyncio.Task[None]], drain_timeout: float
    ) -> None:
        self._subscription = subscription
        self._tasks = tasks
        self._drain_timeout = drain_timeout

    async def stop(self) -> None:
        """Stop taking requests, let in-flight ones finish (up to the drain timeout)."""
        await self._subscription.unsubscribe()
        if not self._tasks:
            return
        _, pending = await asyncio.wait(set(self._tasks), timeout=self._drain_timeout)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)


class NatsCommandBus:
    """``CommandBus`` over one NATS connection."""

    def __init__(
        self, nc: NatsClient, *, default_timeout: float = 5.0, drain_timeout: float = 10.0
    ) -> None:
        self._nc = nc
        self._default_timeout = default_timeout
        self._drain_timeout = drain_timeout

    async def request(
        self,
        service: str,
        name: str,
        payload: Mapping[str, Any],
        *,
        tenant: str,
        actor: str,
        correlation_id: str | None = None,
        idempotency_key: str | None = None,
        timeout: float | None = None,
    ) -> CommandResult:
        subject = command_subject(service, name)
        data = encode_request(
            payload,
            tenant=tenant,
            actor=actor,
            correlation_id=correlation_id,
            idempotency_key=idempotency_key,
        )
        wait = timeout if timeout is not None else self._default_timeout
        try:
            reply = await self._nc.request(subject, data, timeout=wait)
        except NatsNoRespondersError as e:
            raise no_responders(service, name) from e
        except (TimeoutError, NatsTimeoutError) as e:
            raise command_timeout(service, name, wait) from e
        return decode_reply(reply.data)

    async def serve(
        self, service: str, handlers: Mapping[str, CommandHandler], *, max_in_flight: int = 256
    ) -> NatsCommandServer:
        slots = asyncio.Semaphore(max_in_flight)
        tasks: set[asyncio.Task[None]] = set()
        prefix_len = len(command_subject(service, "x")) - 1
        max_reply_bytes = self._nc.max_payload - HEADER_ROOM

        async def handle(msg: Msg) -> None:
            try:
                name = msg.subject[prefix_len:]
                reply, error, unexpected = await dispatch(
                    handlers, service, name, msg.data, max_reply_bytes=max_reply_bytes
                )
                if unexpected is not None:
                    log.error(
                        "command.failed",
                        service=service,
                        command=name,
                        error_type=type(unexpected).__name__,
                        exc_info=unexpected,
                    )
                elif isinstance(error, ReplyTooLarge):
                    # Not a refusal: the command took effect, only its answer is lost.
                    log.error("command.reply_too_large", service=service, command=name)
                elif error is not None:
                    log.info("command.rejected", service=service, command=name, code=error.code)
                if msg.reply:
                    await msg.respond(reply)
            finally:
                slots.release()

        async def on_message(msg: Msg) -> None:
            # Waiting for a slot here applies back-pressure to the subscription.
            await slots.acquire()
            task = asyncio.create_task(handle(msg))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

        subscription = await self._nc.subscribe(
            service_commands(service), queue=f"trstctl-{service}", cb=on_message
        )
        # subscribe() only queues the SUB: without the round trip a service could report
        # healthy while a client's request still meets "no responders".
        await self._nc.flush()
        return NatsCommandServer(subscription, tasks, self._drain_timeout)
