"""The pure air-gap policy: which destination IPs are allowed, and why."""

from __future__ import annotations

import ipaddress

import pytest
from trstctl.egressguard import Policy, Reason, classify, normalise

OFF = Policy()
ON = Policy.build(enabled=True)
ON_NO_PRIVATE = Policy.build(enabled=True, allow_private=False)
ON_CIDRS = Policy.build(
    enabled=True,
    allow_private=False,
    allow_cidrs=["198.51.100.0/28", "100.64.0.0/16", "2001:db8:1::/48", "93.184.216.0/24"],
)
ON_HOSTS = Policy.build(enabled=True, allow_private=False, allow_hosts=["pg.internal", "Mirror."])

R = Reason
CASES: list[tuple[str, Policy, str, str | None, bool, Reason]] = [
    # (id, policy, ip, host, allowed, reason)
    # -- air-gap off: everything goes
    ("off-public-v4", OFF, "8.8.8.8", None, True, R.AIRGAP_OFF),
    ("off-public-v6", OFF, "2606:4700::1111", None, True, R.AIRGAP_OFF),
    ("off-documentation", OFF, "203.0.113.7", None, True, R.AIRGAP_OFF),
    ("off-multicast", OFF, "224.0.0.251", None, True, R.AIRGAP_OFF),
    # -- loopback, always allowed
    ("loopback-v4", ON, "127.0.0.1", None, True, R.LOOPBACK),
    ("loopback-v4-range", ON, "127.255.0.9", None, True, R.LOOPBACK),
    ("loopback-v6", ON, "::1", None, True, R.LOOPBACK),
    ("loopback-no-private", ON_NO_PRIVATE, "127.0.0.1", None, True, R.LOOPBACK),
    ("loopback-v6-no-private", ON_NO_PRIVATE, "::1", None, True, R.LOOPBACK),
    ("loopback-mapped", ON_NO_PRIVATE, "::ffff:127.0.0.1", None, True, R.LOOPBACK),
    # -- private ranges with allow_private (default)
    ("rfc1918-10", ON, "10.1.2.3", None, True, R.PRIVATE),
    ("rfc1918-172-low", ON, "172.16.0.1", None, True, R.PRIVATE),
    ("rfc1918-172-high", ON, "172.31.255.254", None, True, R.PRIVATE),
    ("rfc1918-192-168", ON, "192.168.1.10", None, True, R.PRIVATE),
    ("link-local-v4", ON, "169.254.169.254", None, True, R.PRIVATE),
    ("ula", ON, "fd12:3456:789a::1", None, True, R.PRIVATE),
    ("ula-fc", ON, "fc00::5", None, True, R.PRIVATE),
    ("link-local-v6", ON, "fe80::1", None, True, R.PRIVATE),
    ("link-local-v6-zone", ON, "fe80::1%1", None, True, R.PRIVATE),
    ("mapped-private", ON, "::ffff:10.0.0.1", None, True, R.PRIVATE),
    ("nat64-private", ON, "64:ff9b::c0a8:0101", None, True, R.PRIVATE),
    ("6to4-private", ON, "2002:0a00:0001::1", None, True, R.PRIVATE),
    # -- just outside the private ranges is public
    ("172-15-public", ON, "172.15.255.255", None, False, R.PUBLIC),
    ("172-32-public", ON, "172.32.0.1", None, False, R.PUBLIC),
    ("192-169-public", ON, "192.169.0.1", None, False, R.PUBLIC),
    ("11-public", ON, "11.0.0.1", None, False, R.PUBLIC),
    # -- private ranges without allow_private
    ("no-private-10", ON_NO_PRIVATE, "10.1.2.3", None, False, R.PRIVATE_NOT_ALLOWED),
    ("no-private-172", ON_NO_PRIVATE, "172.20.0.1", None, False, R.PRIVATE_NOT_ALLOWED),
    ("no-private-192", ON_NO_PRIVATE, "192.168.0.1", None, False, R.PRIVATE_NOT_ALLOWED),
    ("no-private-link-local", ON_NO_PRIVATE, "169.254.1.1", None, False, R.PRIVATE_NOT_ALLOWED),
    ("no-private-ula", ON_NO_PRIVATE, "fd00::1", None, False, R.PRIVATE_NOT_ALLOWED),
    ("no-private-fe80", ON_NO_PRIVATE, "fe80::2", None, False, R.PRIVATE_NOT_ALLOWED),
    ("no-private-mapped", ON_NO_PRIVATE, "::ffff:192.168.0.1", None, False, R.PRIVATE_NOT_ALLOWED),
    # -- public IPv4 and IPv6
    ("public-v4", ON, "8.8.8.8", None, False, R.PUBLIC),
    ("public-v4-cf", ON, "1.1.1.1", None, False, R.PUBLIC),
    ("public-v4-high", ON, "223.255.255.1", None, False, R.PUBLIC),
    ("public-v6", ON, "2606:4700:4700::1111", None, False, R.PUBLIC),
    ("public-v6-google", ON, "2001:4860:4860::8888", None, False, R.PUBLIC),
    # -- special-purpose ranges
    ("doc-192-0-2", ON, "192.0.2.1", None, False, R.DOCUMENTATION),
    ("doc-198-51-100", ON, "198.51.100.20", None, False, R.DOCUMENTATION),
    ("doc-203-0-113", ON, "203.0.113.1", None, False, R.DOCUMENTATION),
    ("doc-v6", ON, "2001:db8::1", None, False, R.DOCUMENTATION),
    ("doc-v6-3fff", ON, "3fff::1", None, False, R.DOCUMENTATION),
    ("cgnat-low", ON, "100.64.0.1", None, False, R.SHARED_ADDRESS_SPACE),
    ("cgnat-high", ON, "100.127.255.254", None, False, R.SHARED_ADDRESS_SPACE),
    ("cgnat-edge-public", ON, "100.128.0.1", None, False, R.PUBLIC),
    ("multicast-v4", ON, "224.0.0.251", None, False, R.MULTICAST),
    ("multicast-v4-high", ON, "239.255.255.250", None, False, R.MULTICAST),
    ("multicast-v6", ON, "ff02::fb", None, False, R.MULTICAST),
    ("broadcast", ON, "255.255.255.255", None, False, R.BROADCAST),
    ("unspecified-v4", ON, "0.0.0.0", None, False, R.UNSPECIFIED),  # noqa: S104
    ("unspecified-v6", ON, "::", None, False, R.UNSPECIFIED),
    ("this-network", ON, "0.1.2.3", None, False, R.RESERVED),
    ("reserved-240", ON, "240.0.0.1", None, False, R.RESERVED),
    ("benchmarking", ON, "198.18.0.1", None, False, R.RESERVED),
    ("ietf-192-0-0", ON, "192.0.0.8", None, False, R.RESERVED),
    ("teredo", ON, "2001:0:4136:e378::1", None, False, R.RESERVED),
    ("discard-v6", ON, "100::1", None, False, R.RESERVED),
    ("site-local-v6", ON, "fec0::1", None, False, R.RESERVED),
    # -- embedded forms of public IPv4 are judged as that IPv4 address
    ("mapped-public", ON, "::ffff:8.8.8.8", None, False, R.PUBLIC),
    ("mapped-public-hex", ON, "::ffff:0808:0808", None, False, R.PUBLIC),
    ("compatible-public", ON, "::8.8.8.8", None, False, R.PUBLIC),
    ("nat64-public", ON, "64:ff9b::808:808", None, False, R.PUBLIC),
    ("nat64-public-dotted", ON, "64:ff9b::1.1.1.1", None, False, R.PUBLIC),
    ("nat64-local-use-public", ON, "64:ff9b:1::808:808", None, False, R.PUBLIC),
    ("6to4-public", ON, "2002:0808:0808::1", None, False, R.PUBLIC),
    ("mapped-documentation", ON, "::ffff:203.0.113.5", None, False, R.DOCUMENTATION),
    ("mapped-cgnat", ON, "::ffff:100.64.1.1", None, False, R.SHARED_ADDRESS_SPACE),
    ("mapped-broadcast", ON, "::ffff:255.255.255.255", None, False, R.BROADCAST),
    ("mapped-unspecified", ON, "::ffff:0.0.0.0", None, False, R.UNSPECIFIED),
    ("mapped-multicast", ON, "::ffff:224.0.0.1", None, False, R.MULTICAST),
    # -- explicit CIDRs win over every class
    ("cidr-documentation", ON_CIDRS, "198.51.100.3", None, True, R.ALLOWED_CIDR),
    ("cidr-documentation-outside", ON_CIDRS, "198.51.100.16", None, False, R.DOCUMENTATION),
    ("cidr-cgnat", ON_CIDRS, "100.64.3.4", None, True, R.ALLOWED_CIDR),
    ("cidr-cgnat-outside", ON_CIDRS, "100.65.0.1", None, False, R.SHARED_ADDRESS_SPACE),
    ("cidr-v6", ON_CIDRS, "2001:db8:1::42", None, True, R.ALLOWED_CIDR),
    ("cidr-v6-outside", ON_CIDRS, "2001:db8:2::42", None, False, R.DOCUMENTATION),
    ("cidr-public", ON_CIDRS, "93.184.216.34", None, True, R.ALLOWED_CIDR),
    ("cidr-public-mapped", ON_CIDRS, "::ffff:93.184.216.34", None, True, R.ALLOWED_CIDR),
    ("cidr-public-outside", ON_CIDRS, "93.184.217.1", None, False, R.PUBLIC),
    ("cidr-private-still-denied", ON_CIDRS, "10.0.0.1", None, False, R.PRIVATE_NOT_ALLOWED),
    # -- allow-listed names grant their non-public addresses only
    ("host-private", ON_HOSTS, "10.9.8.7", "pg.internal", True, R.ALLOWED_HOST),
    ("host-case-dot", ON_HOSTS, "10.9.8.7", "PG.Internal.", True, R.ALLOWED_HOST),
    ("host-trailing-dot-config", ON_HOSTS, "192.168.3.3", "mirror", True, R.ALLOWED_HOST),
    ("host-ula", ON_HOSTS, "fd00::7", "pg.internal", True, R.ALLOWED_HOST),
    ("host-not-listed", ON_HOSTS, "10.9.8.7", "other.internal", False, R.PRIVATE_NOT_ALLOWED),
    ("host-unknown", ON_HOSTS, "10.9.8.7", None, False, R.PRIVATE_NOT_ALLOWED),
    ("host-rebound-public", ON_HOSTS, "8.8.8.8", "pg.internal", False, R.PUBLIC),
    ("host-rebound-doc", ON_HOSTS, "203.0.113.9", "pg.internal", False, R.DOCUMENTATION),
    ("host-rebound-mapped", ON_HOSTS, "::ffff:8.8.4.4", "pg.internal", False, R.PUBLIC),
    ("host-rebound-public-private-on", ON, "8.8.8.8", "pg.internal", False, R.PUBLIC),
]


