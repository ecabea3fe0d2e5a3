"""The issuer's event payloads, registered under explicit wire names.

Aggregates (one subject each, ``trstctl.evt.<tenant>.<aggregate>.<id>``):

- ``owner_directory`` / ``owners``: every owner of a tenant (see ``domain`` for why one
  aggregate holds them all: it makes name uniqueness an ordinary optimistic append).
- ``identity`` / ``<identity_id>``: one machine identity and its certificates.
- ``ca`` / ``tenant_ca``: the tenant's CA hierarchy (public certificates only).
- ``profile`` / ``<profile name>``: one certificate profile.

No payload here ever holds private key material: a CA key lives sealed in the key
store, a generated leaf key only in the one reply to its requester.

Renewal is its own event, ``identity.renewed``, because one event names one edge
(``renewing -> deployed``); it carries the same certificate fields as
``identity.issued`` plus ``replaces``, so a projection can treat both as "a certificate
was issued" (``CERTIFICATE_EVENTS``).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from trstctl.events.registry import EventData, register_event
from trstctl.issuer.profiles import CertificateProfile

OWNER_DIRECTORY = "owner_directory"
OWNER_DIRECTORY_ID = "owners"
IDENTITY = "identity"
CA = "ca"
CA_ID = "tenant_ca"
PROFILE = "profile"


class OwnerKind(StrEnum):
    USER = "user"
    TEAM = "team"
    WORKLOAD = "workload"
    SERVICE = "service"
    VENDOR = "vendor"


class IdentityKind(StrEnum):
    """What an identity is; only X.509 certificates today (SSH keys, tokens may follow)."""

    X509_CERTIFICATE = "x509_certificate"


class RevocationReason(StrEnum):
    """RFC 5280 CRLReason names (as in ``cryptography.x509.ReasonFlags``). ``certificate_hold``
    and ``remove_from_crl`` are left out: revocation here is final (``revoked`` only goes to
    ``retired``)."""

    UNSPECIFIED = "unspecified"
    KEY_COMPROMISE = "key_compromise"
    CA_COMPROMISE = "ca_compromise"
    AFFILIATION_CHANGED = "affiliation_changed"
    SUPERSEDED = "superseded"
    CESSATION_OF_OPERATION = "cessation_of_operation"
    PRIVILEGE_WITHDRAWN = "privilege_withdrawn"
    AA_COMPROMISE = "aa_compromise"


class _Commanded(EventData):
    """Events caused by a command carry its idempotency key so a replay is recognised
    from the aggregate's own history, however old."""

    idempotency_key: str | None = None
    # What the command asked (``Command.digest``): the same key with another request is
    # refused as ``idempotency_key_reused`` instead of being taken for a retry.
    command_digest: str | None = None


# --- owners --------------------------------------------------------------------------


@register_event("owner.created", version=1, aggregate=OWNER_DIRECTORY)
class OwnerCreated(_Commanded):
    owner_id: str
    name: str
    kind: OwnerKind
    description: str | None = None
    contact: str | None = None


@register_event("owner.updated", version=1, aggregate=OWNER_DIRECTORY)
class OwnerUpdated(_Commanded):
    """The owner's fields after the update (a full snapshot, so projections overwrite)."""

    owner_id: str
    name: str
    kind: OwnerKind
    description: str | None = None
    contact: str | None = None


@register_event("owner.deleted", version=1, aggregate=OWNER_DIRECTORY)
class OwnerDeleted(_Commanded):
    owner_id: str
    name: str


# --- identities ----------------------------------------------------------------------


@register_event("identity.requested", version=1, aggregate=IDENTITY)
class IdentityRequested(_Commanded):
    identity_id: str
    kind: IdentityKind
    owner_id: str
    profile: str
    common_name: str | None
    dns_names: tuple[str, ...]
    ip_addresses: tuple[str, ...]
    ttl_seconds: int | None = None


class _CertificateIssued(_Commanded):
    """A certificate signed for an identity (public data only)."""

    identity_id: str
    ca_id: str
    certificate_der: str  # base64 of the DER
    serial: str  # lower-case hex
    fingerprint_sha256: str  # lower-case hex of SHA-256(DER)
    not_before: datetime
    not_after: datetime
    common_name: str | None
    dns_names: tuple[str, ...]
    ip_addresses: tuple[str, ...]
    key_algorithm: str
    key_source: Literal["csr", "generated"]
    profile: str
    replaces: str | None = None  # serial of the certificate this one succeeds


@register_event("identity.issued", version=1, aggregate=IDENTITY)
class IdentityIssued(_CertificateIssued):
    """``requested -> issued``: the identity's first certificate."""


@register_event("identity.renewed", version=1, aggregate=IDENTITY)
class IdentityRenewed(_CertificateIssued):
    """``renewing -> deployed``: a new certificate replacing ``replaces``."""


@register_event("identity.deployed", version=1, aggregate=IDENTITY)
class IdentityDeployed(_Commanded):
    identity_id: str
    serial: str
    target: str | None = None


@register_event("identity.renewal_started", version=1, aggregate=IDENTITY)
class IdentityRenewalStarted(_Commanded):
    identity_id: str
    serial: str
    reason: str | None = None


@register_event("identity.revoked", version=1, aggregate=IDENTITY)
class IdentityRevoked(_Commanded):
    """The identity and every one of its certificates still valid at ``revoked_at``."""

    identity_id: str
    ca_id: str
    serials: tuple[str, ...]
    reason: RevocationReason = RevocationReason.UNSPECIFIED
    revoked_at: datetime


@register_event("identity.retired", version=1, aggregate=IDENTITY)
class IdentityRetired(_Commanded):
    identity_id: str


# --- CA and profiles -----------------------------------------------------------------


@register_event("ca.initialized", version=1, aggregate=CA)
class CaInitialized(_Commanded):
    """The tenant's CA hierarchy exists. Public certificates only: keys stay sealed in
    the key store, found by ``ca_id``."""

    ca_id: str
    algorithm: str
    root_certificate_der: str  # base64
    issuing_certificate_der: str  # base64
    root_fingerprint_sha256: str
    issuing_fingerprint_sha256: str
    not_after: datetime  # the issuing CA's; no leaf outlives it


@register_event("profile.defined", version=1, aggregate=PROFILE)
class ProfileDefined(_Commanded):
    """A profile created or replaced as a whole (a new version of it)."""

    profile: CertificateProfile


CERTIFICATE_EVENTS = (IdentityIssued, IdentityRenewed)
