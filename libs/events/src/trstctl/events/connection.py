"""Connecting to NATS: reconnect forever, report state changes, refuse old servers."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

import nats
from nats.aio.client import Client as NatsClient
from trstctl.events.errors import StoreUnavailable, UnsupportedServer

MINIMUM_SERVER_VERSION = (2, 10, 0)
ReconnectListener = Callable[[], Awaitable[None]]


def parse_server_version(version: str) -> tuple[int, int, int]:
    """``"2.10.4-beta"`` -> ``(2, 10, 4)``."""
    match = re.match(r"^v?(\d+)\.(\d+)\.(\d+)", version.strip())
    if not match:
        raise UnsupportedServer(f"cannot parse nats-server version {version!r}", version=version)
    major, minor, patch = (int(part) for part in match.groups())
    return major, minor, patch


def check_server_version(version: str) -> None:
    """Refuse servers older than 2.10: 2.9 silently ignores consumer ``filter_subjects``."""
    if parse_server_version(version) < MINIMUM_SERVER_VERSION:
        raise UnsupportedServer(
            f"nats-server {version} is too old: trstctl needs 2.10 or newer "
            "(2.9 silently ignores consumer filter_subjects and message TTLs)",
            version=version,
            minimum=".".join(map(str, MINIMUM_SERVER_VERSION)),
        )


async def connect_nats(
    url: str,
    *,
    name: str,
    on_reconnect: ReconnectListener | None = None,
    connect_timeout: float = 5.0,
) -> NatsClient:
    """Connect (reconnecting forever afterwards) and check the server version.

    ``on_reconnect`` runs after every reconnect; consumers use it to re-arm pull
    subscriptions, whose outstanding pull request is lost across a server restart.
    """

    async def _reconnected() -> None:
        if on_reconnect is not None:
            await on_reconnect()

    async def _quiet_error(_: Exception) -> None:
        # nats-py logs connection errors itself at ERROR level on every retry; state
        # changes are reported through the callbacks above instead.
        return None

    try:
        client = await nats.connect(
            url,
            name=name,
            connect_timeout=connect_timeout,
            allow_reconnect=True,
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.5,
            reconnected_cb=_reconnected,
            error_cb=_quiet_error,
        )
    except Exception as e:
        raise StoreUnavailable(f"cannot connect to NATS at {url}: {e}", url=url) from e
    try:
        check_server_version(_server_version(client))
    except UnsupportedServer:
        await client.close()
        raise
    return client


def _server_version(client: NatsClient) -> str:
    info = getattr(client, "_server_info", {}) or {}
    return str(info.get("version", "0.0.0"))
