"""Subject builders: the only place subject strings are assembled.

Events: ``trstctl.evt.<tenant>.<aggregate>.<id>`` (one subject per aggregate instance).
Commands: ``trstctl.cmd.<service>.<name>``.
"""

from __future__ import annotations

import functools
import re

from trstctl.events.errors import InvalidSubjectToken

EVENT_PREFIX = "trstctl.evt"
COMMAND_PREFIX = "trstctl.cmd"
ALL_EVENTS = f"{EVENT_PREFIX}.>"

# One subject token: no dots, wildcards or whitespace, so a value can never widen a
# subscription or address another aggregate.
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


@functools.lru_cache(maxsize=4096)  # tenants and aggregate kinds repeat on every append
def token(value: str, what: str) -> str:
    """Return ``value`` if it is a safe subject token, else raise ``InvalidSubjectToken``."""
    if not _TOKEN.fullmatch(value):
        raise InvalidSubjectToken(
            f"{what} must be 1-128 characters of A-Z a-z 0-9 _ -, got {value!r}",
            field=what,
        )
    return value


def event_subject(tenant: str, aggregate: str, aggregate_id: str) -> str:
    """Subject of one aggregate instance's events."""
    return (
        f"{EVENT_PREFIX}.{token(tenant, 'tenant')}.{token(aggregate, 'aggregate')}"
        f".{token(aggregate_id, 'aggregate_id')}"
    )


def tenant_events(tenant: str) -> str:
    """Filter for every event of one tenant."""
    return f"{EVENT_PREFIX}.{token(tenant, 'tenant')}.>"


def aggregate_events(aggregate: str, tenant: str | None = None) -> str:
    """Filter for every instance of one aggregate kind, of one tenant or of all."""
    scope = "*" if tenant is None else token(tenant, "tenant")
    return f"{EVENT_PREFIX}.{scope}.{token(aggregate, 'aggregate')}.*"


def command_subject(service: str, name: str) -> str:
    """Subject a service's command handler listens on."""
    return f"{COMMAND_PREFIX}.{token(service, 'service')}.{token(name, 'command')}"


def service_commands(service: str) -> str:
    """Wildcard for every command of one service."""
    return f"{COMMAND_PREFIX}.{token(service, 'service')}.*"


def subject_matches(filter_subject: str, subject: str) -> bool:
    """NATS wildcard matching: ``*`` is one token, a trailing ``>`` one or more."""
    wanted, have = filter_subject.split("."), subject.split(".")
    for index, part in enumerate(wanted):
        if part == ">":
            return len(have) > index
        if index >= len(have) or (part != "*" and part != have[index]):
            return False
    return len(have) == len(wanted)
