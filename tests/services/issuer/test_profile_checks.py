"""Profile checks on request and issuance: each refusal a typed error, no event."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from pydantic import ValidationError
from trstctl.events.errors import TrstctlError
from trstctl.issuer import events as ev
from trstctl.issuer.ca import KeyAlgorithm, build_tenant_ca
from trstctl.issuer.commands import IssueCertificate, RequestIdentity
from trstctl.issuer.domain import (
    IdentityContext,
    IdentityState,
    decide_identity,
    evolve_identity,
)
from trstctl.issuer.profiles import CertificateProfile, default_profile, validity

Ctx = Callable[..., IdentityContext]
CsrFactory = Callable[..., bytes]


def request(
    ctx: IdentityContext, *dns: str, ips: tuple[str, ...] = (), ttl: int | None = None
) -> IdentityState:
    cmd = RequestIdentity(
        identity_id="i1", owner_id="o1", dns_names=dns, ip_addresses=ips, ttl_seconds=ttl
    )
    state = IdentityState("i1")
    for event in decide_identity(state, cmd, ctx).events:
        state = evolve_identity(state, event)
    return state


def refused(call: Callable[[], object], code: str, rule: str | None = None) -> TrstctlError:
    with pytest.raises(TrstctlError) as info:
        call()
    assert info.value.code == code
    if rule is not None:
        assert info.value.details["rule"] == rule
    return info.value


def test_san_outside_allowed_domains(ctx_for: Ctx, example_profile: CertificateProfile) -> None:
    """A DNS SAN outside allowed_domains is profile_violation (dns_name_not_allowed)."""
    ctx = ctx_for(example_profile)
    err = refused(lambda: request(ctx, "api.evil.com"), "profile_violation", "dns_name_not_allowed")
    assert err.details["value"] == "api.evil.com"


def test_lookalike_suffix_is_not_a_subdomain(
    ctx_for: Ctx, example_profile: CertificateProfile
) -> None:
    """notexample.com does not match allowed domain example.com."""
    refused(lambda: request(ctx_for(example_profile), "notexample.com"), "profile_violation")


def test_subdomain_needs_allow_subdomains(
    ctx_for: Ctx, example_profile: CertificateProfile
) -> None:
    """Subdomains pass only with allow_subdomains; the bare domain with allow_bare_domains."""
    strict = example_profile.model_copy(update={"allow_subdomains": False})
    refused(lambda: request(ctx_for(strict), "a.example.com"), "profile_violation")
    assert request(ctx_for(strict), "Example.COM.").dns_names == ("example.com",)
    assert request(ctx_for(example_profile), "a.b.example.com").dns_names == ("a.b.example.com",)


def test_wildcard_when_not_allowed(ctx_for: Ctx, example_profile: CertificateProfile) -> None:
    """*.example.com is profile_violation (wildcard_not_allowed) unless allow_wildcards."""
    refused(
        lambda: request(ctx_for(example_profile), "*.example.com"),
        "profile_violation",
        "wildcard_not_allowed",
    )
    wild = example_profile.model_copy(update={"allow_wildcards": True})
    assert request(ctx_for(wild), "*.example.com").dns_names == ("*.example.com",)


def test_ip_san_when_not_allowed(ctx_for: Ctx, example_profile: CertificateProfile) -> None:
    """An IP SAN is profile_violation (ip_sans_not_allowed) unless allow_ip_sans."""
    ctx = ctx_for(example_profile)
    refused(
        lambda: request(ctx, "a.example.com", ips=("10.0.0.1",)),
        "profile_violation",
        "ip_sans_not_allowed",
    )


@pytest.mark.parametrize("ip", ["10.0.0.256", "fe80::1%eth0", "not-an-ip"])
def test_invalid_ip_sans(ctx_for: Ctx, ip: str) -> None:
    """Malformed IPs and zoned IPv6 addresses (a certificate has no zone) are invalid_ip."""
    refused(
        lambda: request(ctx_for(), "a.example.com", ips=(ip,)), "profile_violation", "invalid_ip"
    )


def test_ip_sans_are_canonical(ctx_for: Ctx) -> None:
    """IP SANs are stored in canonical form, so one address is one SAN."""
    state = request(ctx_for(), ips=("2001:DB8:0:0::1", "2001:db8::1", "10.0.0.1"))
    assert state.ip_addresses == ("2001:db8::1", "10.0.0.1")


@pytest.mark.parametrize(
    "name", ["-bad.example.com", "a..example.com", "a_b.example.com", "*", "a.*.example.com"]
)
def test_invalid_dns_names(ctx_for: Ctx, name: str) -> None:
    """Syntactically invalid DNS names are refused even by the permissive default profile."""
    refused(lambda: request(ctx_for(), name), "profile_violation", "invalid_dns_name")


def test_no_names_is_refused(ctx_for: Ctx) -> None:
    """An identity with no SAN at all is refused (no_names)."""
    refused(lambda: request(ctx_for()), "profile_violation", "no_names")


def test_ttl_over_maximum_on_request(ctx_for: Ctx, example_profile: CertificateProfile) -> None:
    """A requested TTL above max_ttl_seconds is ttl_exceeds_maximum."""
    ctx = ctx_for(example_profile)
    refused(lambda: request(ctx, "a.example.com", ttl=31 * 86_400), "ttl_exceeds_maximum")


def test_ttl_over_maximum_on_issue(ctx_for: Ctx, example_profile: CertificateProfile) -> None:
    """An issue command asking for more than the profile maximum is refused, nothing signed."""
    ctx = ctx_for(example_profile)
    state = request(ctx, "a.example.com")
    cmd = IssueCertificate(identity_id="i1", ttl_seconds=31 * 86_400)
    refused(lambda: decide_identity(state, cmd, ctx), "ttl_exceeds_maximum")
    assert ctx.signer is not None
    assert ctx.signer.specs == []  # type: ignore[attr-defined]


def test_ttl_never_beyond_issuing_ca(now: datetime) -> None:
    """The default TTL is shortened to the CA's expiry; an explicit longer one is refused."""
    ca = build_tenant_ca("acme", now=now, issuing_ttl=timedelta(days=10))
    profile = default_profile()  # 30 days by default
    _, not_after = validity(profile, now=now, ttl_seconds=None, ca_not_after=ca.not_after)
    assert not_after == ca.not_after
    refused(
        lambda: validity(profile, now=now, ttl_seconds=20 * 86_400, ca_not_after=ca.not_after),
        "ttl_exceeds_maximum",
    )


