"""The egress decision: which destination IPs a process may reach (pure, no I/O).

The guard decides on the IP address a socket is actually about to use, never on a
host name alone: a name is only a hint the resolver may change between check and
use (DNS rebinding). Public address space is reachable only through an explicit
CIDR in ``allow_cidrs``; an allow-listed *name* grants its non-public addresses
(loopback, private, link-local, ULA) even when ``allow_private`` is off, but never a
public one, because who controls a name's answer is not who runs the air gap.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TypeAlias

IPAddress: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network


class Reason(StrEnum):
    """Why a destination was allowed or denied; also the ``reason`` metric label."""

    # allowed
    AIRGAP_OFF = "air-gap-off"
    LOOPBACK = "loopback"
    PRIVATE = "private"
    ALLOWED_CIDR = "allowed-cidr"
    ALLOWED_HOST = "allowed-host"
    # denied
    PUBLIC = "public"
    PRIVATE_NOT_ALLOWED = "private-not-allowed"
    DOCUMENTATION = "documentation"
    SHARED_ADDRESS_SPACE = "cgnat"
    MULTICAST = "multicast"
    BROADCAST = "broadcast"
    UNSPECIFIED = "unspecified"
    RESERVED = "reserved"
    UNRESOLVED_HOST = "unresolved-host"


DENY_REASONS: frozenset[Reason] = frozenset(
    {
        Reason.PUBLIC,
        Reason.PRIVATE_NOT_ALLOWED,
        Reason.DOCUMENTATION,
        Reason.SHARED_ADDRESS_SPACE,
        Reason.MULTICAST,
        Reason.BROADCAST,
        Reason.UNSPECIFIED,
        Reason.RESERVED,
        Reason.UNRESOLVED_HOST,
    }
)


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome for one destination; ``address`` is the normalised IP decided on."""

    allowed: bool
    reason: Reason
    address: IPAddress


def _nets(*cidrs: str) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(c) for c in cidrs)


_LOOPBACK = _nets("127.0.0.0/8", "::1/128")
_PRIVATE = _nets(
    "10.0.0.0/8",  # RFC 1918
    "172.16.0.0/12",
    "192.168.0.0/16",
    "169.254.0.0/16",  # IPv4 link-local
    "fc00::/7",  # IPv6 unique local (ULA)
    "fe80::/10",  # IPv6 link-local
)
# Special-purpose ranges that are never a legitimate air-gapped destination. Order
# matters: the first match names the reason (broadcast sits inside 240/4).
_SPECIAL: tuple[tuple[IPNetwork, Reason], ...] = tuple(
    (ipaddress.ip_network(cidr), reason)
    for cidr, reason in (
        ("0.0.0.0/32", Reason.UNSPECIFIED),
        ("::/128", Reason.UNSPECIFIED),
        ("255.255.255.255/32", Reason.BROADCAST),
        ("192.0.2.0/24", Reason.DOCUMENTATION),
        ("198.51.100.0/24", Reason.DOCUMENTATION),
        ("203.0.113.0/24", Reason.DOCUMENTATION),
        ("2001:db8::/32", Reason.DOCUMENTATION),
        ("3fff::/20", Reason.DOCUMENTATION),  # RFC 9637
        ("100.64.0.0/10", Reason.SHARED_ADDRESS_SPACE),
        ("224.0.0.0/4", Reason.MULTICAST),
        ("ff00::/8", Reason.MULTICAST),
        ("0.0.0.0/8", Reason.RESERVED),  # "this network"
        ("192.0.0.0/24", Reason.RESERVED),  # IETF protocol assignments
        ("192.88.99.0/24", Reason.RESERVED),  # deprecated 6to4 relay anycast
        ("198.18.0.0/15", Reason.RESERVED),  # benchmarking
        ("240.0.0.0/4", Reason.RESERVED),
        ("100::/64", Reason.RESERVED),  # discard-only
        ("2001::/23", Reason.RESERVED),  # IETF assignments incl. Teredo, benchmarking
        ("fec0::/10", Reason.RESERVED),  # deprecated site-local
    )
)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")  # RFC 8215 local-use translation
_SIX_TO_FOUR = ipaddress.IPv6Network("2002::/16")
_V6_UNSPECIFIED = ipaddress.IPv6Address("::")
_V6_LOOPBACK = ipaddress.IPv6Address("::1")


