"""Pure certificate-authority crypto on ``cryptography``: no I/O, no clocks (``now`` is
passed in), no global state. Randomness is limited to key generation and serials.

Serial numbers are ``x509.random_serial_number()``: 159 random bits, positive. With
2**159 values a collision is not a practical event, so serials "continue without reuse"
across restarts with no counter to persist (CA/Browser Forum asks for >= 64 random bits).
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPrivateKeyTypes,
    CertificateIssuerPublicKeyTypes,
    CertificatePublicKeyTypes,
)
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, NameOID
from trstctl.issuer.errors import (
    CsrSignatureInvalid,
    InvalidCsr,
    TenantMismatch,
    UnsupportedKeyAlgorithm,
)

PrivateKey = CertificateIssuerPrivateKeyTypes


class KeyAlgorithm(StrEnum):
    """Key algorithms trstctl generates (CA and server-generated leaf keys)."""

    EC_P256 = "ec-p256"
    EC_P384 = "ec-p384"
    RSA_2048 = "rsa-2048"
    RSA_3072 = "rsa-3072"
    RSA_4096 = "rsa-4096"
    ED25519 = "ed25519"


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """What a public key is: ``family`` (ec, rsa, ed25519), size in bits, a name, and for
    EC keys the curve (``secp256r1``, ``brainpoolP256r1``, ...)."""

    family: str
    bits: int
    name: str
    curve: str | None = None


@functools.cache
def algorithm_info(algorithm: KeyAlgorithm) -> KeyInfo:
    """What a key generated with ``algorithm`` will be, without generating one."""
    family, _, size = algorithm.value.partition("-")
    if algorithm is KeyAlgorithm.ED25519:
        return KeyInfo("ed25519", 256, "ed25519")
    if family == "ec":
        curve = {"p256": "secp256r1", "p384": "secp384r1"}[size]
        return KeyInfo("ec", int(size[1:]), f"ec-{curve}", curve)
    return KeyInfo("rsa", int(size), algorithm.value)


def generate_private_key(algorithm: KeyAlgorithm) -> PrivateKey:
    """A new private key of ``algorithm``."""
    if algorithm is KeyAlgorithm.EC_P256:
        return ec.generate_private_key(ec.SECP256R1())
    if algorithm is KeyAlgorithm.EC_P384:
        return ec.generate_private_key(ec.SECP384R1())
    if algorithm is KeyAlgorithm.ED25519:
        return ed25519.Ed25519PrivateKey.generate()
    bits = int(algorithm.value.removeprefix("rsa-"))
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def describe_public_key(key: object) -> KeyInfo:
    """Classify a public key; anything but EC, RSA or Ed25519 is unsupported."""
    if isinstance(key, ec.EllipticCurvePublicKey):
        return KeyInfo("ec", key.curve.key_size, f"ec-{key.curve.name}", key.curve.name)
    if isinstance(key, rsa.RSAPublicKey):
        return KeyInfo("rsa", key.key_size, f"rsa-{key.key_size}")
    if isinstance(key, ed25519.Ed25519PublicKey):
        return KeyInfo("ed25519", 256, "ed25519")
    raise UnsupportedKeyAlgorithm(
        f"unsupported public key type {type(key).__name__}", key_type=type(key).__name__
    )


def signature_hash(key: PrivateKey) -> hashes.SHA256 | hashes.SHA384 | None:
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return None  # Ed25519 hashes internally
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.key_size >= 384:
        return hashes.SHA384()
    return hashes.SHA256()


def private_key_der(key: PrivateKey) -> bytes:
    """Unencrypted PKCS#8 DER: only ever handed to ``trstctl.sealing.seal``."""
    return key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


_SUPPORTED_PRIVATE = (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey, ed25519.Ed25519PrivateKey)


def load_private_key_der(data: bytes) -> PrivateKey:
    key = serialization.load_der_private_key(data, password=None)
    if not isinstance(key, _SUPPORTED_PRIVATE):
        raise UnsupportedKeyAlgorithm("stored CA key has an unsupported type")
    return key


