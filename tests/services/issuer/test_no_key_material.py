"""No private key bytes (CA or leaf) in any JetStream message, log line or database row."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.x509 import ocsp
from cryptography.x509.oid import NameOID
from nats.aio.client import Client as NatsClient
from nats.js.errors import NotFoundError
from trstctl.events.bus import NatsCommandBus
from trstctl.events.errors import CommandError
from trstctl.issuer.keystore import key_aad
from trstctl.sealing import generate_kek_file, load_kek, unseal

from .process import IssuerClient, Launcher, service_environment

pytestmark = pytest.mark.integration

STREAM = "TRSTCTL_EVENTS"
# A PEM body line shorter than this (the last one) could match by chance.
MIN_PEM_LINE = 24
DER = serialization.Encoding.DER


def key_encodings(key: PrivateKeyTypes) -> dict[str, bytes]:
    """Byte strings that would betray ``key``: its DER forms, the raw EC scalar, and their
    base64, URL-safe base64, hex and PEM body lines."""
    raw: dict[str, bytes] = {
        "pkcs8-der": key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    }
    if isinstance(key, ec.EllipticCurvePrivateKey):
        raw["sec1-der"] = key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
        size = (key.curve.key_size + 7) // 8
        raw["scalar"] = key.private_numbers().private_value.to_bytes(size, "big")
    forbidden = dict(raw)
    for name, value in raw.items():
        forbidden[f"{name}/base64"] = base64.b64encode(value)
        forbidden[f"{name}/base64url"] = base64.urlsafe_b64encode(value).rstrip(b"=")
        forbidden[f"{name}/hex"] = binascii.hexlify(value)
    pem_formats = {
        "pkcs8": serialization.PrivateFormat.PKCS8,
        "traditional": serialization.PrivateFormat.TraditionalOpenSSL,
    }
    public = key.public_key().public_bytes(DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    for label, fmt in pem_formats.items():
        pem = key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption())
        for number, line in enumerate(pem.splitlines()):
            if line.startswith(b"-----") or len(line) < MIN_PEM_LINE:
                continue
            # A line that encodes only public-key bytes (the PKCS#8 EC key's last line is
            # the tail of its public point) betrays nothing, and it does appear in the
            # certificate's base64 whenever the alignment happens to match.
            if base64.b64decode(line) in public:
                continue
            forbidden[f"{label}-pem/line{number}"] = line
    return forbidden


@dataclass
class Scanner:
    """Looks for every forbidden byte string in every blob it is shown."""

    forbidden: dict[str, bytes]
    blobs: int = 0
    hits: list[str] = field(default_factory=list)

    def scan(self, where: str, blob: bytes) -> None:
        self.blobs += 1
        lowered = blob.lower()
        for name, needle in self.forbidden.items():
            # hex may be written in either case; the rest is case-sensitive
            haystack = lowered if name.endswith("/hex") else blob
            if needle in haystack:
                self.hits.append(f"{name} in {where}")


def _values(value: Any) -> Iterator[bytes]:
    if isinstance(value, bytes | bytearray | memoryview):
        yield bytes(value)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _values(item)
    else:
        yield str(value).encode()


async def jetstream_messages(nc: NatsClient, tenant: str) -> list[tuple[str, bytes]]:
    """Every stored message on ``trstctl.evt.<tenant>.>``: subject, raw data and headers."""
    js = nc.jetstream()
    found: list[tuple[str, bytes]] = []
    seq = 1
    while True:
        try:
            msg = await js.get_msg(STREAM, seq=seq, subject=f"trstctl.evt.{tenant}.>", next=True)
        except NotFoundError:
            return found
        assert msg.seq is not None
        headers = b"".join(f"{k}: {v}\n".encode() for k, v in (msg.headers or {}).items())
        found.append((f"stream seq {msg.seq} ({msg.subject})", headers + (msg.data or b"")))
        seq = msg.seq + 1


async def database_rows(dsn: str) -> dict[str, list[bytes]]:
    """Every value of every row of every user table, as bytes, by table name."""
    conn = await asyncpg.connect(dsn)
    try:
        tables = await conn.fetch(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_type = 'BASE TABLE' "
            "AND table_schema NOT IN ('pg_catalog', 'information_schema')"
        )
        rows: dict[str, list[bytes]] = {}
        for table in tables:
            name = f'"{table["table_schema"]}"."{table["table_name"]}"'
            records = await conn.fetch(f"SELECT * FROM {name}")  # noqa: S608 - catalog names
            rows[name] = [
                b"\x00".join(v for value in r.values() for v in _values(value)) for r in records
            ]
        return rows
    finally:
        await conn.close()


def _csr(name: str) -> tuple[str, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), False)
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM).decode(), key


async def _lifecycle(call: IssuerClient) -> tuple[list[PrivateKeyTypes], x509.Certificate]:
    """owner → identity → issue (generated key) → deploy → renew (CSR) → revoke → CRL →
    OCSP; the leaf private keys that were in play, and the renewed certificate."""
    name = "api.payments.internal"
    owner = await call("create_owner", {"name": "payments", "kind": "team"})
    identity_id = await call.new_identity(owner["owner_id"], name)
    issued = await call("issue_certificate", {"identity_id": identity_id})
    generated = serialization.load_pem_private_key(issued["private_key_pem"].encode(), None)
    await call("mark_deployed", {"identity_id": identity_id, "target": "k8s"})
    await call("start_renewal", {"identity_id": identity_id})
    csr_pem, csr_key = _csr(name)
    renewed = await call("complete_renewal", {"identity_id": identity_id, "csr_pem": csr_pem})
    assert "private_key_pem" not in renewed
    revoked = await call("revoke_identity", {"identity_id": identity_id, "reason": "superseded"})
    assert revoked["status"] == "revoked"
    with pytest.raises(CommandError):  # a rejection is logged: the log path is exercised
        await call("mark_deployed", {"identity_id": identity_id})
    assert (await call("get_crl"))["crl_der"]
    ca = await call("get_ca")
    leaf = x509.load_pem_x509_certificate(renewed["certificate"]["certificate_pem"].encode())
    issuing = x509.load_pem_x509_certificate(ca["issuing_certificate_pem"].encode())
    request = ocsp.OCSPRequestBuilder().add_certificate(leaf, issuing, hashes.SHA256()).build()
    der = request.public_bytes(serialization.Encoding.DER)
    answer = await call("ocsp", {"request_der": base64.b64encode(der).decode()})
    response = ocsp.load_der_ocsp_response(base64.b64decode(answer["response_der"]))
    assert response.certificate_status is ocsp.OCSPCertStatus.REVOKED
    return [generated, csr_key], leaf


async def _ca_keys(
    dsn: str, kek_file: Path, tenant: str
) -> tuple[list[bytes], list[PrivateKeyTypes]]:
    """The tenant's sealed CA key blobs, and the keys they unseal to."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT ca_id, role, sealed FROM issuer_ca_keys WHERE tenant = $1 ORDER BY role",
            tenant,
        )
    finally:
        await conn.close()
    assert sorted(r["role"] for r in rows) == ["issuing", "root"]
    kek = load_kek(kek_file)
    blobs = [bytes(r["sealed"]) for r in rows]
    keys = [
        serialization.load_der_private_key(
            unseal(kek, bytes(r["sealed"]), key_aad(tenant, r["ca_id"], r["role"])), None
        )
        for r in rows
    ]
    return blobs, keys


