"""The issuer's typed errors. Every ``code`` is stable API (the gateway maps it to HTTP).

They live apart from ``domain`` so that ``ca`` and ``profiles`` can raise them without
importing the decision functions; ``domain`` re-exports them.
"""

from __future__ import annotations

from typing import Any

from trstctl.events.errors import TrstctlError


class IssuerError(TrstctlError):
    """Root of the issuer's errors."""

    code = "issuer_error"


class InvalidTransition(IssuerError):
    """A lifecycle edge that does not exist. ``details`` carry ``from`` and ``to``."""

    code = "invalid_transition"

    def __init__(self, from_: str | None, to: str, *, via: str, **details: Any) -> None:
        super().__init__(
            f"identity cannot go from {from_ or 'nothing'} to {to} (command {via})",
            **{"from": from_, "to": to, "via": via, **details},
        )


class OwnerNameTaken(IssuerError):
    code = "owner_name_taken"


class OwnerNotFound(IssuerError):
    code = "owner_not_found"


class OwnerExists(IssuerError):
    code = "owner_exists"


class OwnerInUse(IssuerError):
    """An owner still named by identities that are not retired cannot be deleted."""

    code = "owner_in_use"


class IdentityNotFound(IssuerError):
    code = "identity_not_found"


class IdentityExists(IssuerError):
    code = "identity_exists"


class ProfileNotFound(IssuerError):
    code = "profile_not_found"


class ProfileViolation(IssuerError):
    """A request outside what the certificate profile allows. ``details['rule']`` names it."""

    code = "profile_violation"


class WeakKey(ProfileViolation):
    code = "weak_key"


class TtlExceedsMaximum(ProfileViolation):
    code = "ttl_exceeds_maximum"


class InvalidCsr(IssuerError):
    """Bytes that are not a PKCS#10 certificate signing request."""

    code = "invalid_csr"


class CsrSignatureInvalid(IssuerError):
    """A CSR whose self-signature does not verify: whoever sent it may not hold the key."""

    code = "csr_signature_invalid"


class UnsupportedKeyAlgorithm(IssuerError):
    code = "unsupported_key_algorithm"


class CaNotInitialized(IssuerError):
    code = "ca_not_initialized"


class CaAlreadyInitialized(IssuerError):
    code = "ca_already_initialized"


class TenantMismatch(IssuerError):
    """A CA asked to act for another tenant: one tenant's CA never signs for another."""

    code = "tenant_mismatch"


class IdempotencyKeyReused(IssuerError):
    """An idempotency key already used for a different command on this aggregate."""

    code = "idempotency_key_reused"


class KeyStoreError(IssuerError):
    """The CA key store cannot store or return a key."""

    code = "ca_key_store_error"


class CaKeyMissing(KeyStoreError):
    """No sealed key for a CA the log knows (restore the key store or its backup)."""

    code = "ca_key_missing"


class CaKeyExists(KeyStoreError):
    """A sealed key is never replaced: one already exists for this CA and role."""

    code = "ca_key_exists"


class CaKeyMismatch(KeyStoreError):
    """A stored key does not belong to its certificate; it is refused, not used."""

    code = "ca_key_mismatch"
