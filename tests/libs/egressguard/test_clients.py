"""Real client libraries go through the guard: public denied before any syscall, loopback works."""

from __future__ import annotations

import asyncio
import socket
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import asyncpg
import nats
import pytest
from trstctl.egressguard import EgressDenied, Policy, metrics

AIRGAP = Policy.build(enabled=True)
PUBLIC_IP = "1.1.1.1"

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@dataclass
class LoopbackServer:
    """A loopback asyncio server that counts the connections it accepted."""

    host: str
    port: int
    accepted: list[int] = field(default_factory=list)


async def _http_ok(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
    await writer.drain()


async def _nats_minimal(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    # Just enough of the NATS protocol for nats-py to complete its handshake.
    writer.write(b'INFO {"server_id":"t","version":"2.10.0","proto":1,"max_payload":1048576}\r\n')
    await writer.drain()
    while line := await reader.readline():
        if line.startswith(b"PING"):
            writer.write(b"PONG\r\n")
            await writer.drain()


async def _close_at_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    return


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Handler], Awaitable[LoopbackServer]]]:
    """Start loopback servers with a given handler; all are closed afterwards."""
    servers: list[asyncio.Server] = []

    async def _serve(handler: Handler) -> LoopbackServer:
        info = LoopbackServer("127.0.0.1", 0)

        async def wrapped(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            info.accepted.append(1)
            try:
                await handler(reader, writer)
            except (ConnectionError, asyncio.IncompleteReadError):
                pass
            finally:
                writer.close()

        server = await asyncio.start_server(wrapped, "127.0.0.1", 0)
        servers.append(server)
        info.port = server.sockets[0].getsockname()[1]
        return info

    yield _serve
    for server in servers:
        server.close()
        await server.wait_closed()


async def test_asyncio_open_connection_public_denied(install_guard: Any) -> None:
    """asyncio.open_connection to a public IP fails with EgressDenied, no syscall."""
    calls = install_guard(AIRGAP)
    with pytest.raises(EgressDenied):
        await asyncio.open_connection(PUBLIC_IP, 443)
    assert calls.reached == []


async def test_asyncio_open_connection_loopback(install_guard: Any, serve: Any) -> None:
    """asyncio.open_connection to a loopback server connects through the guard."""
    calls = install_guard(AIRGAP)
    server = await serve(_close_at_once)
    _reader, writer = await asyncio.open_connection(server.host, server.port)
    writer.close()
    await writer.wait_closed()
    assert calls.hosts_reached() == {"127.0.0.1"}


async def test_asyncio_rebinding_denied(install_guard: Any, monkeypatch: Any) -> None:
    """asyncio resolving a name to a public address is denied on the connect."""
    calls = install_guard(AIRGAP)

    def rebound(host: Any, port: Any, *args: Any) -> list[Any]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("8.8.8.8", port))]

    monkeypatch.setattr(socket, "getaddrinfo", rebound)
    with pytest.raises(EgressDenied) as caught:
        await asyncio.open_connection("rebind.example", 443)
    assert caught.value.ip == "8.8.8.8"
    assert calls.reached == []


async def test_asyncio_udp_public_denied(install_guard: Any) -> None:
    """A datagram endpoint towards a public address is denied."""
    calls = install_guard(AIRGAP)
    loop = asyncio.get_running_loop()
    with pytest.raises(EgressDenied):
        await loop.create_datagram_endpoint(asyncio.DatagramProtocol, remote_addr=(PUBLIC_IP, 53))
    assert calls.reached == []


async def test_aiohttp_public_denied(install_guard: Any) -> None:
    """aiohttp to a public URL fails with the guard's error as cause, no syscall."""
    calls = install_guard(AIRGAP, service="aiohttp-test")
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientConnectorError) as caught:
            await session.get(f"http://{PUBLIC_IP}/", timeout=aiohttp.ClientTimeout(total=5))
    assert isinstance(caught.value.os_error, EgressDenied)
    assert calls.reached == []
    assert metrics.trips("aiohttp-test", "public") >= 1