def test_csr_issuance_uses_csr_key(ctx_for: Ctx, csr_factory: CsrFactory) -> None:
    """With a valid CSR the certificate carries the CSR's public key and no key is returned."""
    ctx = ctx_for()
    state = request(ctx, "api.example.com")
    key = ec.generate_private_key(ec.SECP256R1())
    cmd = IssueCertificate(
        identity_id="i1", csr_pem=csr_factory(["api.example.com"], key=key).decode()
    )
    decision = decide_identity(state, cmd, ctx)
    (event,) = decision.events
    assert isinstance(event, ev.IdentityIssued)
    assert event.key_source == "csr"
    assert decision.private_key_pem is None
    cert = x509.load_der_x509_certificate(base64.b64decode(event.certificate_der))
    assert cert.public_key() == key.public_key()


def test_weak_rsa_key_in_csr(ctx_for: Ctx, csr_factory: CsrFactory) -> None:
    """A CSR with an RSA-1024 key is weak_key, nothing signed."""
    ctx = ctx_for()
    state = request(ctx, "api.example.com")
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 - the weak key under test
    cmd = IssueCertificate(
        identity_id="i1", csr_pem=csr_factory(["api.example.com"], key=weak).decode()
    )
    err = refused(lambda: decide_identity(state, cmd, ctx), "weak_key")
    assert err.details["bits"] == 1024
    assert ctx.signer.specs == []  # type: ignore[union-attr]


