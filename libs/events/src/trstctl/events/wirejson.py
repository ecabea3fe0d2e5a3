"""JSON on the wire through pydantic-core's Rust codec (several times faster than the
stdlib ``json`` module on the command and ack hot paths; no extra dependency)."""

from __future__ import annotations

from typing import Any

import pydantic_core


class WireJsonError(ValueError):
    """Bytes that are not valid JSON."""


def dumps(value: Any) -> bytes:
    """Compact JSON bytes; values JSON has no type for (datetimes, UUIDs) become strings."""
    return pydantic_core.to_json(value, fallback=str)


def loads(raw: bytes) -> Any:
    """Parse JSON bytes or raise ``WireJsonError``."""
    try:
        return pydantic_core.from_json(raw)
    except ValueError as e:
        raise WireJsonError(str(e)) from e
