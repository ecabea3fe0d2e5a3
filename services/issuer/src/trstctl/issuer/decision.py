"""What every ``decide_*`` returns, and idempotency keys remembered per aggregate."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from trstctl.events.registry import EventData
from trstctl.issuer.errors import IdempotencyKeyReused


@dataclass(frozen=True)
class Decision:
    """What ``decide_*`` returns. ``private_key_pem`` (a server-generated leaf key) goes
    into the one reply and nowhere else; it is kept out of ``repr``."""

    events: tuple[EventData, ...] = ()
    private_key_pem: str | None = field(default=None, repr=False)
    replayed: bool = False


def replayed(seen: Mapping[str, str], key: str | None, event_type: str) -> bool:
    """True if ``key`` already produced an ``event_type`` event on this aggregate; a key
    reused for a different command is refused rather than silently ignored."""
    if key is None or key not in seen:
        return False
    if seen[key] != event_type:
        raise IdempotencyKeyReused(
            f"idempotency key already used for {seen[key]}", idempotency_key=key, used_for=seen[key]
        )
    return True


def remember(seen: Mapping[str, str], event: EventData) -> Mapping[str, str]:
    key = getattr(event, "idempotency_key", None)
    return {**seen, key: event.event_type} if key else seen
