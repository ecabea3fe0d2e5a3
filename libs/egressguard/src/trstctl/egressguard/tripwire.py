"""Start-up self-test: prove the guard denies a public destination before any syscall."""

from __future__ import annotations

import socket
import sys
from collections.abc import Callable

from trstctl.egressguard import hook, metrics
from trstctl.egressguard.errors import EgressDenied, TripwireFailed

# A public (globally routed) address, so the probe exercises the "public" rule that
# matters in production. It is never contacted: the probes are closed sockets whose
# low-level calls the hook intercepts, and even a broken guard would hit a closed fd.
TRIPWIRE_HOST = "1.1.1.1"
TRIPWIRE_PORT = 443


def _expect_denied(what: str, probe: hook.ProbeSocket, attempt: Callable[[], object]) -> None:
    try:
        attempt()
    except EgressDenied:
        pass
    except TripwireFailed:
        raise
    except OSError as error:
        raise TripwireFailed(f"tripwire {what}: not denied by the guard ({error!r})") from error
    else:
        raise TripwireFailed(f"tripwire {what}: a public destination was allowed")
    if probe.reached:
        raise TripwireFailed(f"tripwire {what}: denied only after reaching the system call")


def run(service: str) -> None:
    """Send synthetic public destinations through the guard's real code paths.

    Checks the wrappers are still in place, that ``connect``, ``connect_ex`` and UDP
    ``sendto`` are denied before the low-level call, that the audit backstop denies
    too, and that each denial was counted; then resets ``service``'s trip counter.
    Raises ``TripwireFailed`` on any gap.
    """
    policy = hook.installed_policy()
    if policy is None or not policy.enabled:
        raise TripwireFailed("the egress guard is not installed with air-gap enabled")
    if not hook.is_patched():
        raise TripwireFailed("socket.socket or socket.getaddrinfo no longer carry the guard")
    counted_service = hook.installed_service() or service
    before = metrics.trips(counted_service)
    destination = (TRIPWIRE_HOST, TRIPWIRE_PORT)

    tcp = hook.ProbeSocket(socket.AF_INET, socket.SOCK_STREAM)
    udp = hook.ProbeSocket(socket.AF_INET, socket.SOCK_DGRAM)
    tcp.close()
    udp.close()
    _expect_denied("connect", tcp, lambda: tcp.connect(destination))
    _expect_denied("connect_ex", tcp, lambda: tcp.connect_ex(destination))
    _expect_denied("sendto", udp, lambda: udp.sendto(b"\0", destination))
    # The backstop sees what bypasses the wrappers; sys.audit raises the same event the
    # C layer would, without any socket call.
    _expect_denied("audit hook", tcp, lambda: sys.audit("socket.connect", tcp, destination))

    if metrics.trips(counted_service) - before < 4:
        raise TripwireFailed("tripwire denials were not counted in trstctl_egress_guard_trips")
    metrics.reset_trips(counted_service)