async def test_aiohttp_loopback(install_guard: Any, serve: Any) -> None:
    """aiohttp reaches a loopback HTTP server normally under air-gap."""
    calls = install_guard(AIRGAP)
    server = await serve(_http_ok)
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{server.port}/") as response,
    ):
        assert await response.text() == "ok"
    assert calls.hosts_reached() == {"127.0.0.1"}


async def test_urllib_public_denied(install_guard: Any) -> None:
    """urllib (socket.create_connection) to a public URL is denied, no syscall."""
    calls = install_guard(AIRGAP)
    with pytest.raises(urllib.error.URLError) as caught:
        await asyncio.to_thread(urllib.request.urlopen, f"http://{PUBLIC_IP}/", timeout=5)
    assert isinstance(caught.value.reason, EgressDenied)
    assert calls.reached == []


async def test_urllib_loopback(install_guard: Any, serve: Any) -> None:
    """urllib fetches from a loopback server under air-gap."""
    calls = install_guard(AIRGAP)
    server = await serve(_http_ok)
    url = f"http://127.0.0.1:{server.port}/"

    def fetch() -> bytes:
        with urllib.request.urlopen(url, timeout=5) as response:
            body: bytes = response.read()
            return body

    assert await asyncio.to_thread(fetch) == b"ok"
    assert calls.hosts_reached() == {"127.0.0.1"}


async def test_asyncpg_public_denied(install_guard: Any) -> None:
    """asyncpg to a public PostgreSQL host fails with EgressDenied, no syscall."""
    calls = install_guard(AIRGAP)
    with pytest.raises(EgressDenied):
        await asyncpg.connect(
            host=PUBLIC_IP, port=5432, user="u", password="p", database="d", ssl=False, timeout=5
        )
    assert calls.reached == []


async def test_asyncpg_loopback_allowed(install_guard: Any, serve: Any) -> None:
    """asyncpg's connection to a loopback listener is allowed and reaches it."""
    calls = install_guard(AIRGAP)
    server = await serve(_close_at_once)
    # The fake server hangs up at once; what matters is that the connect was let through.
    with pytest.raises((ConnectionError, OSError, asyncpg.PostgresError)):
        await asyncpg.connect(
            host="127.0.0.1",
            port=server.port,
            user="u",
            password="p",
            database="d",
            ssl=False,
            timeout=5,
        )
    assert server.accepted
    assert calls.hosts_reached() == {"127.0.0.1"}


async def test_nats_public_denied(install_guard: Any) -> None:
    """nats-py to a public server fails, and the guard stopped it before any syscall."""
    calls = install_guard(AIRGAP, service="nats-test")
    errors: list[Exception] = []

    async def on_error(error: Exception) -> None:
        errors.append(error)

    # max_reconnect_attempts=0 means "forever" in nats-py; 1 retry then NoServersError.
    # wait_for bounds it so no retry loop can outlive this test (and its guard).
    with pytest.raises((OSError, nats.errors.NoServersError)):
        await asyncio.wait_for(
            nats.connect(
                servers=[f"nats://{PUBLIC_IP}:4222"],
                allow_reconnect=False,
                max_reconnect_attempts=1,
                reconnect_time_wait=0.01,
                connect_timeout=2,
                error_cb=on_error,
            ),
            timeout=10,
        )
    assert calls.reached == []
    assert metrics.trips("nats-test", "public") >= 1
    assert any(isinstance(e, EgressDenied) for e in errors)


async def test_nats_loopback(install_guard: Any, serve: Any) -> None:
    """nats-py completes its handshake with a loopback server under air-gap."""
    calls = install_guard(AIRGAP)
    server = await serve(_nats_minimal)
    client = await nats.connect(
        servers=[f"nats://127.0.0.1:{server.port}"],
        allow_reconnect=False,
        connect_timeout=5,
    )
    assert client.is_connected
    await client.close()
    assert calls.hosts_reached() == {"127.0.0.1"}
