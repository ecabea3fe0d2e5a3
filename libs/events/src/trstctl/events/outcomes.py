"""The one place consumer outcomes are decided (shared by the JetStream and fake consumers)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from trstctl.events.errors import DecodeError, PoisonEvent
from trstctl.events.ports import DeliveryPolicy


class Action(StrEnum):
    ACK = "ack"
    NAK = "nak"
    TERM = "term"


@dataclass(frozen=True, slots=True)
class Outcome:
    action: Action
    delay: float = 0.0
    reason: str = ""


def outcome_for(error: BaseException | None, attempt: int, policy: DeliveryPolicy) -> Outcome:
    """Success → ack; poison or undecodable → term; anything else → nak with backoff,
    until ``max_deliver`` attempts, then term (the caller logs every term)."""
    if error is None:
        return Outcome(Action.ACK)
    if isinstance(error, DecodeError):
        return Outcome(Action.TERM, reason="undecodable")
    if isinstance(error, PoisonEvent):
        return Outcome(Action.TERM, reason="poison")
    if attempt >= policy.max_deliver:
        return Outcome(Action.TERM, reason="max_deliver_exhausted")
    return Outcome(Action.NAK, delay=policy.delay_after(attempt), reason="retryable")
