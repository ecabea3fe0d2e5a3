"""Pure CA crypto: hierarchy, leaf signing, CRL and OCSP."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, load_pem_private_key
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import DNSName, PolicyBuilder, Store
from trstctl.events.registry import EventData
from trstctl.issuer.ca import (
    CaSigner,
    KeyAlgorithm,
    LeafSpec,
    TenantCa,
    build_tenant_ca,
    parse_csr,
)
from trstctl.issuer.errors import TenantMismatch
from trstctl.issuer.events import IdentityIssued, IdentityRevoked, RevocationReason
from trstctl.issuer.revocation import CRL_VALIDITY, RevocationIndex, answer_ocsp, build_crl


def spec(tenant: str, now: datetime, **kw: object) -> LeafSpec:
    values: dict[str, object] = {
        "tenant": tenant,
        "common_name": "api.example.com",
        "dns_names": ("api.example.com", "www.example.com"),
        "ip_addresses": ("10.1.2.3",),
        "not_before": now - timedelta(minutes=1),
        "not_after": now + timedelta(days=30),
        "generate": KeyAlgorithm.EC_P256,
    }
    values.update(kw)
    return LeafSpec(**values)  # type: ignore[arg-type]


def leaf_of(ca: TenantCa, now: datetime, **kw: object) -> x509.Certificate:
    signed = CaSigner(ca).sign(spec(ca.tenant, now, **kw))
    return x509.load_der_x509_certificate(signed.certificate_der)


def test_leaf_chains_to_tenant_root(acme_ca: TenantCa, now: datetime) -> None:
    """A P-256 leaf verifies as a TLS server certificate up to the tenant's root."""
    leaf = leaf_of(acme_ca, now)
    verifier = (
        PolicyBuilder()
        .store(Store([acme_ca.root_cert]))
        .time(now)
        .build_server_verifier(DNSName("www.example.com"))
    )
    chain = verifier.verify(leaf, [acme_ca.issuing_cert])
    assert chain == [leaf, acme_ca.issuing_cert, acme_ca.root_cert]


def test_leaf_does_not_chain_to_other_tenant(
    acme_ca: TenantCa, globex_ca: TenantCa, now: datetime
) -> None:
    """An acme leaf does not verify against globex's root, even given acme's intermediate."""
    leaf = leaf_of(acme_ca, now)
    verifier = (
        PolicyBuilder()
        .store(Store([globex_ca.root_cert]))
        .time(now)
        .build_server_verifier(DNSName("api.example.com"))
    )
    with pytest.raises(x509.verification.VerificationError):
        verifier.verify(leaf, [acme_ca.issuing_cert])


@pytest.mark.parametrize(
    "algorithm",
    [KeyAlgorithm.EC_P256, KeyAlgorithm.EC_P384, KeyAlgorithm.RSA_3072, KeyAlgorithm.ED25519],
)
def test_every_ca_algorithm_signs_a_verifiable_chain(
    algorithm: KeyAlgorithm, now: datetime
) -> None:
    """Each selectable CA algorithm builds root -> issuing -> leaf with valid signatures."""
    ca = build_tenant_ca("acme", now=now, algorithm=algorithm)
    leaf = leaf_of(ca, now)
    ca.issuing_cert.verify_directly_issued_by(ca.root_cert)
    ca.root_cert.verify_directly_issued_by(ca.root_cert)
    leaf.verify_directly_issued_by(ca.issuing_cert)
    bc = ca.issuing_cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert bc.ca
    assert bc.path_length == 0


def test_leaf_sans_validity_and_usages(acme_ca: TenantCa, now: datetime) -> None:
    """The leaf carries exactly the requested SANs, validity and server-auth EKU, and is no CA."""
    leaf = leaf_of(acme_ca, now, client_auth=True)
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["api.example.com", "www.example.com"]
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("10.1.2.3")]
    assert leaf.not_valid_before_utc == now - timedelta(minutes=1)
    assert leaf.not_valid_after_utc == now + timedelta(days=30)
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert leaf.issuer == acme_ca.issuing_cert.subject
    assert leaf.serial_number > 0
    assert leaf.serial_number.bit_length() <= 159