def test_key_family_not_allowed(ctx_for: Ctx, csr_factory: CsrFactory) -> None:
    """Ed25519 (CSR) or RSA (generated) against an EC-only profile is profile_violation."""
    ec_only = CertificateProfile(name="default", allow_any_name=True, allowed_key_families=("ec",))
    ctx = ctx_for(ec_only)
    state = request(ctx, "api.example.com")
    csr = csr_factory(["api.example.com"], key=ed25519.Ed25519PrivateKey.generate()).decode()
    refused(
        lambda: decide_identity(state, IssueCertificate(identity_id="i1", csr_pem=csr), ctx),
        "profile_violation",
        "key_algorithm_not_allowed",
    )
    cmd = IssueCertificate(identity_id="i1", key_algorithm=KeyAlgorithm.RSA_3072)
    refused(
        lambda: decide_identity(state, cmd, ctx), "profile_violation", "key_algorithm_not_allowed"
    )


def test_csr_with_bad_signature(ctx_for: Ctx, csr_factory: CsrFactory) -> None:
    """A CSR whose signature does not verify is csr_signature_invalid, nothing signed."""
    ctx = ctx_for()
    state = request(ctx, "api.example.com")
    csr = x509.load_pem_x509_csr(csr_factory(["api.example.com"]))
    der = bytearray(csr.public_bytes(Encoding.DER))
    der[-1] ^= 0x01  # the last byte of the signature value
    pem = pem_armor(bytes(der))
    cmd = IssueCertificate(identity_id="i1", csr_pem=pem)
    refused(lambda: decide_identity(state, cmd, ctx), "csr_signature_invalid")
    assert ctx.signer.specs == []  # type: ignore[union-attr]


def pem_armor(der: bytes) -> str:
    body = base64.encodebytes(der).decode()
    return f"-----BEGIN CERTIFICATE REQUEST-----\n{body}-----END CERTIFICATE REQUEST-----\n"


@pytest.mark.parametrize(
    "csr",
    [
        "not a csr",
        "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
        "",
    ],
)
def test_malformed_csr_bytes(ctx_for: Ctx, csr: str) -> None:
    """Bytes that are no PKCS#10 CSR are invalid_csr, nothing signed."""
    ctx = ctx_for()
    state = request(ctx, "api.example.com")
    refused(
        lambda: decide_identity(state, IssueCertificate(identity_id="i1", csr_pem=csr), ctx),
        "invalid_csr",
    )


def test_csr_cannot_widen_names(ctx_for: Ctx, csr_factory: CsrFactory) -> None:
    """A CSR asking for a SAN the identity was not granted is profile_violation."""
    ctx = ctx_for()
    state = request(ctx, "api.example.com")
    csr = csr_factory(["api.example.com", "admin.example.com"]).decode()
    err = refused(
        lambda: decide_identity(state, IssueCertificate(identity_id="i1", csr_pem=csr), ctx),
        "profile_violation",
        "csr_name_not_requested",
    )
    assert err.details["value"] == ["admin.example.com"]


def test_profile_tightened_after_request(ctx_for: Ctx, example_profile: CertificateProfile) -> None:
    """Names are re-checked at issuance against the profile as it is now."""
    state = request(ctx_for(), "api.other.org")
    refused(
        lambda: decide_identity(
            state, IssueCertificate(identity_id="i1"), ctx_for(example_profile)
        ),
        "profile_violation",
        "dns_name_not_allowed",
    )


def test_profile_model_refuses_unsafe_settings() -> None:
    """Profiles cannot admit RSA below 2048 bits or a default TTL above the maximum."""
    with pytest.raises(ValidationError):
        CertificateProfile(name="p", min_rsa_bits=1024)
    with pytest.raises(ValidationError):
        CertificateProfile(name="p", default_ttl_seconds=10, max_ttl_seconds=5)
    with pytest.raises(ValidationError):
        CertificateProfile(name="p", allowed_domains=("bad..domain",))