def test_the_scanner_finds_a_planted_key_in_every_encoding() -> None:
    """Positive control: each forbidden encoding of a key, planted in a blob, is found."""
    key = ec.generate_private_key(ec.SECP256R1())
    forbidden = key_encodings(key)
    assert len(forbidden) > 10
    for name, needle in forbidden.items():
        scanner = Scanner(forbidden)
        scanner.scan("planted", b'{"event": "x", "data": "' + needle + b'"}')
        assert any(hit.startswith(f"{name} in") for hit in scanner.hits), name
    clean = Scanner(forbidden)
    other = ec.generate_private_key(ec.SECP256R1())
    for blob in key_encodings(other).values():
        clean.scan("another key", blob)
    # The public key, which certificates carry, is no finding in any alignment.
    public = key.public_key().public_bytes(DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    for shift in range(3):
        clean.scan(f"public key, shifted {shift}", base64.b64encode(b"x" * shift + public))
    assert clean.hits == []
    assert clean.blobs == len(key_encodings(other)) + 3


def test_a_pem_line_of_public_bytes_only_is_not_a_needle() -> None:
    """The PKCS#8 P-256 key's last PEM line is its public point's tail: left out."""
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    last = pem.splitlines()[-2]
    point = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    assert base64.b64decode(last) in point
    assert last not in key_encodings(key).values()


@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_no_private_key_bytes_in_events_logs_or_database(
    nc: NatsClient, nats_url: str, postgres_dsn: str, tenant: str, tmp_path: Path, data_dir: Path
) -> None:
    """A full lifecycle against an issuer process leaves no leaf or CA private key, in any
    encoding, in the tenant's JetStream messages, the process log or any PostgreSQL row."""
    kek_file = tmp_path / "kek.bin"
    generate_kek_file(kek_file)
    env = service_environment(
        nats_url=nats_url,
        postgres_dsn=postgres_dsn,
        kek_file=kek_file,
        data_dir=data_dir,
        TRSTCTL_LOG_LEVEL="debug",
    )
    with Launcher(tmp_path) as launcher:
        issuer = launcher.start("trstctl.issuer", env)
        await issuer.healthy()
        leaf_keys, leaf = await _lifecycle(IssuerClient(NatsCommandBus(nc), tenant))
        assert await issuer.stop() == 0, issuer.output()
    sealed_blobs, ca_keys = await _ca_keys(postgres_dsn, kek_file, tenant)
    forbidden: dict[str, bytes] = {}
    for label, key in zip(
        ["generated-leaf", "csr-leaf", *[f"ca-{i}" for i in range(len(ca_keys))]],
        [*leaf_keys, *ca_keys],
        strict=True,
    ):
        forbidden.update({f"{label}:{name}": value for name, value in key_encodings(key).items()})
    scanner = Scanner(forbidden)

    messages = await jetstream_messages(nc, tenant)
    assert len(messages) >= 8, messages  # owner, identity, CA, issue, deploy, renew x2, revoke
    for where, blob in messages:
        scanner.scan(where, blob)
    log = issuer.log.read_bytes()
    assert b"service started" in log
    assert b"service stopping" in log
    assert b"command.rejected" in log
    scanner.scan(f"log {issuer.log.name}", log)
    rows = await database_rows(postgres_dsn)
    assert len(rows.get('"public"."issuer_ca_keys"', [])) == 2, rows.keys()
    for table, values in rows.items():
        for number, row in enumerate(values):
            scanner.scan(f"{table} row {number}", row)
    assert scanner.blobs == len(messages) + 1 + sum(len(v) for v in rows.values())
    assert scanner.hits == []
    # Control on the real data: the public certificate, which events must carry, is found.
    certificate = Scanner({"leaf-cert/base64": base64.b64encode(leaf.public_bytes(DER))})
    for where, blob in messages:
        certificate.scan(where, blob)
    assert certificate.hits
    for blob in sealed_blobs:  # the sealed rows were scanned above; say it outright too
        assert not any(needle in blob for needle in forbidden.values())
