"""Composition root of the issuer service (placeholder: connects, reports healthy, stops).

Its own issue replaces this with the command handlers wired on ``ctx.nats``.
"""

from __future__ import annotations

from dataclasses import dataclass

from trstctl.runtime.service import ServiceContext


@dataclass
class App:
    """The running issuer service; nothing to release yet beyond what the skeleton owns."""

    ctx: ServiceContext

    async def stop(self) -> None:
        """Nothing of its own to stop: the skeleton drains NATS afterwards."""


async def build(ctx: ServiceContext) -> App:
    """Wire the issuer service on ``ctx``."""
    return App(ctx)