def test_a_der_csr_in_base64_issues_like_its_pem(ctx_for: Ctx, csr_factory: CsrFactory) -> None:
    """`csr_der` (base64 DER) gives a certificate for the CSR's key, as `csr_pem` does."""
    ctx = ctx_for()
    state = request(ctx, "api.example.com")
    key = ec.generate_private_key(ec.SECP256R1())
    csr = x509.load_pem_x509_csr(csr_factory(["api.example.com"], key=key))
    der_b64 = base64.b64encode(csr.public_bytes(Encoding.DER)).decode()
    decision = decide_identity(state, IssueCertificate(identity_id="i1", csr_der=der_b64), ctx)
    (event,) = decision.events
    assert isinstance(event, ev.IdentityIssued)
    assert event.key_source == "csr"
    cert = x509.load_der_x509_certificate(base64.b64decode(event.certificate_der))
    assert cert.public_key() == key.public_key()


def test_a_der_csr_is_checked_like_a_pem_one(ctx_for: Ctx, csr_factory: CsrFactory) -> None:
    """A DER CSR with a broken signature or garbage bytes is refused with the same codes."""
    ctx = ctx_for()
    state = request(ctx, "api.example.com")
    der = bytearray(
        x509.load_pem_x509_csr(csr_factory(["api.example.com"])).public_bytes(Encoding.DER)
    )
    der[-1] ^= 0x01
    broken = IssueCertificate(identity_id="i1", csr_der=base64.b64encode(bytes(der)).decode())
    refused(lambda: decide_identity(state, broken, ctx), "csr_signature_invalid")
    garbage = IssueCertificate(identity_id="i1", csr_der=base64.b64encode(b"\x30\x03ab").decode())
    refused(lambda: decide_identity(state, garbage, ctx), "invalid_csr")
    assert ctx.signer.specs == []  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"csr_der": "not base64!"}, "standard base64"),
        ({"csr_der": "é"}, "standard base64"),
        ({"csr_der": "AAAA", "csr_pem": "-----BEGIN"}, "not both"),
    ],
)
def test_csr_der_must_be_base64_and_alone(fields: dict[str, str], message: str) -> None:
    """`csr_der` that is not base64, or given beside `csr_pem`, is a validation error."""
    with pytest.raises(ValidationError) as info:
        IssueCertificate.model_validate({"identity_id": "i1", **fields})
    assert message in str(info.value)


def test_more_names_than_the_profile_allows(ctx_for: Ctx) -> None:
    """Names beyond the profile's max_names (after de-duplication) are too_many_names."""
    ctx = ctx_for(CertificateProfile(name="default", allow_any_name=True, max_names=3))
    kept = request(ctx, "a.example.com", "b.example.com", "c.example.com", "A.example.com.")
    assert kept.dns_names == ("a.example.com", "b.example.com", "c.example.com")
    err = refused(
        lambda: request(ctx, "a.example.com", "b.example.com", "c.example.com", "d.example.com"),
        "profile_violation",
        "too_many_names",
    )
    assert (err.details["count"], err.details["maximum"]) == (4, 3)


def test_names_are_recounted_at_issuance(ctx_for: Ctx) -> None:
    """A profile whose max_names shrank after the request refuses the issuance."""
    state = request(ctx_for(), "a.example.com", "b.example.com")
    tighter = CertificateProfile(name="default", allow_any_name=True, max_names=1)
    refused(
        lambda: decide_identity(state, IssueCertificate(identity_id="i1"), ctx_for(tighter)),
        "profile_violation",
        "too_many_names",
    )


