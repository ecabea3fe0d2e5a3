"""The only place bytes become events and events become bytes."""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError
from trstctl.events.envelope import EventEnvelope
from trstctl.events.errors import DecodeError, UnknownEventType
from trstctl.events.registry import REGISTRY, EventRegistry


class EventCodec:
    """JSON codec for envelopes. ``strict`` (tests) also refuses lax type coercion."""

    def __init__(self, registry: EventRegistry = REGISTRY, *, strict: bool = False) -> None:
        self.registry = registry
        self.strict = strict

    def encode(self, envelope: EventEnvelope) -> bytes:
        return envelope.model_dump_json().encode()

    def decode(self, raw: bytes) -> EventEnvelope:
        """Parse, upcast and validate; any failure is a ``DecodeError`` (never retried)."""
        try:
            body: Any = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise DecodeError(f"event is not JSON: {e}") from e
        if not isinstance(body, dict):
            raise DecodeError("event is not a JSON object")
        event_type, version, data = body.get("type"), body.get("schema_version"), body.get("data")
        if not isinstance(event_type, str) or not isinstance(version, int):
            raise DecodeError("event has no valid type/schema_version")
        if not isinstance(data, dict):
            raise DecodeError(f"{event_type}: data is not an object")
        try:
            latest, data = self.registry.upcast(event_type, version, data)
            model = self.registry.model_for(event_type)
            if self.strict and latest == version:
                # Strict validation must see JSON, not parsed Python: a datetime or an enum
                # is a string on the wire, and strict mode rightly refuses coercing it
                # from a parsed dict.
                payload = model.model_validate_json(json.dumps(data), strict=True)
            else:
                payload = model.model_validate(data)
            fields = {k: v for k, v in body.items() if k != "data"}
            fields["schema_version"] = latest
            envelope = EventEnvelope.model_validate({**fields, "data": payload})
        except UnknownEventType:
            raise
        except ValidationError as e:
            raise DecodeError(f"{event_type} v{version} is invalid: {e}") from e
        return envelope


DEFAULT_CODEC = EventCodec()
