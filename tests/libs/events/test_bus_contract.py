"""CommandBus contract: typed replies, typed errors and no hangs, on the fake and on NATS."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import BaseModel
from trstctl.events.errors import CommandError, CommandTimeout, NoResponders, TrstctlError
from trstctl.events.ports import CommandRequest, CommandResult

from .conftest import Backend

pytestmark = pytest.mark.integration


class Greeting(BaseModel):
    name: str


async def greet(request: CommandRequest) -> CommandResult:
    greeting = Greeting.model_validate(request.payload)
    return CommandResult(
        result={"hello": greeting.name, "tenant": request.tenant, "actor": request.actor},
        stream_seq=7,
    )


async def refuse(request: CommandRequest) -> CommandResult:
    raise TrstctlError("owner name taken", code="owner_name_taken", name="web")


async def crash(request: CommandRequest) -> CommandResult:
    raise RuntimeError("secret=hunter2 leaked into an exception")


RELEASE_HANG = asyncio.Event()


async def hang(request: CommandRequest) -> CommandResult:
    await asyncio.wait_for(RELEASE_HANG.wait(), 30)
    return CommandResult()


async def boast(request: CommandRequest) -> CommandResult:
    return CommandResult(result={"blob": "x" * (1024 * 1024)})


HANDLERS = {"greet": greet, "refuse": refuse, "crash": crash, "hang": hang, "boast": boast}


async def test_request_reaches_handler_and_returns_result(backend: Backend, tenant: str) -> None:
    """A served command returns its result, stream sequence and sees tenant and actor."""
    server = await backend.bus.serve(f"svc{tenant}", HANDLERS)
    try:
        reply = await backend.bus.request(
            f"svc{tenant}", "greet", {"name": "ada"}, tenant=tenant, actor="alice"
        )
    finally:
        await server.stop()
    assert reply.result == {"hello": "ada", "tenant": tenant, "actor": "alice"}
    assert reply.stream_seq == 7


async def test_domain_error_arrives_with_its_code_and_details(
    backend: Backend, tenant: str
) -> None:
    """A typed error from the handler reaches the caller with the same code and details."""
    server = await backend.bus.serve(f"svc{tenant}", HANDLERS)
    try:
        with pytest.raises(CommandError) as caught:
            await backend.bus.request(f"svc{tenant}", "refuse", {}, tenant=tenant, actor="a")
    finally:
        await server.stop()
    assert caught.value.code == "owner_name_taken"
    assert caught.value.details == {"name": "web"}


async def test_invalid_payload_is_invalid_command(backend: Backend, tenant: str) -> None:
    """A payload that fails validation is `invalid_command` listing the field, not a crash."""
    server = await backend.bus.serve(f"svc{tenant}", HANDLERS)
    try:
        with pytest.raises(CommandError) as caught:
            await backend.bus.request(f"svc{tenant}", "greet", {"nom": 1}, tenant=tenant, actor="a")
    finally:
        await server.stop()
    assert caught.value.code == "invalid_command"
    assert caught.value.details["errors"][0]["loc"] == "name"


async def test_unknown_command_is_typed(backend: Backend, tenant: str) -> None:
    """A command the service does not know is `unknown_command`."""
    server = await backend.bus.serve(f"svc{tenant}", HANDLERS)
    try:
        with pytest.raises(CommandError) as caught:
            await backend.bus.request(f"svc{tenant}", "nosuch", {}, tenant=tenant, actor="a")
    finally:
        await server.stop()
    assert caught.value.code == "unknown_command"


async def test_unexpected_failure_is_internal_error_without_detail(
    backend: Backend, tenant: str
) -> None:
    """A handler crash is `internal_error` and its message (which may hold secrets) stays home."""
    server = await backend.bus.serve(f"svc{tenant}", HANDLERS)
    try:
        with pytest.raises(CommandError) as caught:
            await backend.bus.request(f"svc{tenant}", "crash", {}, tenant=tenant, actor="a")
    finally:
        await server.stop()
    assert caught.value.code == "internal_error"
    assert "hunter2" not in str(caught.value.to_wire())


async def test_no_responders_is_typed_and_immediate(backend: Backend, tenant: str) -> None:
    """A command to a service nobody serves fails fast with `no_responders`."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(NoResponders) as caught:
        await backend.bus.request(f"nobody{tenant}", "greet", {}, tenant=tenant, actor="a")
    assert caught.value.code == "no_responders"
    assert loop.time() - started < 1.5


async def test_timeout_is_typed_never_a_hang(backend: Backend, tenant: str) -> None:
    """A handler that never answers gives `command_timeout` after the timeout."""
    server = await backend.bus.serve(f"svc{tenant}", HANDLERS)
    try:
        with pytest.raises(CommandTimeout) as caught:
            await backend.bus.request(
                f"svc{tenant}", "hang", {}, tenant=tenant, actor="a", timeout=0.3
            )
    finally:
        RELEASE_HANG.set()
        await server.stop()
        RELEASE_HANG.clear()
    assert caught.value.code == "command_timeout"


async def test_concurrent_requests_are_not_serialised(backend: Backend, tenant: str) -> None:
    """Slow handlers run concurrently: 50 requests of 100 ms finish well under 5 s."""

    async def slow(request: CommandRequest) -> CommandResult:
        await asyncio.sleep(0.1)
        return CommandResult(result={"i": request.payload["i"]})

    server = await backend.bus.serve(f"svc{tenant}", {"slow": slow})
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        replies = await asyncio.gather(
            *(
                backend.bus.request(f"svc{tenant}", "slow", {"i": i}, tenant=tenant, actor="a")
                for i in range(50)
            )
        )
    finally:
        await server.stop()
    assert sorted(r.result["i"] for r in replies) == list(range(50))
    assert loop.time() - started < 2.0


async def test_a_reply_too_large_for_a_message_is_typed(backend: Backend, tenant: str) -> None:
    """A result that cannot fit one message reaches the caller as `reply_too_large` at
    once, with the sizes, instead of a timeout."""
    server = await backend.bus.serve(f"svc{tenant}", HANDLERS)
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        with pytest.raises(CommandError) as caught:
            await backend.bus.request(f"svc{tenant}", "boast", {}, tenant=tenant, actor="a")
    finally:
        await server.stop()
    assert caught.value.code == "reply_too_large"
    assert caught.value.details["size"] > caught.value.details["limit"]
    assert loop.time() - started < 1.5


async def test_a_command_too_large_to_send_is_invalid_before_it_leaves(
    backend: Backend, tenant: str
) -> None:
    """A request over 1 MiB is `invalid_command` at the caller (nothing is sent)."""
    with pytest.raises(CommandError) as caught:
        await backend.bus.request(
            f"nobody{tenant}", "greet", {"name": "x" * (1024 * 1024)}, tenant=tenant, actor="a"
        )
    assert caught.value.code == "invalid_command"
    assert caught.value.details["size"] > caught.value.details["limit"]
