"""Arm the egress guard for one service process: the first thing its entry point does.

Order matters and is the point of this module: the guard must be in place before any
connection exists (NATS, PostgreSQL, anything), and under air-gap the process must
prove the guard works (tripwire) before it does anything else. Any failure stops the
process with a non-zero exit and a message naming what to fix.
"""

from __future__ import annotations

import structlog
from trstctl import egressguard
from trstctl.egressguard import EgressGuardError, Policy
from trstctl.runtime.settings import Settings


def policy_from_settings(settings: Settings) -> Policy:
    """The egress policy ``settings`` describe (air-gap off yields an allow-all policy)."""
    return Policy.build(
        enabled=settings.airgap_enabled,
        allow_private=settings.airgap_allow_private,
        allow_hosts=settings.airgap_allow_hosts,
        allow_cidrs=settings.airgap_allow_cidrs,
    )


def arm_for_service(settings: Settings, service_name: str) -> None:
    """Install the egress guard for ``service_name`` and, under air-gap, prove it is armed.

    Under ``TRSTCTL_AIRGAP_ENABLED=true`` a non-default event loop policy (uvloop) is
    refused and the tripwire must pass; either failure raises ``SystemExit`` with a
    message. Afterwards the trip counter for the service reads zero.
    """
    policy = policy_from_settings(settings)
    try:
        if policy.enabled:
            egressguard.refuse_foreign_event_loop()
        egressguard.install(policy, service=service_name)
        if policy.enabled:
            egressguard.run_tripwire(service_name)
    except (EgressGuardError, ValueError) as error:
        raise SystemExit(
            f"trstctl-{service_name}: refusing to start, the air-gap egress guard "
            f"could not be armed: {error}"
        ) from error
    egressguard.reset_trips(service_name)
    structlog.get_logger("trstctl.egressguard").info(
        "egress.guard_armed" if policy.enabled else "egress.guard_passive",
        service=service_name,
        allow_private=policy.allow_private,
        allow_hosts=sorted(policy.allow_hosts),
        allow_cidrs=[str(c) for c in policy.allow_cidrs],
    )
