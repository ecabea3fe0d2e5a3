"""What every ``decide_*`` returns, and idempotency keys remembered per aggregate."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from trstctl.events.registry import EventData
from trstctl.issuer.commands import Command
from trstctl.issuer.errors import IdempotencyKeyReused


@dataclass(frozen=True)
class Decision:
    """What ``decide_*`` returns. ``private_key_pem`` (a server-generated leaf key) goes
    into the one reply and nowhere else; it is kept out of ``repr``."""

    events: tuple[EventData, ...] = ()
    private_key_pem: str | None = field(default=None, repr=False)
    replayed: bool = False


IdempotencyRecord = Mapping[str, tuple[str, str | None]]


def replayed(seen: IdempotencyRecord, command: Command, event_type: str) -> bool:
    """True if the command's idempotency key already produced an ``event_type`` event on
    this aggregate for the same request. The key reused for another command, or for the
    same command with different content, is refused rather than silently ignored."""
    key = command.idempotency_key
    if key is None or key not in seen:
        return False
    used_for, digest = seen[key]
    if used_for != event_type:
        raise IdempotencyKeyReused(
            f"idempotency key already used for {used_for}", idempotency_key=key, used_for=used_for
        )
    if digest is not None and digest != command.digest():
        raise IdempotencyKeyReused(
            "idempotency key already used for a different request",
            idempotency_key=key,
            used_for=used_for,
        )
    return True


def remember(seen: IdempotencyRecord, event: EventData) -> IdempotencyRecord:
    key = getattr(event, "idempotency_key", None)
    if not key:
        return seen
    return {**seen, key: (event.event_type, getattr(event, "command_digest", None))}
