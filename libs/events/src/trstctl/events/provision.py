"""Provisioning of the one event stream, ``TRSTCTL_EVENTS`` on ``trstctl.evt.>``.

Idempotent: creating an existing stream with the same configuration is a no-op. An
existing stream whose configuration conflicts with ours is reported, never silently
changed: it is the source of truth, and a quiet edit could drop guarantees
(``deny_delete``, ``deny_purge``) an auditor relies on.
"""

from __future__ import annotations

from dataclasses import dataclass

from nats.js import JetStreamContext
from nats.js.api import StorageType, StreamConfig, StreamInfo
from nats.js.errors import NotFoundError
from trstctl.events.errors import StreamConfigConflict
from trstctl.events.subjects import ALL_EVENTS

DEFAULT_STREAM = "TRSTCTL_EVENTS"


@dataclass(frozen=True, slots=True)
class StreamSpec:
    """What trstctl requires of its event stream."""

    name: str = DEFAULT_STREAM
    replicas: int = 1
    duplicate_window_seconds: float = 120.0

    def to_config(self) -> StreamConfig:
        return StreamConfig(
            name=self.name,
            description="trstctl events: the source of truth",
            subjects=[ALL_EVENTS],
            storage=StorageType.FILE,
            num_replicas=self.replicas,
            duplicate_window=self.duplicate_window_seconds,
            deny_delete=True,
            deny_purge=True,
            allow_rollup_hdrs=False,
            allow_direct=True,
            allow_atomic=True,
        )


def config_conflicts(spec: StreamSpec, existing: StreamConfig) -> list[str]:
    """Differences between an existing stream's configuration and ``spec`` that matter."""
    wanted = spec.to_config()
    checks: list[tuple[str, object, object]] = [
        ("subjects", sorted(wanted.subjects or []), sorted(existing.subjects or [])),
        ("storage", wanted.storage, existing.storage),
        ("num_replicas", wanted.num_replicas, existing.num_replicas),
        ("duplicate_window", wanted.duplicate_window, existing.duplicate_window),
        ("deny_delete", True, bool(existing.deny_delete)),
        ("deny_purge", True, bool(existing.deny_purge)),
        ("allow_rollup_hdrs", False, bool(existing.allow_rollup_hdrs)),
    ]
    return [
        f"{name}: stream has {have!r}, trstctl needs {want!r}"
        for name, want, have in checks
        if want != have
    ]


async def ensure_stream(js: JetStreamContext, spec: StreamSpec | None = None) -> StreamInfo:
    """Create the event stream, or verify an existing one matches ``spec``."""
    spec = spec or StreamSpec()
    try:
        info = await js.stream_info(spec.name)
    except NotFoundError:
        return await js.add_stream(spec.to_config())
    conflicts = config_conflicts(spec, info.config)
    if conflicts:
        raise StreamConfigConflict(
            f"stream {spec.name} exists with a conflicting configuration: " + "; ".join(conflicts),
            stream=spec.name,
            conflicts=conflicts,
        )
    return info