def fingerprint_sha256(cert: x509.Certificate) -> str:
    """Lower-case hex SHA-256 of the certificate's DER."""
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def serial_hex(serial: int) -> str:
    """Serials travel as hex strings: 159-bit integers do not fit a JSON number safely."""
    return format(serial, "x")


@dataclass(frozen=True)
class TenantCa:
    """One tenant's CA hierarchy: a root and the issuing intermediate, with their keys.

    The keys are excluded from ``repr`` so a CA in a traceback leaks nothing."""

    tenant: str
    ca_id: str
    algorithm: KeyAlgorithm
    root_cert: x509.Certificate
    issuing_cert: x509.Certificate
    root_key: PrivateKey = field(repr=False)
    issuing_key: PrivateKey = field(repr=False)

    @property
    def not_after(self) -> datetime:
        """The issuing CA's expiry: no leaf may outlive it."""
        return self.issuing_cert.not_valid_after_utc

    def check_tenant(self, tenant: str) -> None:
        """Refuse to act for any tenant but this CA's own."""
        if tenant != self.tenant:
            raise TenantMismatch(
                f"the CA of tenant {self.tenant!r} does not act for tenant {tenant!r}",
                ca_tenant=self.tenant,
                tenant=tenant,
            )


def _ca_name(tenant: str, role: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "trstctl"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, f"tenant {tenant}"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"trstctl {tenant} {role}"),
        ]
    )


def _ca_cert(
    *,
    subject: x509.Name,
    issuer: x509.Name,
    public_key: CertificatePublicKeyTypes,
    signing_key: PrivateKey,
    issuer_public_key: CertificateIssuerPublicKeyTypes,
    not_before: datetime,
    not_after: datetime,
    path_length: int,
) -> x509.Certificate:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_public_key), critical=False
        )
        .sign(signing_key, signature_hash(signing_key))
    )


# CA certificates start earlier than any leaf they sign may (leaves are backdated for
# clock skew), so a freshly created CA never makes its first leaf "not yet valid".
CA_BACKDATE = timedelta(hours=1)


def build_tenant_ca(
    tenant: str,
    *,
    now: datetime,
    algorithm: KeyAlgorithm = KeyAlgorithm.EC_P256,
    root_ttl: timedelta = timedelta(days=3650),
    issuing_ttl: timedelta = timedelta(days=1825),
    ca_id: str | None = None,
) -> TenantCa:
    """Create a tenant's root (path length 1) and issuing intermediate (path length 0)."""
    root_key = generate_private_key(algorithm)
    issuing_key = generate_private_key(algorithm)
    root_name = _ca_name(tenant, "Root CA")
    root = _ca_cert(
        subject=root_name,
        issuer=root_name,
        public_key=root_key.public_key(),
        signing_key=root_key,
        issuer_public_key=root_key.public_key(),
        not_before=now - CA_BACKDATE,
        not_after=now + root_ttl,
        path_length=1,
    )
    issuing = _ca_cert(
        subject=_ca_name(tenant, "Issuing CA"),
        issuer=root_name,
        public_key=issuing_key.public_key(),
        signing_key=root_key,
        issuer_public_key=root_key.public_key(),
        not_before=now - CA_BACKDATE,
        # An intermediate that outlived its root would be unverifiable at the end.
        not_after=min(now + issuing_ttl, now + root_ttl),
        path_length=0,
    )
    return TenantCa(
        tenant=tenant,
        ca_id=ca_id or uuid.uuid4().hex,
        algorithm=algorithm,
        root_cert=root,
        issuing_cert=issuing,
        root_key=root_key,
        issuing_key=issuing_key,
    )