def test_name_counts_are_bounded_on_the_wire_and_in_profiles() -> None:
    """A request carries at most 500 names of each kind; no profile allows more than 500."""
    names = tuple(f"n{i}.example.com" for i in range(501))
    with pytest.raises(ValidationError):
        RequestIdentity(identity_id="i1", owner_id="o1", dns_names=names)
    with pytest.raises(ValidationError):
        CertificateProfile(name="p", max_names=501)
    with pytest.raises(ValidationError):
        CertificateProfile(name="p", max_names=0)
    assert default_profile().max_names == 100


def test_a_common_name_longer_than_a_subject_may_carry(ctx_for: Ctx) -> None:
    """A CN over 64 characters is refused at request (common_name_too_long), not at issuance."""
    ctx = ctx_for()
    long_name = "a" * 60 + ".example.com"
    cmd = RequestIdentity(identity_id="i1", owner_id="o1", common_name=long_name)
    err = refused(
        lambda: decide_identity(IdentityState("i1"), cmd, ctx),
        "profile_violation",
        "common_name_too_long",
    )
    assert err.details["maximum"] == 64
    as_san = request(ctx, long_name)
    (event,) = decide_identity(as_san, IssueCertificate(identity_id="i1"), ctx).events
    assert isinstance(event, ev.IdentityIssued)
    assert event.dns_names == (long_name,)


def test_a_csr_signed_with_sha1_is_refused_saying_why(ctx_for: Ctx) -> None:
    """A CSR signed with SHA-1 is csr_signature_invalid with reason weak_hash, not a bare
    'does not verify'."""
    ctx = ctx_for()
    state = request(ctx, "api.example.com")
    pem = (Path(__file__).parent / "data" / "sha1-signed.csr").read_text()
    err = refused(
        lambda: decide_identity(state, IssueCertificate(identity_id="i1", csr_pem=pem), ctx),
        "csr_signature_invalid",
    )
    assert err.details == {"reason": "weak_hash", "hash": "sha1"}
    assert "SHA-256" in err.message
    assert ctx.signer.specs == []  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("curve", "allowed"),
    [(ec.SECP384R1(), True), (ec.BrainpoolP256R1(), False), (ec.SECP256K1(), False)],
)
def test_ec_curves_outside_the_profile_are_refused(
    ctx_for: Ctx, csr_factory: CsrFactory, curve: ec.EllipticCurve, allowed: bool
) -> None:
    """By default only NIST curves: Brainpool and secp256k1 CSRs are ec_curve_not_allowed."""
    ctx = ctx_for()
    state = request(ctx, "api.example.com")
    pem = csr_factory(["api.example.com"], key=ec.generate_private_key(curve)).decode()
    cmd = IssueCertificate(identity_id="i1", csr_pem=pem)
    if allowed:
        assert decide_identity(state, cmd, ctx).events
        return
    err = refused(
        lambda: decide_identity(state, cmd, ctx), "profile_violation", "ec_curve_not_allowed"
    )
    assert err.details["value"] == curve.name


def test_a_profile_may_opt_in_to_brainpool(ctx_for: Ctx, csr_factory: CsrFactory) -> None:
    """allowed_ec_curves admits Brainpool; it cannot name an unknown curve or exclude the
    curve of its own generated_key_algorithm."""
    brainpool = CertificateProfile(
        name="default",
        allow_any_name=True,
        allowed_ec_curves=("secp256r1", "brainpoolP256r1"),
    )
    ctx = ctx_for(brainpool)
    state = request(ctx, "api.example.com")
    key = ec.generate_private_key(ec.BrainpoolP256R1())
    pem = csr_factory(["api.example.com"], key=key).decode()
    (event,) = decide_identity(state, IssueCertificate(identity_id="i1", csr_pem=pem), ctx).events
    assert isinstance(event, ev.IdentityIssued)
    assert event.key_algorithm == "ec-brainpoolP256r1"
    with pytest.raises(ValidationError):
        CertificateProfile(name="p", allowed_ec_curves=("secp256k1",))  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="generated_key_algorithm"):
        CertificateProfile(name="p", allowed_ec_curves=("secp384r1",))
