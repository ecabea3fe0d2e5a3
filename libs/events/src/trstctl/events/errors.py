"""Typed errors with stable codes; the root every trstctl package derives from."""

from __future__ import annotations

from typing import Any


class TrstctlError(Exception):
    """Root of every trstctl error. ``code`` is stable and part of the API contract."""

    code: str = "internal_error"

    def __init__(self, message: str, *, code: str | None = None, **details: Any) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
        self.message = message
        self.details: dict[str, Any] = details

    def to_wire(self) -> dict[str, Any]:
        """The ``{code, message, details}`` shape a command reply and the HTTP layer carry."""
        return {"code": self.code, "message": self.message, "details": self.details}


class EventsError(TrstctlError):
    """Root of the errors raised by ``trstctl.events``."""

    code = "events_error"


class InvalidSubjectToken(EventsError):
    code = "invalid_subject_token"


class DecodeError(EventsError):
    """Bytes that are not a valid event envelope. Never retried: the bytes will not change."""

    code = "undecodable_event"


class UnknownEventType(DecodeError):
    code = "unknown_event_type"


class ConcurrencyConflict(EventsError):
    """The subject moved on since it was loaded (JetStream error 10071): reload and re-decide."""

    code = "concurrency_conflict"

    def __init__(self, subject: str, expected_last_seq: int, detail: str = "") -> None:
        super().__init__(
            f"{subject} is no longer at sequence {expected_last_seq}"
            + (f": {detail}" if detail else ""),
            subject=subject,
            expected_last_seq=expected_last_seq,
        )
        self.subject = subject
        self.expected_last_seq = expected_last_seq


class StoreUnavailable(EventsError):
    code = "event_store_unavailable"


class EventTooLarge(EventsError):
    """An encoded event larger than one stream message may be; nothing was appended."""

    code = "event_too_large"


class StreamConfigConflict(EventsError):
    """An existing stream's configuration conflicts with ours; never silently changed."""

    code = "stream_config_conflict"


class UnsupportedServer(EventsError):
    code = "unsupported_nats_server"


class CommandError(EventsError):
    """A command failed. Raised on the caller's side with the responder's code."""

    code = "command_failed"


class CommandTimeout(CommandError):
    code = "command_timeout"


class NoResponders(CommandError):
    code = "no_responders"


class InvalidCommand(CommandError):
    code = "invalid_command"


class UnknownCommand(CommandError):
    code = "unknown_command"


class ReplyTooLarge(CommandError):
    """The handler finished (its events are appended) but its reply cannot fit one
    message; the caller is told so instead of waiting for a timeout."""

    code = "reply_too_large"


class RetryableError(EventsError):
    """A consumer handler failure worth retrying later (the message is nak'ed with backoff)."""

    code = "retryable"


class PoisonEvent(EventsError):
    """A consumer handler will never succeed on this event (the message is terminated)."""

    code = "poison_event"
