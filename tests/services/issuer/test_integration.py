"""Issuer on real NATS JetStream and PostgreSQL, driven through the command bus."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from cryptography.x509.oid import NameOID
from nats.aio.client import Client as NatsClient
from trstctl.events.bus import NatsCommandBus
from trstctl.events.codec import EventCodec
from trstctl.events.errors import CommandError
from trstctl.events.jetstream import JetStreamEventStore
from trstctl.events.ports import CommandResult
from trstctl.issuer.app import start_issuer
from trstctl.issuer.keys import PostgresKeyStore
from trstctl.issuer.profiles import MAX_NAMES_CEILING
from trstctl.sealing import generate_kek_file

from .chains import verify_chain

pytestmark = pytest.mark.integration

Call = Callable[..., Awaitable[CommandResult]]


@dataclass
class Issuer:
    call: Call
    store: JetStreamEventStore
    pool: asyncpg.Pool
    kek_file: Path
    tenant: str


@pytest.fixture
async def issuer(
    nc: NatsClient, postgres_dsn: str, tmp_path: Path, tenant: str
) -> AsyncIterator[Issuer]:
    """An issuer serving on real NATS with its sealed keys in a fresh PostgreSQL database."""
    kek_file = tmp_path / "kek.bin"
    kek = generate_kek_file(kek_file)
    pool = await asyncpg.create_pool(postgres_dsn, min_size=1, max_size=4)
    keys = await PostgresKeyStore.open(pool)
    store = JetStreamEventStore(nc, codec=EventCodec(strict=True))
    bus = NatsCommandBus(nc, default_timeout=10.0)
    _, server = await start_issuer(store, bus, keys, kek)

    async def call(name: str, payload: dict[str, Any] | None = None, **kw: Any) -> CommandResult:
        return await bus.request("issuer", name, payload or {}, tenant=tenant, actor="alice", **kw)

    try:
        yield Issuer(call, store, pool, kek_file, tenant)
    finally:
        await server.stop()
        await pool.close()


def _csr(names: list[str]) -> tuple[str, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), False)
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM).decode(), key


async def _owner_and_identity(issuer: Issuer, names: list[str]) -> str:
    owner = await issuer.call("create_owner", {"name": "payments team", "kind": "team"})
    identity = await issuer.call(
        "request_identity",
        {"owner_id": owner.result["owner_id"], "common_name": names[0], "dns_names": names},
    )
    assert identity.result["status"] == "requested"
    return str(identity.result["identity_id"])


def _ocsp_status(issuer_cert_pem: str, leaf: x509.Certificate, response_der: bytes) -> Any:
    issuing = x509.load_pem_x509_certificate(issuer_cert_pem.encode())
    response = ocsp.load_der_ocsp_response(response_der)
    assert response.response_status is ocsp.OCSPResponseStatus.SUCCESSFUL
    issuing.public_key().verify(  # type: ignore[union-attr, call-arg]
        response.signature, response.tbs_response_bytes, ec.ECDSA(hashes.SHA256())
    )
    assert response.serial_number == leaf.serial_number
    return response


async def _ocsp(issuer: Issuer, ca: dict[str, Any], leaf: x509.Certificate) -> Any:
    issuing = x509.load_pem_x509_certificate(ca["issuing_certificate_pem"].encode())
    request = ocsp.OCSPRequestBuilder().add_certificate(leaf, issuing, hashes.SHA256()).build()
    reply = await issuer.call(
        "ocsp",
        {
            "request_der": base64.b64encode(
                request.public_bytes(serialization.Encoding.DER)
            ).decode()
        },
    )
    return _ocsp_status(
        ca["issuing_certificate_pem"], leaf, base64.b64decode(reply.result["response_der"])
    )


async def test_full_lifecycle_through_the_bus(issuer: Issuer) -> None:
    """owner → identity → issue → deploy → renew (CSR) → revoke (CRL, OCSP) → retire."""
    names = ["api.payments.internal", "api2.payments.internal"]
    identity_id = await _owner_and_identity(issuer, names)

    issued = await issuer.call("issue_certificate", {"identity_id": identity_id})
    assert issued.result["status"] == "issued"
    assert issued.result["private_key_pem"].startswith("-----BEGIN PRIVATE KEY-----")
    ca = (await issuer.call("get_ca")).result
    leaf = verify_chain(issued.result["certificate"]["certificate_pem"], ca, names[1])
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sorted(san.get_values_for_type(x509.DNSName)) == sorted(names)
    lifetime = leaf.not_valid_after_utc - leaf.not_valid_before_utc
    assert timedelta(days=29) < lifetime <= timedelta(days=30, minutes=5)
    assert abs(leaf.not_valid_before_utc - datetime.now(UTC)) < timedelta(minutes=5)
    key = serialization.load_pem_private_key(issued.result["private_key_pem"].encode(), None)
    assert key.public_key() == leaf.public_key()
    first_serial = leaf.serial_number
    assert (await _ocsp(issuer, ca, leaf)).certificate_status is ocsp.OCSPCertStatus.GOOD

    deployed = await issuer.call("mark_deployed", {"identity_id": identity_id, "target": "k8s"})
    assert deployed.result["status"] == "deployed"
    renewing = await issuer.call("start_renewal", {"identity_id": identity_id})
    assert renewing.result["status"] == "renewing"
    csr_pem, csr_key = _csr(names)
    renewed = await issuer.call(
        "complete_renewal", {"identity_id": identity_id, "csr_pem": csr_pem}
    )
    assert renewed.result["status"] == "deployed"
    assert "private_key_pem" not in renewed.result  # the requester holds its own key
    new_leaf = verify_chain(renewed.result["certificate"]["certificate_pem"], ca, names[0])
    assert new_leaf.public_key() == csr_key.public_key()
    assert new_leaf.serial_number != first_serial

    revoked = await issuer.call(
        "revoke_identity", {"identity_id": identity_id, "reason": "key_compromise"}
    )
    assert revoked.result["status"] == "revoked"
    crl = x509.load_der_x509_crl(base64.b64decode((await issuer.call("get_crl")).result["crl_der"]))
    issuing = x509.load_pem_x509_certificate(ca["issuing_certificate_pem"].encode())
    assert crl.is_signature_valid(issuing.public_key())  # type: ignore[arg-type]
    entry = crl.get_revoked_certificate_by_serial_number(new_leaf.serial_number)
    assert entry is not None
    reason = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
    assert reason is x509.ReasonFlags.key_compromise
    assert crl.next_update_utc is not None
    assert crl.next_update_utc > datetime.now(UTC)
    status = await _ocsp(issuer, ca, new_leaf)
    assert status.certificate_status is ocsp.OCSPCertStatus.REVOKED
    assert status.revocation_reason is x509.ReasonFlags.key_compromise

    retired = await issuer.call("retire_identity", {"identity_id": identity_id})
    assert retired.result["status"] == "retired"
    with pytest.raises(CommandError) as caught:
        await issuer.call("mark_deployed", {"identity_id": identity_id})
    assert caught.value.code == "invalid_transition"
    assert caught.value.details["from"] == "retired"


async def test_a_der_csr_issues_through_the_bus(issuer: Issuer) -> None:
    """`csr_der` (base64 DER, as `openssl req -outform DER` writes) is issued like PEM."""
    names = ["der.payments.internal"]
    identity_id = await _owner_and_identity(issuer, names)
    csr_pem, csr_key = _csr(names)
    der = x509.load_pem_x509_csr(csr_pem.encode()).public_bytes(serialization.Encoding.DER)
    issued = await issuer.call(
        "issue_certificate",
        {"identity_id": identity_id, "csr_der": base64.b64encode(der).decode()},
    )
    assert "private_key_pem" not in issued.result
    ca = (await issuer.call("get_ca")).result
    leaf = verify_chain(issued.result["certificate"]["certificate_pem"], ca, names[0])
    assert leaf.public_key() == csr_key.public_key()


async def test_the_largest_certificate_a_profile_allows_still_issues(issuer: Issuer) -> None:
    """500 SANs of the longest legal length: the request, the event and the reply each
    fit one NATS message, and the certificate carries every name."""
    labels = ("b" * 63, "c" * 63, "d" * 61)
    names = [".".join((f"{i:05d}" + "a" * 58, *labels)) for i in range(MAX_NAMES_CEILING)]
    assert {len(n) for n in names} == {253}
    profile = {"name": "default", "allow_any_name": True, "max_names": MAX_NAMES_CEILING}
    await issuer.call("define_profile", {"profile": profile})
    owner = await issuer.call("create_owner", {"name": "bulk", "kind": "service"})
    identity = await issuer.call(
        "request_identity", {"owner_id": owner.result["owner_id"], "dns_names": names}
    )
    issued = await issuer.call("issue_certificate", {"identity_id": identity.result["identity_id"]})
    pem = issued.result["certificate"]["certificate_pem"]
    leaf = x509.load_pem_x509_certificate(pem.encode())
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sorted(san.get_values_for_type(x509.DNSName)) == sorted(names)


async def test_an_owner_is_deleted_only_when_its_identities_are_retired(issuer: Issuer) -> None:
    """delete_owner is owner_in_use (nothing appended) while an identity that is not
    retired names the owner, and succeeds once it is retired."""
    identity_id = await _owner_and_identity(issuer, ["owned.internal"])
    owner_id = (await issuer.call("get_identity", {"identity_id": identity_id})).result["owner_id"]
    directory = f"trstctl.evt.{issuer.tenant}.owner_directory.owners"
    before = (await issuer.store.load(directory)).last_seq
    with pytest.raises(CommandError) as caught:
        await issuer.call("delete_owner", {"owner_id": owner_id})
    assert caught.value.code == "owner_in_use"
    assert caught.value.details == {"owner_id": owner_id, "identities": 1}
    assert (await issuer.store.load(directory)).last_seq == before
    for command in ("issue_certificate", "revoke_identity", "retire_identity"):
        await issuer.call(command, {"identity_id": identity_id})
    deleted = await issuer.call("delete_owner", {"owner_id": owner_id})
    assert deleted.result["deleted"] is True


async def test_crl_numbers_increase(issuer: Issuer) -> None:
    """Each CRL carries a larger CRL number than the one before."""
    await issuer.call("initialize_ca", {})
    numbers = []
    for _ in range(3):
        der = base64.b64decode((await issuer.call("get_crl")).result["crl_der"])
        crl = x509.load_der_x509_crl(der)
        numbers.append(crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number)
        await asyncio.sleep(0.002)
    assert numbers == sorted(numbers)
    assert len(set(numbers)) == 3


async def test_unknown_serial_is_unknown_to_ocsp(issuer: Issuer, nc: NatsClient) -> None:
    """OCSP answers `unknown` for a serial this CA never issued."""
    identity_id = await _owner_and_identity(issuer, ["a.internal"])
    issued = await issuer.call("issue_certificate", {"identity_id": identity_id})
    ca = (await issuer.call("get_ca")).result
    leaf = x509.load_pem_x509_certificate(issued.result["certificate"]["certificate_pem"].encode())
    issuing = x509.load_pem_x509_certificate(ca["issuing_certificate_pem"].encode())
    request = (
        ocsp.OCSPRequestBuilder()
        .add_certificate_by_hash(
            ocsp.OCSPRequestBuilder()
            .add_certificate(leaf, issuing, hashes.SHA256())
            .build()
            .issuer_name_hash,
            ocsp.OCSPRequestBuilder()
            .add_certificate(leaf, issuing, hashes.SHA256())
            .build()
            .issuer_key_hash,
            12345,
            hashes.SHA256(),
        )
        .build()
    )
    reply = await issuer.call(
        "ocsp",
        {
            "request_der": base64.b64encode(
                request.public_bytes(serialization.Encoding.DER)
            ).decode()
        },
    )
    response = ocsp.load_der_ocsp_response(base64.b64decode(reply.result["response_der"]))
    assert response.certificate_status is ocsp.OCSPCertStatus.UNKNOWN


async def test_fifty_concurrent_issues_give_one_certificate(
    issuer: Issuer, nc: NatsClient, postgres_dsn: str
) -> None:
    """50 concurrent `-> issued` commands (across two issuer replicas) yield one certificate."""
    # A second replica in the same queue group, sharing the stream and the key table.
    pool = await asyncpg.create_pool(postgres_dsn, min_size=1, max_size=2)
    from trstctl.sealing import load_kek

    _, second = await start_issuer(
        JetStreamEventStore(nc, codec=EventCodec(strict=True)),
        NatsCommandBus(nc),
        await PostgresKeyStore.open(pool),
        load_kek(issuer.kek_file),
    )
    try:
        identity_id = await _owner_and_identity(issuer, ["race.internal"])
        results = await asyncio.gather(
            *(issuer.call("issue_certificate", {"identity_id": identity_id}) for _ in range(50)),
            return_exceptions=True,
        )
    finally:
        await second.stop()
        await pool.close()
    winners = [r for r in results if isinstance(r, CommandResult)]
    losers = [r for r in results if isinstance(r, CommandError)]
    assert len(winners) == 1
    assert len(losers) == 49
    assert {e.code for e in losers} <= {"invalid_transition", "concurrency_conflict"}
    events = (await issuer.store.load(f"trstctl.evt.{issuer.tenant}.identity.{identity_id}")).events
    assert [e.envelope.type for e in events] == ["identity.requested", "identity.issued"]
    assert events[1].envelope.data.serial == winners[0].result["certificate"]["serial"]


async def test_idempotent_issue_returns_first_result(issuer: Issuer) -> None:
    """Replaying an issue with the same idempotency key returns the first certificate, no second."""
    identity_id = await _owner_and_identity(issuer, ["idem.internal"])
    first = await issuer.call(
        "issue_certificate", {"identity_id": identity_id}, idempotency_key="k-1"
    )
    again = await issuer.call(
        "issue_certificate", {"identity_id": identity_id}, idempotency_key="k-1"
    )
    assert again.result["certificate"]["serial"] == first.result["certificate"]["serial"]
    assert again.result["replayed"] is True
    assert "private_key_pem" not in again.result  # never stored, so never replayed
    with pytest.raises(CommandError) as caught:
        await issuer.call(
            "issue_certificate",
            {"identity_id": identity_id, "ttl_seconds": 60},
            idempotency_key="k-1",
        )
    assert caught.value.code == "idempotency_key_reused"
    events = (await issuer.store.load(f"trstctl.evt.{issuer.tenant}.identity.{identity_id}")).events
    assert [e.envelope.type for e in events] == ["identity.requested", "identity.issued"]


async def test_bad_input_is_typed_and_appends_nothing(issuer: Issuer) -> None:
    """Invalid payloads, names outside the profile and bad CSRs are typed errors; nothing lands."""
    identity_id = await _owner_and_identity(issuer, ["ok.internal"])
    subject = f"trstctl.evt.{issuer.tenant}.identity.{identity_id}"
    before = (await issuer.store.load(subject)).last_seq
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("issue_certificate", {"identity_id": identity_id, "csr_pem": "garbage"}, "invalid_csr"),
        (
            "issue_certificate",
            {"identity_id": identity_id, "ttl_seconds": 10**9},
            "ttl_exceeds_maximum",
        ),
        (
            "issue_certificate",
            {"identity_id": identity_id, "csr_pem": _csr(["evil.example"])[0]},
            "profile_violation",
        ),
        ("issue_certificate", {"identity_id": identity_id, "bogus": 1}, "invalid_command"),
        ("issue_certificate", {"identity_id": identity_id, "csr_der": "%%"}, "invalid_command"),
        ("issue_certificate", {"identity_id": identity_id, "csr_der": "MAMCAQA="}, "invalid_csr"),
        ("mark_deployed", {"identity_id": identity_id}, "invalid_transition"),
        ("issue_certificate", {"identity_id": "nope"}, "identity_not_found"),
        (
            "request_identity",
            {"owner_id": "nobody", "dns_names": ["x.internal"]},
            "owner_not_found",
        ),
        ("create_owner", {"name": "payments team", "kind": "team"}, "owner_name_taken"),
        ("create_owner", {"name": "x", "kind": "alien"}, "invalid_command"),
    ]
    for name, payload, code in cases:
        with pytest.raises(CommandError) as caught:
            await issuer.call(name, payload)
        assert caught.value.code == code, (name, payload, caught.value.to_wire())
    assert (await issuer.store.load(subject)).last_seq == before


async def test_tenants_have_separate_cas(issuer: Issuer, nc: NatsClient) -> None:
    """Two tenants get two CA hierarchies; one tenant's chain does not verify under the other."""
    other = f"{issuer.tenant}x"
    bus = NatsCommandBus(nc)
    ours = (await issuer.call("initialize_ca", {})).result
    theirs = (await bus.request("issuer", "initialize_ca", {}, tenant=other, actor="bob")).result
    assert ours["root_fingerprint_sha256"] != theirs["root_fingerprint_sha256"]
    identity_id = await _owner_and_identity(issuer, ["iso.internal"])
    issued = await issuer.call("issue_certificate", {"identity_id": identity_id})
    from cryptography.x509.verification import VerificationError

    with pytest.raises(VerificationError):
        verify_chain(issued.result["certificate"]["certificate_pem"], theirs, "iso.internal")


async def test_a_refused_issuance_does_not_create_the_ca(issuer: Issuer) -> None:
    """complete_renewal on a requested identity is refused and leaves the tenant without a CA."""
    identity_id = await _owner_and_identity(issuer, ["no-ca.internal"])
    with pytest.raises(CommandError) as caught:
        await issuer.call("complete_renewal", {"identity_id": identity_id})
    assert caught.value.code == "invalid_transition"
    assert (await issuer.call("get_ca")).result == {"initialized": False}