def test_generated_key_returned_once_and_matches(acme_ca: TenantCa, now: datetime) -> None:
    """A server-generated key comes back as PEM, matches the certificate, and is not in repr."""
    signed = CaSigner(acme_ca).sign(spec("acme", now))
    assert signed.private_key_pem is not None
    key = load_pem_private_key(signed.private_key_pem.encode(), password=None)
    cert = x509.load_der_x509_certificate(signed.certificate_der)
    assert key.public_key() == cert.public_key()
    assert "PRIVATE" not in repr(signed)


def test_ca_refuses_other_tenants_spec(acme_ca: TenantCa, now: datetime) -> None:
    """acme's CA refuses a leaf spec for tenant globex (tenant_mismatch)."""
    with pytest.raises(TenantMismatch):
        CaSigner(acme_ca).sign(spec("globex", now))


def test_serials_do_not_repeat(acme_ca: TenantCa, now: datetime) -> None:
    """200 leaves get 200 distinct random serials."""
    signer = CaSigner(acme_ca)
    key = acme_ca.root_key.public_key()
    serials = {
        signer.sign(spec("acme", now, generate=None, public_key=key)).serial for _ in range(200)
    }
    assert len(serials) == 200


def revocations(
    ca: TenantCa, now: datetime
) -> tuple[RevocationIndex, x509.Certificate, x509.Certificate]:
    good, bad = leaf_of(ca, now), leaf_of(ca, now)
    index = RevocationIndex(ca.ca_id)
    for cert in (good, bad):
        index = index.evolve(issued_event(ca, cert))
    index = index.evolve(
        IdentityRevoked(
            identity_id="i1",
            ca_id=ca.ca_id,
            serials=(format(bad.serial_number, "x"),),
            reason=RevocationReason.KEY_COMPROMISE,
            revoked_at=now,
        )
    )
    return index, good, bad


def issued_event(ca: TenantCa, cert: x509.Certificate) -> IdentityIssued:
    return IdentityIssued(
        identity_id="i1",
        ca_id=ca.ca_id,
        certificate_der="",
        serial=format(cert.serial_number, "x"),
        fingerprint_sha256="",
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        common_name=None,
        dns_names=(),
        ip_addresses=(),
        key_algorithm="ec-secp256r1",
        key_source="generated",
        profile="default",
    )


def test_crl_lists_revoked_serial_with_reason(acme_ca: TenantCa, now: datetime) -> None:
    """The CRL is signed by the issuing CA, lists the revoked serial with its reason and
    time, not the good one, and has a next update and an increasing CRL number."""
    index, good, bad = revocations(acme_ca, now)
    crl = x509.load_der_x509_crl(build_crl(acme_ca, index.entries(), now=now))
    assert crl.is_signature_valid(acme_ca.issuing_cert.public_key())  # type: ignore[arg-type]
    assert crl.issuer == acme_ca.issuing_cert.subject
    entry = crl.get_revoked_certificate_by_serial_number(bad.serial_number)
    assert entry is not None
    assert entry.revocation_date_utc == now
    assert (
        entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
        is x509.ReasonFlags.key_compromise
    )
    assert crl.get_revoked_certificate_by_serial_number(good.serial_number) is None
    assert crl.next_update_utc is not None
    assert crl.next_update_utc > now
    later = x509.load_der_x509_crl(
        build_crl(acme_ca, index.entries(), now=now + timedelta(seconds=1))
    )
    number = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    assert later.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number > number


def test_crl_not_valid_for_other_tenant(
    acme_ca: TenantCa, globex_ca: TenantCa, now: datetime
) -> None:
    """acme's CRL does not verify under globex's issuing key."""
    crl = x509.load_der_x509_crl(build_crl(acme_ca, [], now=now))
    assert not crl.is_signature_valid(globex_ca.issuing_cert.public_key())  # type: ignore[arg-type]


def ocsp_request(
    cert: x509.Certificate, issuer: x509.Certificate, *, nonce: bytes | None = None
) -> bytes:
    builder = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA256())
    if nonce:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    return builder.build().public_bytes(Encoding.DER)