@pytest.mark.parametrize(
    ("policy", "ip", "host", "allowed", "reason"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_decide(policy: Policy, ip: str, host: str | None, allowed: bool, reason: Reason) -> None:
    """Each (policy, ip, host) row yields exactly the expected allow/deny and reason."""
    decision = policy.decide(ip, host)
    assert (decision.allowed, decision.reason) == (allowed, reason)


def test_table_is_large_enough() -> None:
    """The issue asks for at least 60 table-driven policy cases."""
    assert len(CASES) >= 60
    assert len({case[0] for case in CASES}) == len(CASES)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("::ffff:8.8.8.8", "8.8.8.8"),
        ("::8.8.8.8", "8.8.8.8"),
        ("64:ff9b::808:808", "8.8.8.8"),
        ("2002:808:808::1", "8.8.8.8"),
        ("::1", "::1"),
        ("::", "::"),
        ("2606:4700::1111", "2606:4700::1111"),
        ("10.0.0.1", "10.0.0.1"),
    ],
)
def test_normalise_embedded_ipv4(given: str, expected: str) -> None:
    """normalise() unwraps mapped, compatible, NAT64 and 6to4 forms but keeps ::1 and ::."""
    assert normalise(ipaddress.ip_address(given)) == ipaddress.ip_address(expected)