def parse_csr(data: bytes | str) -> x509.CertificateSigningRequest:
    """Parse a PEM or DER PKCS#10 CSR and verify its self-signature.

    Malformed bytes raise ``InvalidCsr``; a signature that does not verify raises
    ``CsrSignatureInvalid`` (the requester may not hold the private key)."""
    raw = data.encode() if isinstance(data, str) else bytes(data)
    try:
        if raw.lstrip().startswith(b"-----BEGIN"):
            csr = x509.load_pem_x509_csr(raw)
        else:
            csr = x509.load_der_x509_csr(raw)
        hash_algorithm = csr.signature_hash_algorithm
    except (ValueError, TypeError) as e:
        raise InvalidCsr(f"not a PKCS#10 certificate signing request: {e}") from None
    except UnsupportedAlgorithm:
        raise InvalidCsr("the CSR is signed with an algorithm trstctl does not know") from None
    if isinstance(hash_algorithm, hashes.MD5 | hashes.SHA1):
        # OpenSSL would only say "does not verify"; the requester needs to know why.
        raise CsrSignatureInvalid(
            f"the CSR is signed with {hash_algorithm.name.upper()}, which is not accepted: "
            "sign it with SHA-256 or stronger",
            reason="weak_hash",
            hash=hash_algorithm.name,
        )
    try:
        valid = csr.is_signature_valid
    except (ValueError, TypeError, UnsupportedAlgorithm) as e:
        raise InvalidCsr(f"the CSR's signature cannot be checked: {e}") from None
    if not valid:
        raise CsrSignatureInvalid("the CSR's signature does not verify against its public key")
    return csr


def csr_names(csr: x509.CertificateSigningRequest) -> tuple[str | None, list[str], list[str]]:
    """The CSR's common name, DNS SANs and IP SANs (as strings)."""
    cns = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    cn = str(cns[0].value) if cns else None
    try:
        san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return cn, [], []
    except ValueError as e:
        raise InvalidCsr(f"the CSR's extensions cannot be parsed: {e}") from None
    dns = san.get_values_for_type(x509.DNSName)
    ips = [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
    return cn, dns, ips


@dataclass(frozen=True)
class LeafSpec:
    """Everything the signer needs for one leaf, already checked against the profile.

    Exactly one of ``public_key`` (from a verified CSR) and ``generate`` is set."""

    tenant: str
    common_name: str | None
    dns_names: Sequence[str]
    ip_addresses: Sequence[str]
    not_before: datetime
    not_after: datetime
    key_usages: Sequence[str] = ("digital_signature",)
    server_auth: bool = True
    client_auth: bool = False
    public_key: CertificatePublicKeyTypes | None = None
    generate: KeyAlgorithm | None = None


@dataclass(frozen=True)
class SignedLeaf:
    """A signed leaf. ``private_key_pem`` is set only for a server-generated key and is
    meant for the one reply to the requester: never an event, log line or row."""

    certificate_der: bytes
    serial: str
    fingerprint_sha256: str
    not_before: datetime
    not_after: datetime
    key_algorithm: str
    ca_id: str
    private_key_pem: str | None = field(default=None, repr=False)


_LEAF_BASIC_CONSTRAINTS: x509.Extension[x509.ExtensionType] = x509.Extension(
    ExtensionOID.BASIC_CONSTRAINTS, True, x509.BasicConstraints(ca=False, path_length=None)
)


def _subject(common_name: str | None) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)] if common_name else [])


