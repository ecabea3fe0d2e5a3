"""Commands that talk to a running trstctl (e.g. ``trstctl ca init``) over the command bus.

The NATS URL comes from ``TRSTCTL_NATS_URL``, else from the state file a running
``trstctl up`` keeps in its data dir. The egress guard is armed first, as in services.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from typing import Any

from trstctl.runtime.settings import Settings

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_UNREACHABLE = 3


class NotRunning(Exception):
    """No NATS URL configured and no running `trstctl up` found."""


def nats_url_for(settings: Settings) -> str:
    """Where to reach the running system."""
    if settings.nats_url:
        return settings.nats_url
    from trstctl.runtime.supervisor import STATE_FILE

    state = settings.data_dir / STATE_FILE
    try:
        url = json.loads(state.read_text())["nats_url"]
    except (OSError, ValueError, KeyError) as e:
        raise NotRunning(
            f"no running trstctl found (no {state}); start it with `trstctl up` "
            "or set TRSTCTL_NATS_URL"
        ) from e
    return str(url)


async def send_command(
    settings: Settings,
    service: str,
    name: str,
    payload: Mapping[str, Any],
    *,
    tenant: str,
    actor: str,
) -> dict[str, Any]:
    """Send one command and return its result (or raise the typed ``CommandError``)."""
    from trstctl.events.bus import NatsCommandBus
    from trstctl.events.connection import connect_nats

    nc = await connect_nats(nats_url_for(settings), name="trstctl-cli")
    try:
        bus = NatsCommandBus(nc, default_timeout=max(settings.command_timeout_seconds, 30.0))
        reply = await bus.request(service, name, payload, tenant=tenant, actor=actor)
        return dict(reply.result)
    finally:
        await nc.close()


def print_ca(result: Mapping[str, Any], *, as_json: bool) -> None:
    if as_json:
        print(json.dumps(result, indent=2))
        return
    state = "already initialised (replayed)" if result.get("replayed") else "initialised"
    print(f"CA {result['ca_id']} {state}")
    print(f"  algorithm          {result['algorithm']}")
    print(f"  valid until        {result['not_after']}")
    print(f"  root sha256        {result['root_fingerprint_sha256']}")
    print(f"  issuing sha256     {result['issuing_fingerprint_sha256']}")
    print("root certificate (distribute to relying parties):", file=sys.stderr)
    print(result["root_certificate_pem"], end="")
