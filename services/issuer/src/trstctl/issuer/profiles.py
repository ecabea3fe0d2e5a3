"""Certificate profiles: what a certificate of a tenant may look like (like a Vault PKI
role), and the pure checks of a request against one."""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from trstctl.issuer.ca import KeyAlgorithm, KeyInfo, algorithm_info
from trstctl.issuer.errors import ProfileViolation, TtlExceedsMaximum, WeakKey

KeyFamily = Literal["ec", "rsa", "ed25519"]
# Curves a profile may admit for EC keys (names as OpenSSL and ``cryptography`` give them).
EcCurve = Literal[
    "secp256r1", "secp384r1", "secp521r1", "brainpoolP256r1", "brainpoolP384r1", "brainpoolP512r1"
]
KeyUsageName = Literal[
    "digital_signature", "key_encipherment", "key_agreement", "content_commitment"
]

DEFAULT_PROFILE = "default"
DAY = 86_400
# Certificates start a little in the past so that a client whose clock runs slightly
# behind does not reject a certificate issued "in its future".
NOT_BEFORE_BACKDATE = timedelta(seconds=60)

# No profile may allow more SANs than this: every name is checked, signed and carried in
# the certificate, its event and its reply, which must each fit one NATS message (1 MiB):
# 500 names of the longest legal length (253) still do, with room to spare (tested).
MAX_NAMES_CEILING = 500

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


class CertificateProfile(BaseModel):
    """What a certificate may look like. Names are matched against ``allowed_domains``:
    the domain itself when ``allow_bare_domains``, names below it when
    ``allow_subdomains``, ``*.`` names only with ``allow_wildcards`` (a wildcard names
    subdomains, so it needs ``allow_subdomains`` too); ``allow_any_name`` skips the
    domain list (syntax is still checked)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    allowed_domains: tuple[str, ...] = ()
    allow_any_name: bool = False
    allow_bare_domains: bool = True
    allow_subdomains: bool = False
    allow_wildcards: bool = False
    allow_ip_sans: bool = False
    allowed_key_families: tuple[KeyFamily, ...] = ("ec", "rsa", "ed25519")
    # The NIST curves every TLS stack verifies; Brainpool only where a profile opts in.
    # Any other curve (secp256k1, ...) would give certificates many clients cannot parse.
    allowed_ec_curves: tuple[EcCurve, ...] = ("secp256r1", "secp384r1", "secp521r1")
    # Floors below the floors: nobody may configure a profile that admits RSA-1024.
    min_rsa_bits: int = Field(default=2048, ge=2048)
    min_ec_bits: int = Field(default=256, ge=256)
    generated_key_algorithm: KeyAlgorithm = KeyAlgorithm.EC_P256
    default_ttl_seconds: int = Field(default=30 * DAY, gt=0)
    max_ttl_seconds: int = Field(default=397 * DAY, gt=0)
    key_usages: tuple[KeyUsageName, ...] = ("digital_signature", "key_encipherment")
    server_auth: bool = True
    client_auth: bool = False
    # DNS and IP SANs in one certificate, after de-duplication (Let's Encrypt allows 100).
    max_names: int = Field(default=100, ge=1, le=MAX_NAMES_CEILING)

    @field_validator("allowed_domains")
    @classmethod
    def _domains(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        try:
            domains = tuple(normalize_dns_name(d) for d in value)
        except ProfileViolation as e:
            raise ValueError(e.message) from None
        if any(d.startswith("*") for d in domains):
            raise ValueError("allowed_domains name domains, not wildcards (see allow_wildcards)")
        return domains

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.default_ttl_seconds > self.max_ttl_seconds:
            raise ValueError("default_ttl_seconds exceeds max_ttl_seconds")
        try:
            check_key(self, algorithm_info(self.generated_key_algorithm))
        except ProfileViolation as e:
            raise ValueError(f"generated_key_algorithm: {e.message}") from None
        return self


@functools.cache  # frozen model, consulted on every issuance: build it once
def default_profile() -> CertificateProfile:
    """The profile every tenant has before defining its own ``default``: any
    syntactically valid DNS name, IP SANs allowed, no wildcards, server and client
    auth, 30 days by default, 397 days at most (the CA/B maximum). Tenants tighten it
    by defining a profile named ``default``."""
    return CertificateProfile(
        name=DEFAULT_PROFILE, allow_any_name=True, allow_ip_sans=True, client_auth=True
    )


def normalize_dns_name(name: str) -> str:
    """Lower-case ``name`` without a trailing dot, or raise ``ProfileViolation``
    (``invalid_dns_name``). A ``*`` is only allowed as the whole leftmost label."""
    value = name.strip().lower().removesuffix(".")
    labels = value.split(".")
    body = labels[1:] if labels[0] == "*" else labels
    if not value or len(value) > 253 or not body or not all(_LABEL.match(lb) for lb in body):
        raise ProfileViolation(
            f"{name!r} is not a valid DNS name", rule="invalid_dns_name", value=name
        )
    return value


def check_dns_name(profile: CertificateProfile, name: str) -> str:
    """Return the normalized ``name`` if ``profile`` allows it, else ``ProfileViolation``
    with rule ``wildcard_not_allowed`` or ``dns_name_not_allowed``."""
    value = normalize_dns_name(name)
    candidate = value
    if value.startswith("*."):
        if not profile.allow_wildcards:
            raise ProfileViolation(
                f"wildcard {value!r} is not allowed by profile {profile.name!r}",
                rule="wildcard_not_allowed",
                value=value,
                profile=profile.name,
            )
        candidate = "x" + value[1:]  # stands for any one label below the wildcard's base
    if profile.allow_any_name:
        return value
    for domain in profile.allowed_domains:
        if candidate == domain and profile.allow_bare_domains:
            return value
        if candidate.endswith("." + domain) and profile.allow_subdomains:
            return value
    raise ProfileViolation(
        f"{value!r} is outside the domains profile {profile.name!r} allows",
        rule="dns_name_not_allowed",
        value=value,
        profile=profile.name,
        allowed_domains=list(profile.allowed_domains),
    )


def check_ip_address(profile: CertificateProfile, ip: str) -> str:
    """Return the canonical ``ip`` if the profile allows IP SANs, else ``ProfileViolation``."""
    try:
        address = ipaddress.ip_address(ip.strip())
    except ValueError:
        raise ProfileViolation(
            f"{ip!r} is not an IP address", rule="invalid_ip", value=ip
        ) from None
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id is not None:
        # A certificate holds the 16 address bytes only: the zone would silently vanish.
        raise ProfileViolation(
            f"{ip!r} has a zone (%{address.scope_id}); a certificate cannot carry one",
            rule="invalid_ip",
            value=ip,
        )
    value = str(address)
    if not profile.allow_ip_sans:
        raise ProfileViolation(
            f"IP SANs are not allowed by profile {profile.name!r}",
            rule="ip_sans_not_allowed",
            value=value,
            profile=profile.name,
        )
    return value


def check_names(
    profile: CertificateProfile, dns_names: Iterable[str], ip_addresses: Iterable[str]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Check every SAN; return them normalized and de-duplicated, in request order."""
    dns = tuple(dict.fromkeys(check_dns_name(profile, n) for n in dns_names))
    ips = tuple(dict.fromkeys(check_ip_address(profile, ip) for ip in ip_addresses))
    if not dns and not ips:
        raise ProfileViolation("a certificate needs at least one SAN", rule="no_names")
    if len(dns) + len(ips) > profile.max_names:
        raise ProfileViolation(
            f"{len(dns) + len(ips)} names exceed the profile's maximum of {profile.max_names}",
            rule="too_many_names",
            count=len(dns) + len(ips),
            maximum=profile.max_names,
        )
    return dns, ips