@functools.lru_cache(maxsize=64)
def _key_usage(names: tuple[str, ...], family: str) -> x509.KeyUsage:
    wanted = set(names)
    return x509.KeyUsage(
        digital_signature="digital_signature" in wanted,
        content_commitment="content_commitment" in wanted,
        # Key encipherment only means something for RSA key transport.
        key_encipherment="key_encipherment" in wanted and family == "rsa",
        data_encipherment=False,
        key_agreement="key_agreement" in wanted and family == "ec",
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


class CaSigner:
    """Signs leaves with one tenant's issuing CA; the real ``LeafSigner`` port."""

    def __init__(self, ca: TenantCa) -> None:
        self._ca = ca
        # The same for every leaf: computed once, not per signature.
        self._authority_key_id: x509.Extension[x509.ExtensionType] = x509.Extension(
            ExtensionOID.AUTHORITY_KEY_IDENTIFIER,
            False,
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.issuing_key.public_key()),
        )
        self._issuer_name = ca.issuing_cert.subject
        self._hash = signature_hash(ca.issuing_key)

    @property
    def ca(self) -> TenantCa:
        """The CA this signer signs with (CRLs and OCSP answers are signed by it too)."""
        return self._ca

    @property
    def tenant(self) -> str:
        return self._ca.tenant

    @property
    def ca_id(self) -> str:
        return self._ca.ca_id

    @property
    def not_after(self) -> datetime:
        return self._ca.not_after

    def sign(self, spec: LeafSpec) -> SignedLeaf:
        """Build and sign the leaf of ``spec``; refuses a spec for another tenant."""
        self._ca.check_tenant(spec.tenant)
        key_pem: str | None = None
        if spec.public_key is not None:
            public_key = spec.public_key
        elif spec.generate is not None:
            private = generate_private_key(spec.generate)
            public_key = private.public_key()
            key_pem = private.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ).decode()
        else:
            raise UnsupportedKeyAlgorithm("a leaf needs a CSR public key or a key to generate")
        info = describe_public_key(public_key)
        # Certificates carry whole seconds: the event states what the certificate says.
        not_before = spec.not_before.replace(microsecond=0)
        not_after = spec.not_after.replace(microsecond=0)
        serial = x509.random_serial_number()
        # One builder built with every field at once: the chained builder copies itself
        # per call, which cost as much as the signature (measured).
        cert = x509.CertificateBuilder(
            issuer_name=self._issuer_name,
            subject_name=_subject(spec.common_name),
            public_key=public_key,
            serial_number=serial,
            not_valid_before=not_before,
            not_valid_after=not_after,
            extensions=self._leaf_extensions(spec, public_key, info.family),
        ).sign(self._ca.issuing_key, self._hash)
        der = cert.public_bytes(serialization.Encoding.DER)
        return SignedLeaf(
            certificate_der=der,
            serial=serial_hex(serial),
            fingerprint_sha256=hashlib.sha256(der).hexdigest(),
            not_before=not_before,
            not_after=not_after,
            key_algorithm=info.name,
            ca_id=self._ca.ca_id,
            private_key_pem=key_pem,
        )

    def _leaf_extensions(
        self, spec: LeafSpec, public_key: CertificatePublicKeyTypes, family: str
    ) -> list[x509.Extension[x509.ExtensionType]]:
        extensions: list[x509.Extension[x509.ExtensionType]] = [
            _LEAF_BASIC_CONSTRAINTS,
            x509.Extension(
                ExtensionOID.KEY_USAGE, True, _key_usage(tuple(spec.key_usages), family)
            ),
            x509.Extension(
                ExtensionOID.SUBJECT_KEY_IDENTIFIER,
                False,
                x509.SubjectKeyIdentifier.from_public_key(public_key),
            ),
            self._authority_key_id,
        ]
        ekus = [ExtendedKeyUsageOID.SERVER_AUTH] if spec.server_auth else []
        ekus += [ExtendedKeyUsageOID.CLIENT_AUTH] if spec.client_auth else []
        if ekus:
            extensions.append(
                x509.Extension(ExtensionOID.EXTENDED_KEY_USAGE, False, x509.ExtendedKeyUsage(ekus))
            )
        sans: list[x509.GeneralName] = [x509.DNSName(n) for n in spec.dns_names]
        sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in spec.ip_addresses]
        if sans:
            # RFC 5280: the SAN extension is critical when the subject is empty.
            extensions.append(
                x509.Extension(
                    ExtensionOID.SUBJECT_ALTERNATIVE_NAME,
                    not spec.common_name,
                    x509.SubjectAlternativeName(sans),
                )
            )
        return extensions
