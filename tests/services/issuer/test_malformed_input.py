"""Every issuer command answers malformed input with a typed error, never internal_error.

Seeded random payloads (wrong types, huge numbers, non-ASCII, junk base64 and DER, ids
of identities in every lifecycle state) go through the in-memory bus, so the replies are
real wire replies. The fakes pass the same contract tests as NATS.
"""

from __future__ import annotations

import base64
import random
from typing import Any

import pytest
from trstctl.events.errors import CommandError
from trstctl.events.memory import MemoryCommandBus, MemoryEventStore
from trstctl.issuer.app import start_issuer
from trstctl.issuer.keys import SyncKeyStoreAdapter
from trstctl.issuer.keystore import MemoryCaKeyStore
from trstctl.sealing import Kek

# Reaching an identity in each state, in lifecycle order.
LIFECYCLE = (
    "issue_certificate",
    "mark_deployed",
    "start_renewal",
    "complete_renewal",
    "revoke_identity",
    "retire_identity",
)
FIELDS = (
    "identity_id", "owner_id", "name", "kind", "csr_pem", "csr_der", "key_algorithm",
    "ttl_seconds", "common_name", "dns_names", "ip_addresses", "profile", "reason", "target",
    "request_der", "algorithm", "root_ttl_days", "issuing_ttl_days", "description", "contact",
    "idempotency_key",
)  # fmt: skip
PROFILE_FIELDS = (
    "allowed_domains", "max_ttl_seconds", "default_ttl_seconds", "allow_any_name", "key_usages",
    "allowed_ec_curves", "max_names", "min_rsa_bits", "generated_key_algorithm", "bogus",
)  # fmt: skip
JUNK: tuple[Any, ...] = (
    None, True, 0, -1, 10**30, 1.5, "", " ", "x" * 300, "é", "\x00", "../..", "*", "a.b",
    [], [1], ["a"], {}, {"a": 1}, "AAAA", "MAMCAQA=", "2001:db8::1", "fe80::1%eth0",
    "-----BEGIN CERTIFICATE REQUEST-----\nAA==\n-----END CERTIFICATE REQUEST-----",
    "unspecified", "key_compromise", "ec-p256", "rsa-2048", "ed25519", "default", 3600,
    base64.b64encode(b"0\x82\x01\x00").decode(), base64.b64encode(bytes(range(100))).decode(),
)  # fmt: skip
ROUNDS = 3000


@pytest.mark.timeout(120)
async def test_malformed_payloads_get_typed_errors_only() -> None:
    """3,000 seeded malformed requests across every command: no internal_error, no hang."""
    store = MemoryEventStore()
    bus = MemoryCommandBus(default_timeout=5.0)
    handlers, server = await start_issuer(
        store, bus, SyncKeyStoreAdapter(MemoryCaKeyStore()), Kek(bytes(32))
    )

    async def call(name: str, payload: dict[str, Any], key: str | None = None) -> None:
        await bus.request("issuer", name, payload, tenant="t", actor="a", idempotency_key=key)

    owner = await bus.request(
        "issuer", "create_owner", {"name": "o", "kind": "team"}, tenant="t", actor="a"
    )
    ids: list[str] = []
    for step in range(len(LIFECYCLE) + 1):
        reply = await bus.request(
            "issuer",
            "request_identity",
            {"owner_id": owner.result["owner_id"], "common_name": f"a{step}.example.com"},
            tenant="t",
            actor="a",
        )
        ids.append(reply.result["identity_id"])
        for command in LIFECYCLE[:step]:
            await call(command, {"identity_id": ids[-1]})

    rnd = random.Random(20261204)
    values = (*JUNK, *ids, owner.result["owner_id"])
    commands = sorted(handlers.handlers())
    failures: list[tuple[str, dict[str, Any], str]] = []
    for _ in range(ROUNDS):
        name = rnd.choice(commands)
        payload = {f: rnd.choice(values) for f in rnd.sample(FIELDS, rnd.randint(0, 4))}
        if rnd.random() < 0.6:
            payload.setdefault("identity_id", rnd.choice(ids))
        if name == "define_profile" and rnd.random() < 0.7:
            fields = rnd.sample(PROFILE_FIELDS, 3)
            payload = {"profile": {"name": "default", **{f: rnd.choice(values) for f in fields}}}
        try:
            await call(name, payload, rnd.choice((None, None, "k1", "k2")))
        except CommandError as e:
            if e.code in ("internal_error", "command_timeout"):
                failures.append((name, payload, e.code))
    await server.stop()
    assert failures == []
