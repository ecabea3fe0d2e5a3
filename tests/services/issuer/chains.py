"""Test helper: verify a leaf up to a tenant root the way a relying party would."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from cryptography.x509.verification import PolicyBuilder, Store


def verify_chain(leaf_pem: str, ca: dict[str, Any], dns_name: str) -> x509.Certificate:
    """Verify ``leaf_pem`` for ``dns_name`` via the issuing CA to the root of ``ca`` (a
    ``get_ca`` reply), now; return the leaf. Raises ``VerificationError`` otherwise."""
    leaf = x509.load_pem_x509_certificate(leaf_pem.encode())
    root = x509.load_pem_x509_certificate(ca["root_certificate_pem"].encode())
    issuing = x509.load_pem_x509_certificate(ca["issuing_certificate_pem"].encode())
    verifier = (
        PolicyBuilder()
        .store(Store([root]))
        .time(datetime.now(UTC))
        .build_server_verifier(x509.DNSName(dns_name))
    )
    chain = verifier.verify(leaf, [issuing])
    assert [c.subject for c in chain] == [leaf.subject, issuing.subject, root.subject]
    return leaf