def test_ocsp_good_revoked_unknown(acme_ca: TenantCa, now: datetime) -> None:
    """OCSP answers good for an issued serial, revoked (reason, time) for a revoked one and
    unknown for one this CA never issued; every response is signed by the issuing CA."""
    index, good, bad = revocations(acme_ca, now)
    stranger = leaf_of(acme_ca, now)  # signed, but never recorded as issued

    def ask(cert: x509.Certificate) -> ocsp.OCSPResponse:
        der = answer_ocsp(
            acme_ca, ocsp_request(cert, acme_ca.issuing_cert, nonce=b"n0nce-123456"), index, now=now
        )
        response = ocsp.load_der_ocsp_response(der)
        assert response.response_status is ocsp.OCSPResponseStatus.SUCCESSFUL
        issuer_key = acme_ca.issuing_cert.public_key()
        assert isinstance(issuer_key, ec.EllipticCurvePublicKey)
        issuer_key.verify(
            response.signature, response.tbs_response_bytes, ec.ECDSA(hashes.SHA256())
        )
        assert response.serial_number == cert.serial_number
        assert (
            response.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
            == b"n0nce-123456"
        )
        return response

    assert ask(good).certificate_status is ocsp.OCSPCertStatus.GOOD
    revoked = ask(bad)
    assert revoked.certificate_status is ocsp.OCSPCertStatus.REVOKED
    assert revoked.revocation_reason is x509.ReasonFlags.key_compromise
    assert revoked.revocation_time_utc == now
    assert ask(stranger).certificate_status is ocsp.OCSPCertStatus.UNKNOWN


def test_ocsp_other_issuer_and_malformed(
    acme_ca: TenantCa, globex_ca: TenantCa, now: datetime
) -> None:
    """A request about another tenant's certificate is unauthorized; garbage is malformed."""
    index = RevocationIndex(acme_ca.ca_id)
    foreign = leaf_of(globex_ca, now)
    der = answer_ocsp(acme_ca, ocsp_request(foreign, globex_ca.issuing_cert), index, now=now)
    assert ocsp.load_der_ocsp_response(der).response_status is ocsp.OCSPResponseStatus.UNAUTHORIZED
    der = answer_ocsp(acme_ca, b"\x30\x03garbage", index, now=now)
    assert (
        ocsp.load_der_ocsp_response(der).response_status
        is ocsp.OCSPResponseStatus.MALFORMED_REQUEST
    )


def test_revocation_index_ignores_other_ca(
    acme_ca: TenantCa, globex_ca: TenantCa, now: datetime
) -> None:
    """Events of another CA neither add issued serials nor revocations."""
    index = RevocationIndex(acme_ca.ca_id).evolve(issued_event(globex_ca, leaf_of(globex_ca, now)))
    assert not index.issued
    assert index.evolve_all([]) is index


def test_parse_csr_accepts_der_and_pem(csr_factory: Callable[..., bytes]) -> None:
    """parse_csr takes PEM text, PEM bytes and DER bytes alike."""
    pem = csr_factory(["a.example.com"])
    der = x509.load_pem_x509_csr(pem).public_bytes(Encoding.DER)
    assert parse_csr(pem).subject == parse_csr(pem.decode()).subject == parse_csr(der).subject


def test_folding_events_at_once_equals_one_at_a_time(acme_ca: TenantCa, now: datetime) -> None:
    """evolve_all over a batch gives the index that folding each event in turn gives."""
    certs = [leaf_of(acme_ca, now) for _ in range(5)]
    events: list[EventData] = [issued_event(acme_ca, c) for c in certs]
    events.append(
        IdentityRevoked(
            identity_id="i1",
            ca_id=acme_ca.ca_id,
            serials=(format(certs[1].serial_number, "x"), format(certs[3].serial_number, "x")),
            reason=RevocationReason.SUPERSEDED,
            revoked_at=now,
        )
    )
    one_by_one = RevocationIndex(acme_ca.ca_id)
    for event in events:
        one_by_one = one_by_one.evolve(event)
    at_once = RevocationIndex(acme_ca.ca_id).evolve_all(events)
    assert at_once == one_by_one
    assert at_once.status(certs[1].serial_number).state == "revoked"
    assert at_once.status(certs[0].serial_number).state == "good"


def test_the_crl_drops_entries_a_day_after_their_certificate_expired(
    acme_ca: TenantCa, now: datetime
) -> None:
    """An entry stays on the CRL until its certificate has been expired for one CRL
    validity (RFC 5280 3.3), then goes; OCSP still answers revoked."""
    index, _, bad = revocations(acme_ca, now)
    expiry = bad.not_valid_after_utc
    assert [e.serial for e in index.entries(now=expiry)] == [bad.serial_number]
    assert [e.serial for e in index.entries(now=expiry + CRL_VALIDITY)] == [bad.serial_number]
    later = expiry + CRL_VALIDITY + timedelta(seconds=1)
    assert index.entries(now=later) == []
    assert index.status(bad.serial_number).state == "revoked"