def test_decision_reports_normalised_address() -> None:
    """A decision names the IPv4 address it actually judged for a mapped form."""
    assert ON.decide("::ffff:8.8.8.8").address == ipaddress.ip_address("8.8.8.8")


def test_classify_ignores_allow_lists() -> None:
    """classify() names the address class regardless of any policy."""
    assert classify(ipaddress.ip_address("10.0.0.1")) is Reason.PRIVATE
    assert classify(ipaddress.ip_address("9.9.9.9")) is Reason.PUBLIC


def test_build_rejects_invalid_cidr() -> None:
    """Policy.build refuses a malformed CIDR instead of ignoring it."""
    with pytest.raises(ValueError, match=r"10\.0\.0\.0/33"):
        Policy.build(enabled=True, allow_cidrs=["10.0.0.0/33"])


def test_build_normalises_hosts_and_skips_blanks() -> None:
    """Host names are compared lower-case without a trailing dot; blank entries vanish."""
    policy = Policy.build(enabled=True, allow_hosts=["Ollama.AI.svc.", " ", ""], allow_cidrs=[" "])
    assert policy.allow_hosts == frozenset({"ollama.ai.svc"})
    assert policy.allow_cidrs == ()


def test_policy_is_hashable_and_comparable() -> None:
    """Equal configuration builds equal policies (install relies on it)."""
    assert Policy.build(enabled=True, allow_hosts=["a"]) == Policy.build(
        enabled=True, allow_hosts=["A."]
    )