def check_key(profile: CertificateProfile, key: KeyInfo) -> None:
    """Refuse a key family the profile does not allow (``profile_violation``) or a key
    smaller than its minimum (``weak_key``)."""
    if key.family not in profile.allowed_key_families:
        raise ProfileViolation(
            f"{key.name} keys are not allowed by profile {profile.name!r}",
            rule="key_algorithm_not_allowed",
            value=key.name,
            allowed=list(profile.allowed_key_families),
        )
    if key.family == "ec" and key.curve not in profile.allowed_ec_curves:
        raise ProfileViolation(
            f"EC curve {key.curve} is not allowed by profile {profile.name!r}",
            rule="ec_curve_not_allowed",
            value=key.curve,
            allowed=list(profile.allowed_ec_curves),
        )
    minimum = {"rsa": profile.min_rsa_bits, "ec": profile.min_ec_bits}.get(key.family, 0)
    if key.bits < minimum:
        raise WeakKey(
            f"{key.name} is weaker than the {minimum}-bit minimum of profile {profile.name!r}",
            rule="key_too_small",
            value=key.name,
            bits=key.bits,
            minimum_bits=minimum,
        )


def validity(
    profile: CertificateProfile,
    *,
    now: datetime,
    ttl_seconds: int | None,
    ca_not_after: datetime,
) -> tuple[datetime, datetime]:
    """``(not_before, not_after)`` of a new certificate.

    The ceiling is the smaller of the profile's maximum and what is left of the issuing
    CA's life: a leaf never outlives its issuer. An explicit TTL above the ceiling is
    refused (``ttl_exceeds_maximum``); the default TTL is shortened to fit instead."""
    ceiling = min(profile.max_ttl_seconds, int((ca_not_after - now).total_seconds()))
    if ceiling <= 0:
        raise TtlExceedsMaximum(
            "the issuing CA has expired", rule="ca_expired", ca_not_after=ca_not_after.isoformat()
        )
    if ttl_seconds is None:
        ttl = min(profile.default_ttl_seconds, ceiling)
    elif ttl_seconds > ceiling:
        raise TtlExceedsMaximum(
            f"TTL {ttl_seconds}s exceeds the maximum of {ceiling}s",
            rule="ttl_exceeds_maximum",
            requested_seconds=ttl_seconds,
            maximum_seconds=ceiling,
        )
    else:
        ttl = ttl_seconds
    return now - NOT_BEFORE_BACKDATE, now + timedelta(seconds=ttl)
