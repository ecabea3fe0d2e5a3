"""Air-gap egress guard: deny every connection the policy does not allow, in-process.

Standalone on purpose (stdlib, prometheus_client and structlog only) so it can be
installed before anything else of trstctl is imported.

Typical use, first thing in a process::

    policy = Policy.build(enabled=True, allow_cidrs=["10.0.0.0/8"])
    refuse_foreign_event_loop()
    install(policy, service="issuer")
    run_tripwire("issuer")
"""

from trstctl.egressguard.errors import (
    EgressDenied,
    EgressGuardError,
    ForeignEventLoop,
    TripwireFailed,
)
from trstctl.egressguard.hook import install, installed_policy, is_patched
from trstctl.egressguard.loopcheck import foreign_event_loop, refuse_foreign_event_loop
from trstctl.egressguard.metrics import reset_trips, trips
from trstctl.egressguard.policy import Decision, Policy, Reason, classify, normalise
from trstctl.egressguard.tripwire import run as run_tripwire

__all__ = [
    "Decision",
    "EgressDenied",
    "EgressGuardError",
    "ForeignEventLoop",
    "Policy",
    "Reason",
    "TripwireFailed",
    "classify",
    "foreign_event_loop",
    "install",
    "installed_policy",
    "is_patched",
    "normalise",
    "refuse_foreign_event_loop",
    "reset_trips",
    "run_tripwire",
    "trips",
]
