"""Prometheus metrics of the guard (default registry, so a service's endpoint shows them)."""

from __future__ import annotations

import contextlib

from prometheus_client import Counter, Gauge
from trstctl.egressguard.policy import DENY_REASONS

TRIPS = Counter(
    "trstctl_egress_guard_trips",
    "Connections or datagrams the air-gap egress guard denied",
    ["service", "reason"],
)
ARMED = Gauge(
    "trstctl_egress_guard_armed",
    "1 while the egress guard enforces an air-gap policy in this process",
    ["service"],
)


def reset_trips(service: str) -> None:
    """Zero every reason's trip count for ``service`` (and make the zeros visible)."""
    for reason in sorted(DENY_REASONS):
        with contextlib.suppress(KeyError):
            TRIPS.remove(service, reason)
        # Creating the child exports an explicit 0, so a scrape can assert "no trips".
        TRIPS.labels(service=service, reason=reason)


def trips(service: str, reason: str | None = None) -> float:
    """Current trip count for ``service`` (one reason or all), read without side effects."""
    total = 0.0
    for metric in TRIPS.collect():
        for sample in metric.samples:
            if (
                sample.name.endswith("_total")
                and sample.labels.get("service") == service
                and (reason is None or sample.labels.get("reason") == reason)
            ):
                total += sample.value
    return total


def armed(service: str) -> float:
    """Current value of the armed gauge for ``service`` (0 when never set)."""
    for metric in ARMED.collect():
        for sample in metric.samples:
            if sample.labels.get("service") == service:
                return sample.value
    return 0.0
