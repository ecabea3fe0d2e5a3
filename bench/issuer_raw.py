"""The raw single-core ceiling of issuance: ``cryptography`` building and signing P-256
leaf certificates with no bus, no events and no profile checks.

The issuer bench prints its command-bus throughput beside this figure, measured in the
same run (issue #4's goal: >= 30% of it). Run alone:
``.venv/bin/python bench/issuer_raw.py [--seconds S]``.
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def raw_sign_rate(
    seconds: float = 2.0, *, generate_keys: bool = False, verify_csr: bool = False
) -> float:
    """P-256 leaf certificates built and signed per second on one core, for ``seconds``.

    With ``generate_keys`` each leaf also gets a fresh P-256 key (the server-generated
    path); without, one subject key is reused (the CSR path, CSR parsing aside). With
    ``verify_csr`` each leaf's key is also read from a PEM CSR whose signature is checked
    first: the whole cryptographic work of the CSR path, its single-core ceiling."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    issuer = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bench issuing CA")])
    aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key())
    csr_key = ec.generate_private_key(ec.SECP256R1())
    subject_key = csr_key.public_key()
    csr_pem = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "leaf")]))
        .sign(csr_key, hashes.SHA256())
        .public_bytes(serialization.Encoding.PEM)
    )
    now = datetime.now(UTC)
    count = 0
    deadline = time.perf_counter() + seconds
    start = time.perf_counter()
    while time.perf_counter() < deadline:
        if generate_keys:
            subject_key = ec.generate_private_key(ec.SECP256R1()).public_key()
        elif verify_csr:
            csr = x509.load_pem_x509_csr(csr_pem)
            if not csr.is_signature_valid:
                raise AssertionError("the bench CSR must verify")
            subject_key = csr.public_key()  # type: ignore[assignment]
        (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"leaf{count}")]))
            .issuer_name(issuer)
            .public_key(subject_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(now + timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.SubjectAlternativeName([x509.DNSName(f"leaf{count}.example.com")]),
                critical=False,
            )
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(aki, critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        count += 1
    return count / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()
    print(f"raw P-256 build+sign (CSR key):       {raw_sign_rate(args.seconds):8.0f} certs/s")
    verified = raw_sign_rate(args.seconds, verify_csr=True)
    print(f"raw P-256 CSR verify+build+sign:      {verified:8.0f} certs/s")
    generated = raw_sign_rate(args.seconds, generate_keys=True)
    print(f"raw P-256 keygen+build+sign:          {generated:8.0f} certs/s")


if __name__ == "__main__":
    main()
