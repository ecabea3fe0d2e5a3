"""The issuer's path through the spine with no cryptography: the floor under its figures.

A service process built like the issuer (``run_service``, the command bus, a
``Repository`` on the JetStream event store) whose aggregate has the issuer's shape:
``open`` appends a first event (as ``request_identity`` does), ``close`` appends a
second one carrying a certificate-sized payload and replies with a reply-sized body
(as ``issue_certificate`` does). What it costs per command is what every issuance
pays before any key is generated, any CSR checked or anything signed.

Run by ``bench/issuer_bench.py`` as ``python bench/spine_service.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from trstctl.events.bus import NatsCommandBus
from trstctl.events.envelope import EventContext
from trstctl.events.jetstream import JetStreamEventStore
from trstctl.events.ports import CommandRequest, CommandResult, CommandServer
from trstctl.events.registry import REGISTRY, EventData
from trstctl.events.repository import Repository
from trstctl.runtime.service import ServiceContext, run_service

SERVICE = "spinefloor"
AGGREGATE = "floor_item"
# About what an issued P-256 leaf adds: base64 DER in the event, DER + PEM in the reply.
CERTIFICATE_SIZED = "A" * 700


@REGISTRY.register("floor_item.opened", version=1, aggregate=AGGREGATE)
class Opened(EventData):
    item_id: str
    name: str


@REGISTRY.register("floor_item.closed", version=1, aggregate=AGGREGATE)
class Closed(EventData):
    item_id: str
    body: str


@dataclass(frozen=True)
class Item:
    item_id: str
    status: str | None = None


@dataclass(frozen=True)
class Decision:
    events: tuple[EventData, ...]


def evolve(state: Item, event: EventData) -> Item:
    return replace(state, status="opened" if isinstance(event, Opened) else "closed")


@dataclass
class App:
    server: CommandServer

    async def stop(self) -> None:
        await self.server.stop()


async def build(ctx: ServiceContext) -> App:
    store = JetStreamEventStore(ctx.nats, stream=ctx.settings.nats_stream)
    items: Repository[Item] = Repository(store, aggregate=AGGREGATE, initial=Item, evolve=evolve)

    def context(request: CommandRequest) -> EventContext:
        return EventContext(
            request.tenant, request.actor, request.correlation_id, request.command_id
        )

    async def open_item(request: CommandRequest) -> CommandResult:
        item_id = str(request.payload["item_id"])
        done = await items.execute(
            request.tenant,
            item_id,
            lambda _: Decision((Opened(item_id=item_id, name=str(request.payload["name"])),)),
            context(request),
        )
        return CommandResult({"item_id": item_id}, done.last_seq)

    async def close_item(request: CommandRequest) -> CommandResult:
        item_id = str(request.payload["item_id"])
        done = await items.execute(
            request.tenant,
            item_id,
            lambda _: Decision((Closed(item_id=item_id, body=CERTIFICATE_SIZED),)),
            context(request),
        )
        body = {"item_id": item_id, "status": done.state.status, "der": CERTIFICATE_SIZED}
        return CommandResult({**body, "pem": CERTIFICATE_SIZED * 2}, done.last_seq)

    bus = NatsCommandBus(ctx.nats)
    return App(await bus.serve(SERVICE, {"open": open_item, "close": close_item}))


if __name__ == "__main__":
    raise SystemExit(run_service(SERVICE, build))
