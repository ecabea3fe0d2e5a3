"""Refuse event loops that bypass Python sockets (uvloop), which the guard cannot see."""

from __future__ import annotations

import asyncio
import asyncio.selector_events

from trstctl.egressguard.errors import ForeignEventLoop


def _name(obj: object) -> str:
    return f"{type(obj).__module__}.{type(obj).__qualname__}"


def foreign_event_loop() -> str | None:
    """The name of a non-default loop policy or running loop, or ``None`` if all is default."""
    policy = asyncio.get_event_loop_policy()
    if type(policy) is not asyncio.DefaultEventLoopPolicy:
        return _name(policy)
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return None
    if not isinstance(loop, asyncio.selector_events.BaseSelectorEventLoop):
        return _name(loop)
    return None


def refuse_foreign_event_loop() -> None:
    """Raise ``ForeignEventLoop`` when the process would run on a loop the guard can't see."""
    found = foreign_event_loop()
    if found is not None:
        raise ForeignEventLoop(
            f"event loop {found} is not asyncio's default; loops such as uvloop open sockets "
            "in C where the air-gap egress guard cannot see them, so trstctl refuses to "
            "start under TRSTCTL_AIRGAP_ENABLED=true"
        )