def normalise(address: IPAddress) -> IPAddress:
    """The IPv4 host an IPv6 form stands for (mapped, compatible, NAT64, 6to4), else itself.

    Deciding on the embedded IPv4 address is what stops ``::ffff:8.8.8.8`` or
    ``64:ff9b::8.8.8.8`` from passing as "some IPv6 address".
    """
    if isinstance(address, ipaddress.IPv4Address):
        return address
    if address.scope_id:
        address = ipaddress.IPv6Address(address.compressed.split("%", 1)[0])
    mapped = address.ipv4_mapped
    if mapped is not None:
        return mapped
    value = int(address)
    if value >> 32 == 0 and address not in (_V6_UNSPECIFIED, _V6_LOOPBACK):
        return ipaddress.IPv4Address(value)  # deprecated IPv4-compatible ::a.b.c.d
    if address in _NAT64 or address in _NAT64_LOCAL:
        return ipaddress.IPv4Address(value & 0xFFFFFFFF)
    six_to_four = address.sixtofour
    if six_to_four is not None:
        return six_to_four
    return address


def classify(address: IPAddress) -> Reason:
    """What kind of address this is, ignoring any allow-list (after ``normalise``)."""
    if any(address in net for net in _LOOPBACK):
        return Reason.LOOPBACK
    if any(address in net for net in _PRIVATE):
        return Reason.PRIVATE
    for net, reason in _SPECIAL:
        if address in net:
            return reason
    return Reason.PUBLIC


def parse_ip(text: str) -> IPAddress:
    """A strict IP literal (an IPv6 zone ``%eth0`` is accepted); raises ``ValueError``."""
    return ipaddress.ip_address(text)


def _host_key(host: str) -> str:
    return host.strip().rstrip(".").lower()


@dataclass(frozen=True, slots=True)
class Policy:
    """What an air-gapped process may reach. ``Policy()`` (air-gap off) allows everything."""

    enabled: bool = False
    allow_private: bool = True
    allow_hosts: frozenset[str] = field(default_factory=frozenset)
    allow_cidrs: tuple[IPNetwork, ...] = ()

    @classmethod
    def build(
        cls,
        *,
        enabled: bool,
        allow_private: bool = True,
        allow_hosts: Iterable[str] = (),
        allow_cidrs: Iterable[str] = (),
    ) -> Policy:
        """Build from configuration strings; raises ``ValueError`` on an invalid CIDR."""
        return cls(
            enabled=enabled,
            allow_private=allow_private,
            allow_hosts=frozenset(_host_key(h) for h in allow_hosts if h.strip()),
            allow_cidrs=tuple(ipaddress.ip_network(c.strip()) for c in allow_cidrs if c.strip()),
        )

    def host_is_allow_listed(self, host: str) -> bool:
        """Whether ``host`` (any case, trailing dot or not) is in ``allow_hosts``."""
        return _host_key(host) in self.allow_hosts

    def decide(self, address: IPAddress | str, host: str | None = None) -> Decision:
        """Allow or deny connecting to ``address``, which ``host`` resolved to (if known)."""
        ip = parse_ip(address) if isinstance(address, str) else address
        ip = normalise(ip)
        if not self.enabled:
            return Decision(True, Reason.AIRGAP_OFF, ip)
        # An explicit CIDR is the operator's IP-level decision and wins over every class.
        if any(ip.version == net.version and ip in net for net in self.allow_cidrs):
            return Decision(True, Reason.ALLOWED_CIDR, ip)
        kind = classify(ip)
        if kind is Reason.LOOPBACK:
            return Decision(True, kind, ip)
        if kind is Reason.PRIVATE:
            if self.allow_private:
                return Decision(True, kind, ip)
            if host is not None and self.host_is_allow_listed(host):
                return Decision(True, Reason.ALLOWED_HOST, ip)
            return Decision(False, Reason.PRIVATE_NOT_ALLOWED, ip)
        return Decision(False, kind, ip)
