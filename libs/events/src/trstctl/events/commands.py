"""Command wire format shared by the NATS bus and the in-memory fake.

Request: ``{"payload", "tenant", "actor", "correlation_id", "command_id", "idempotency_key"}``.
Reply: ``{"ok": true, "result", "stream_seq"}`` or ``{"ok": false, "error": {code, message,
details}}``. Encoding and decoding happen here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError
from trstctl.events import wirejson
from trstctl.events.errors import (
    CommandError,
    CommandTimeout,
    InvalidCommand,
    NoResponders,
    ReplyTooLarge,
    TrstctlError,
    UnknownCommand,
)
from trstctl.events.ids import uuid7
from trstctl.events.ports import (
    DEFAULT_MAX_PAYLOAD,
    HEADER_ROOM,
    CommandHandler,
    CommandRequest,
    CommandResult,
)
from trstctl.events.subjects import command_subject, token

MAX_COMMAND_BYTES = 1024 * 1024


def encode_request(
    payload: Mapping[str, Any],
    *,
    tenant: str,
    actor: str,
    correlation_id: str | None,
    idempotency_key: str | None,
) -> bytes:
    token(tenant, "tenant")
    data = wirejson.dumps(
        {
            "payload": dict(payload),
            "tenant": tenant,
            "actor": actor,
            "correlation_id": correlation_id or str(uuid7()),
            "command_id": str(uuid7()),
            "idempotency_key": idempotency_key,
        }
    )
    if len(data) > MAX_COMMAND_BYTES:
        # Refused here, typed, rather than by the NATS client or the responder.
        raise InvalidCommand(
            f"command of {len(data)} bytes is larger than {MAX_COMMAND_BYTES} bytes",
            size=len(data),
            limit=MAX_COMMAND_BYTES,
        )
    return data


def no_responders(service: str, name: str) -> NoResponders:
    """The error a caller gets when no instance of ``service`` is running."""
    return NoResponders(
        f"no {service} service is running to handle {name}",
        subject=command_subject(service, name),
    )


def command_timeout(service: str, name: str, wait: float) -> CommandTimeout:
    """The error a caller gets when ``service`` did not answer in time."""
    return CommandTimeout(
        f"{service}.{name} did not answer within {wait:g}s",
        subject=command_subject(service, name),
        timeout=wait,
    )


def decode_request(service: str, name: str, raw: bytes) -> CommandRequest:
    """Parse a request; anything malformed is ``InvalidCommand`` (never a crash)."""
    if len(raw) > MAX_COMMAND_BYTES:
        raise InvalidCommand(f"command larger than {MAX_COMMAND_BYTES} bytes")
    try:
        body = wirejson.loads(raw)
    except wirejson.WireJsonError as e:
        raise InvalidCommand("command is not valid JSON") from e
    if not isinstance(body, dict) or not isinstance(body.get("payload"), dict):
        raise InvalidCommand("command must be an object with an object 'payload'")
    fields = {}
    for key in ("tenant", "actor", "correlation_id", "command_id"):
        value = body.get(key)
        if not isinstance(value, str) or not value:
            raise InvalidCommand(f"command field {key!r} must be a non-empty string")
        fields[key] = value
    token(fields["tenant"], "tenant")
    idempotency_key = body.get("idempotency_key")
    if idempotency_key is not None and not isinstance(idempotency_key, str):
        raise InvalidCommand("idempotency_key must be a string")
    return CommandRequest(
        service=service,
        name=name,
        payload=body["payload"],
        idempotency_key=idempotency_key,
        **fields,
    )


def ok_reply(result: CommandResult) -> bytes:
    return wirejson.dumps({"ok": True, "result": result.result, "stream_seq": result.stream_seq})


def error_reply(error: TrstctlError) -> bytes:
    return wirejson.dumps({"ok": False, "error": error.to_wire()})


def decode_reply(raw: bytes) -> CommandResult:
    """Turn a reply into a result, or raise ``CommandError`` carrying the responder's code."""
    try:
        body = wirejson.loads(raw)
    except wirejson.WireJsonError as e:
        raise CommandError("unreadable command reply") from e
    if not isinstance(body, dict):
        raise CommandError("unreadable command reply")
    if body.get("ok") is True:
        return CommandResult(result=body.get("result") or {}, stream_seq=body.get("stream_seq"))
    error = body.get("error") or {}
    details = error.get("details") or {}
    failure = CommandError(
        str(error.get("message", "command failed")), code=str(error.get("code", "command_failed"))
    )
    # Set, not passed as keywords: a detail named "code" or "message" must not collide.
    failure.details = details if isinstance(details, dict) else {"details": details}
    raise failure


async def dispatch(
    handlers: Mapping[str, CommandHandler],
    service: str,
    name: str,
    raw: bytes,
    *,
    max_reply_bytes: int = DEFAULT_MAX_PAYLOAD - HEADER_ROOM,
) -> tuple[bytes, TrstctlError | None, BaseException | None]:
    """Run the handler for one raw request; always return reply bytes that fit one
    message of ``max_reply_bytes``.

    Returns the reply, the typed error sent (if any) and an unexpected exception (if
    any) so that the caller can log it: unexpected failures reach the client only as
    ``internal_error`` with no detail, because their text may contain anything.
    """
    reply, error, unexpected = await _dispatch(handlers, service, name, raw)
    if len(reply) > max_reply_bytes:
        too_large = ReplyTooLarge(
            f"{service}.{name} was carried out, but its reply of {len(reply)} bytes does not "
            f"fit a message (at most {max_reply_bytes})",
            size=len(reply),
            limit=max_reply_bytes,
        )
        return error_reply(too_large), too_large, None
    return reply, error, unexpected


async def _dispatch(
    handlers: Mapping[str, CommandHandler], service: str, name: str, raw: bytes
) -> tuple[bytes, TrstctlError | None, BaseException | None]:
    try:
        request = decode_request(service, name, raw)
        handler = handlers.get(name)
        if handler is None:
            raise UnknownCommand(f"{service} has no command {name!r}", command=name)
        result = await handler(request)
    except TrstctlError as e:
        return error_reply(e), e, None
    except ValidationError as e:
        invalid = InvalidCommand(
            f"invalid {name} command",
            errors=[
                {"loc": ".".join(map(str, err["loc"])), "msg": err["msg"], "type": err["type"]}
                for err in e.errors(include_url=False, include_input=False)
            ],
        )
        return error_reply(invalid), invalid, None
    except Exception as e:
        internal = TrstctlError("internal error", code="internal_error")
        return error_reply(internal), internal, e
    return ok_reply(result), None, None
