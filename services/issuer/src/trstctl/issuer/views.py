"""Command replies: plain JSON-able dicts the gateway passes through unchanged.

Times are ISO 8601 UTC strings, certificates base64 DER plus PEM, serials hex.
"""

from __future__ import annotations

from typing import Any

from trstctl.issuer.domain import (
    CaState,
    CertificateRef,
    Decision,
    IdentityState,
    Owner,
    OwnerDirectory,
)
from trstctl.issuer.profiles import CertificateProfile

JsonDict = dict[str, Any]


def _pem(der_b64: str) -> str:
    # PEM is the base64 of the DER in 64-column lines: no need to parse the certificate.
    body = "\n".join(der_b64[i : i + 64] for i in range(0, len(der_b64), 64))
    return f"-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n"


def owner_view(owner: Owner) -> JsonDict:
    return {
        "owner_id": owner.owner_id,
        "name": owner.name,
        "kind": owner.kind.value,
        "description": owner.description,
        "contact": owner.contact,
    }


def owners_view(state: OwnerDirectory) -> JsonDict:
    return {"owners": [owner_view(o) for o in sorted(state.owners.values(), key=lambda o: o.name)]}


def certificate_view(cert: CertificateRef) -> JsonDict:
    return {
        "serial": cert.serial,
        "fingerprint_sha256": cert.fingerprint_sha256,
        "not_before": cert.not_before.isoformat(),
        "not_after": cert.not_after.isoformat(),
        "ca_id": cert.ca_id,
        "certificate_der": cert.certificate_der,
        "certificate_pem": _pem(cert.certificate_der),
    }


def identity_view(state: IdentityState) -> JsonDict:
    return {
        "identity_id": state.identity_id,
        "kind": state.kind.value,
        "status": state.status.value if state.status else None,
        "owner_id": state.owner_id,
        "profile": state.profile,
        "common_name": state.common_name,
        "dns_names": list(state.dns_names),
        "ip_addresses": list(state.ip_addresses),
        "certificate": certificate_view(state.current) if state.current else None,
        "revocation": (
            {
                "reason": state.revocation_reason.value,
                "revoked_at": state.revoked_at.isoformat() if state.revoked_at else None,
            }
            if state.revocation_reason
            else None
        ),
    }


def identity_reply(state: IdentityState, decision: Decision) -> JsonDict:
    """The identity after the decision (``state`` already evolved), plus a generated
    private key on the one reply that may carry it. A replay has no key to return: it
    was never stored, by design, so ``private_key_pem`` is absent and ``replayed`` true."""
    reply = identity_view(state)
    reply["replayed"] = decision.replayed
    if decision.private_key_pem is not None:
        reply["private_key_pem"] = decision.private_key_pem
    return reply


def ca_view(state: CaState) -> JsonDict:
    ca = state.initialized
    if ca is None:
        return {"initialized": False}
    return {
        "initialized": True,
        "ca_id": ca.ca_id,
        "algorithm": ca.algorithm,
        "not_after": ca.not_after.isoformat(),
        "root_fingerprint_sha256": ca.root_fingerprint_sha256,
        "issuing_fingerprint_sha256": ca.issuing_fingerprint_sha256,
        "root_certificate_pem": _pem(ca.root_certificate_der),
        "issuing_certificate_pem": _pem(ca.issuing_certificate_der),
    }


def profile_view(profile: CertificateProfile) -> JsonDict:
    return profile.model_dump(mode="json")
