"""Fixtures of the issuer's pure tests: a fixed clock, tenant CAs built once, CSRs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509.oid import NameOID
from trstctl.issuer.ca import CaSigner, LeafSpec, SignedLeaf, TenantCa, build_tenant_ca
from trstctl.issuer.domain import IdentityContext, OwnerDirectory, evolve_owner
from trstctl.issuer.events import OwnerCreated, OwnerKind
from trstctl.issuer.profiles import CertificateProfile, default_profile

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def now() -> datetime:
    return NOW


@pytest.fixture(scope="session")
def acme_ca() -> TenantCa:
    return build_tenant_ca("acme", now=NOW, ca_id="acme-ca-1")


@pytest.fixture(scope="session")
def globex_ca() -> TenantCa:
    return build_tenant_ca("globex", now=NOW, ca_id="globex-ca-1")


@dataclass
class RecordingSigner:
    """The real signer, remembering every spec it was asked to sign."""

    ca: TenantCa
    specs: list[LeafSpec] = field(default_factory=list)

    @property
    def tenant(self) -> str:
        return self.ca.tenant

    @property
    def ca_id(self) -> str:
        return self.ca.ca_id

    @property
    def not_after(self) -> datetime:
        return self.ca.not_after

    def sign(self, spec: LeafSpec) -> SignedLeaf:
        self.specs.append(spec)
        return CaSigner(self.ca).sign(spec)


@pytest.fixture
def signer(acme_ca: TenantCa) -> RecordingSigner:
    return RecordingSigner(acme_ca)


@pytest.fixture(scope="session")
def signer_for() -> Callable[[TenantCa], RecordingSigner]:
    return RecordingSigner


@pytest.fixture(scope="session")
def owners() -> OwnerDirectory:
    return evolve_owner(
        OwnerDirectory(), OwnerCreated(owner_id="o1", name="Payments", kind=OwnerKind.TEAM)
    )


@pytest.fixture
def example_profile() -> CertificateProfile:
    return CertificateProfile(
        name="default",
        allowed_domains=("example.com",),
        allow_subdomains=True,
        default_ttl_seconds=86_400,
        max_ttl_seconds=30 * 86_400,
    )


@pytest.fixture
def ctx_for(owners: OwnerDirectory, signer: RecordingSigner) -> Callable[..., IdentityContext]:
    def make(profile: CertificateProfile | None = None, **overrides: object) -> IdentityContext:
        values: dict[str, object] = {
            "tenant": "acme",
            "now": NOW,
            "profile": profile or default_profile(),
            "owners": owners,
            "signer": signer,
        }
        values.update(overrides)
        return IdentityContext(**values)  # type: ignore[arg-type]

    return make


def make_csr(
    dns_names: list[str],
    *,
    key: CertificateIssuerPrivateKeyTypes | None = None,
    common_name: str | None = None,
) -> bytes:
    """A PEM CSR for ``dns_names`` (P-256 unless a key is given)."""
    from cryptography.hazmat.primitives.serialization import Encoding

    private = key or ec.generate_private_key(ec.SECP256R1())
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)] if common_name else [])
    )
    if dns_names:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(n) for n in dns_names]), critical=False
        )
    algorithm = None if isinstance(private, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return builder.sign(private, algorithm).public_bytes(Encoding.PEM)


@pytest.fixture(scope="session")
def csr_factory() -> Callable[..., bytes]:
    return make_csr
