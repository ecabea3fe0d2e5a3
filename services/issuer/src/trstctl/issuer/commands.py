"""Command payloads of ``trstctl.cmd.issuer.<name>``: frozen, strict about unknown fields.

Ids that a client may choose (``owner_id``, ``identity_id``) default to a fresh UUIDv7
(or to a hash of the idempotency key, so a retry finds the first attempt), so ``decide``
stays deterministic: the id is part of the command, not invented inside.
``idempotency_key`` lets a client retry safely: a replay returns the first result.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from trstctl.events.ids import uuid7
from trstctl.issuer.ca import KeyAlgorithm
from trstctl.issuer.events import IdentityKind, OwnerKind, RevocationReason
from trstctl.issuer.profiles import MAX_NAMES_CEILING, CertificateProfile

Id = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,128}$")]
Name = Annotated[str, Field(min_length=1, max_length=200)]
# A DNS name may be 253 characters (RFC 1035), plus a trailing dot; the profile checks
# the syntax. IP SAN text is never longer than an IPv6 address with an IPv4 tail (45).
DnsNameText = Annotated[str, Field(min_length=1, max_length=254)]
IpText = Annotated[str, Field(min_length=1, max_length=45)]
Text = Annotated[str, Field(max_length=2000)]


def _new_id(data: dict[str, Any]) -> str:
    """A fresh id, or, when the client sent an idempotency key, one derived from it: a
    retried creation then lands on the same aggregate and is recognised as a replay."""
    key = data.get("idempotency_key")
    if key:
        return hashlib.sha256(f"trstctl-id:{key}".encode()).hexdigest()[:32]
    return uuid7().hex


class Command(BaseModel):
    """Base of every issuer command."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    idempotency_key: Annotated[str, Field(min_length=1, max_length=200)] | None = None

    def digest(self) -> str:
        """A fingerprint of what the command asks (everything but its idempotency key), so
        a key reused with a different request is told apart from a retry."""
        body = self.model_dump_json(exclude={"idempotency_key"})
        return hashlib.sha256(f"{type(self).__name__}:{body}".encode()).hexdigest()[:32]

    def idempotency(self) -> dict[str, str | None]:
        """The fields an event records of this command to recognise its replays."""
        if self.idempotency_key is None:
            return {"idempotency_key": None, "command_digest": None}
        return {"idempotency_key": self.idempotency_key, "command_digest": self.digest()}


class CreateOwner(Command):
    owner_id: Id = Field(default_factory=_new_id)
    name: Name
    kind: OwnerKind
    description: Text | None = None
    contact: Text | None = None


class UpdateOwner(Command):
    """Fields left ``None`` keep their value."""

    owner_id: Id
    name: Name | None = None
    kind: OwnerKind | None = None
    description: Text | None = None
    contact: Text | None = None


class DeleteOwner(Command):
    owner_id: Id


class DefineProfile(Command):
    profile: CertificateProfile


class InitializeCa(Command):
    algorithm: KeyAlgorithm = KeyAlgorithm.EC_P256
    root_ttl_days: int = Field(default=3650, gt=0, le=36500)
    issuing_ttl_days: int = Field(default=1825, gt=0, le=36500)


class RequestIdentity(Command):
    identity_id: Id = Field(default_factory=_new_id)
    owner_id: Id
    kind: IdentityKind = IdentityKind.X509_CERTIFICATE
    profile: Id = "default"
    common_name: DnsNameText | None = None
    # The profile's max_names decides; this only bounds what a request may carry at all.
    dns_names: tuple[DnsNameText, ...] = Field(default=(), max_length=MAX_NAMES_CEILING)
    ip_addresses: tuple[IpText, ...] = Field(default=(), max_length=MAX_NAMES_CEILING)
    ttl_seconds: int | None = Field(default=None, gt=0)


MAX_CSR_CHARS = 65536


class _Issue(Command):
    """Issuance input: a CSR as PEM text (``csr_pem``) or as base64 DER (``csr_der``,
    what ``openssl req -outform DER`` writes), or neither for a server-generated key (of
    ``key_algorithm``, else the profile's ``generated_key_algorithm``)."""

    identity_id: Id
    csr_pem: Annotated[str, Field(max_length=MAX_CSR_CHARS)] | None = None
    csr_der: Annotated[str, Field(max_length=MAX_CSR_CHARS)] | None = None
    key_algorithm: KeyAlgorithm | None = None
    ttl_seconds: int | None = Field(default=None, gt=0)

    @field_validator("csr_der")
    @classmethod
    def _base64(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                base64.b64decode(value, validate=True)
            except ValueError:  # binascii.Error, or text that is not even ASCII
                raise ValueError("csr_der must be standard base64 of a DER CSR") from None
        return value

    @model_validator(mode="after")
    def _one_csr(self) -> Self:
        if self.csr_pem is not None and self.csr_der is not None:
            raise ValueError("give the CSR once: csr_pem or csr_der, not both")
        return self

    @property
    def has_csr(self) -> bool:
        """Whether a CSR was sent (else the issuer generates the key)."""
        return self.csr_pem is not None or self.csr_der is not None

    @property
    def csr(self) -> str | bytes | None:
        """The CSR as sent: PEM text, DER bytes, or ``None`` (generate a key)."""
        if self.csr_der is not None:
            return base64.b64decode(self.csr_der)
        return self.csr_pem


class IssueCertificate(_Issue):
    """``requested -> issued``."""


class CompleteRenewal(_Issue):
    """``renewing -> deployed``, with a new certificate."""


class MarkDeployed(Command):
    """``issued -> deployed``."""

    identity_id: Id
    target: Text | None = None


class StartRenewal(Command):
    """``deployed -> renewing``."""

    identity_id: Id
    reason: Text | None = None


class RevokeIdentity(Command):
    """``issued|deployed|renewing -> revoked``."""

    identity_id: Id
    reason: RevocationReason = RevocationReason.UNSPECIFIED


class RetireIdentity(Command):
    """``revoked -> retired`` (terminal)."""

    identity_id: Id


# Wire name (``trstctl.cmd.issuer.<name>``) -> payload model, for the handlers.
COMMANDS: dict[str, type[Command]] = {
    "create_owner": CreateOwner,
    "update_owner": UpdateOwner,
    "delete_owner": DeleteOwner,
    "define_profile": DefineProfile,
    "initialize_ca": InitializeCa,
    "request_identity": RequestIdentity,
    "issue_certificate": IssueCertificate,
    "mark_deployed": MarkDeployed,
    "start_renewal": StartRenewal,
    "complete_renewal": CompleteRenewal,
    "revoke_identity": RevokeIdentity,
    "retire_identity": RetireIdentity,
}
