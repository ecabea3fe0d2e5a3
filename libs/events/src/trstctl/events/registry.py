"""Event payload models and the registry that maps wire names to them.

A payload class is registered under an explicit ``(type, schema_version)`` wire name,
never under its Python import path, so code can move without breaking the log.
Older versions are upcast on read by small ``vN -> vN+1`` functions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict
from trstctl.events.errors import EventsError, UnknownEventType

JsonDict = dict[str, Any]
Upcaster = Callable[[JsonDict], JsonDict]


class EventData(BaseModel):
    """Base of every event payload: frozen, no unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_type: ClassVar[str]
    schema_version: ClassVar[int]
    aggregate: ClassVar[str]


E = TypeVar("E", bound=type[EventData])


@dataclass
class EventRegistry:
    """Maps ``(type, schema_version)`` to payload models and holds upcasters."""

    _models: dict[str, type[EventData]] = field(default_factory=dict)
    _upcasters: dict[tuple[str, int], Upcaster] = field(default_factory=dict)

    def register(self, event_type: str, *, version: int, aggregate: str) -> Callable[[E], E]:
        """Class decorator: register the latest schema of ``event_type``."""

        def decorate(model: E) -> E:
            existing = self._models.get(event_type)
            if existing is not None and existing is not model:
                raise EventsError(f"event type {event_type!r} is already registered")
            model.event_type = event_type
            model.schema_version = version
            model.aggregate = aggregate
            self._models[event_type] = model
            return model

        return decorate

    def upcaster(self, event_type: str, *, from_version: int) -> Callable[[Upcaster], Upcaster]:
        """Decorator: register ``fn(data_vN) -> data_vN+1`` for ``event_type``."""

        def decorate(fn: Upcaster) -> Upcaster:
            self._upcasters[(event_type, from_version)] = fn
            return fn

        return decorate

    def model_for(self, event_type: str) -> type[EventData]:
        try:
            return self._models[event_type]
        except KeyError:
            raise UnknownEventType(
                f"unknown event type {event_type!r}", event_type=event_type
            ) from None

    def upcast(self, event_type: str, version: int, data: JsonDict) -> tuple[int, JsonDict]:
        """Bring ``data`` from ``version`` to the registered latest version."""
        latest = self.model_for(event_type).schema_version
        if version > latest:
            raise UnknownEventType(
                f"{event_type} v{version} is newer than this build knows (v{latest})",
                event_type=event_type,
                schema_version=version,
            )
        while version < latest:
            step = self._upcasters.get((event_type, version))
            if step is None:
                raise UnknownEventType(
                    f"no upcaster for {event_type} v{version}",
                    event_type=event_type,
                    schema_version=version,
                )
            data = step(data)
            version += 1
        return version, data

    def types(self) -> list[str]:
        return sorted(self._models)


# The process-wide registry that service ``events.py`` modules register into.
REGISTRY = EventRegistry()
register_event = REGISTRY.register
register_upcaster = REGISTRY.upcaster
