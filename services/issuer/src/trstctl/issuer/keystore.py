"""Where the CA private keys live: sealed under the KEK, outside the event log.

``CaKeyStore`` is the port; ``MemoryCaKeyStore`` (tests) and ``FileCaKeyStore`` (files
of sealed blobs under the data dir, mode 0600) implement it; a PostgreSQL table can
follow. Every blob is sealed with AAD ``<tenant>/ca/<ca_id>/<role>``, so a blob moved
into another tenant's (or CA's, or role's) slot does not open.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Literal, Protocol

from cryptography import x509
from trstctl.events.subjects import token
from trstctl.issuer.ca import KeyAlgorithm, TenantCa, load_private_key_der, private_key_der
from trstctl.issuer.errors import CaKeyExists, CaKeyMismatch, CaKeyMissing
from trstctl.sealing import Kek, seal, unseal

KeyRole = Literal["root", "issuing"]
ROLES: tuple[KeyRole, ...] = ("root", "issuing")


def key_aad(tenant: str, ca_id: str, role: KeyRole) -> str:
    """What a sealed CA key belongs to; bound into its seal."""
    return f"{tenant}/ca/{ca_id}/{role}"


class CaKeyStore(Protocol):
    """Sealed blobs by ``(tenant, ca_id, role)``. Put never overwrites: a CA key that
    could be silently replaced would let a store writer swap a tenant's CA."""

    def put(self, tenant: str, ca_id: str, role: KeyRole, sealed: bytes) -> None: ...

    def get(self, tenant: str, ca_id: str, role: KeyRole) -> bytes: ...

    def list_cas(self) -> list[tuple[str, str]]:
        """Every ``(tenant, ca_id)`` with keys in this store."""
        ...


class MemoryCaKeyStore:
    """In-memory ``CaKeyStore`` for tests."""

    def __init__(self) -> None:
        self.blobs: dict[tuple[str, str, str], bytes] = {}

    def put(self, tenant: str, ca_id: str, role: KeyRole, sealed: bytes) -> None:
        slot = (tenant, ca_id, role)
        if slot in self.blobs:
            raise CaKeyExists(f"{key_aad(tenant, ca_id, role)} exists")
        self.blobs[slot] = bytes(sealed)

    def get(self, tenant: str, ca_id: str, role: KeyRole) -> bytes:
        try:
            return self.blobs[(tenant, ca_id, role)]
        except KeyError:
            raise CaKeyMissing(f"no sealed key {key_aad(tenant, ca_id, role)}") from None

    def list_cas(self) -> list[tuple[str, str]]:
        return sorted({(tenant, ca_id) for tenant, ca_id, _ in self.blobs})


class FileCaKeyStore:
    """``CaKeyStore`` on files ``<root>/<tenant>/<ca_id>.<role>.sealed`` (0600, in 0700
    directories), each holding only a sealed blob. Created with O_EXCL, written to a
    temporary name and renamed, so a crash never leaves a half-written key behind."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def _path(self, tenant: str, ca_id: str, role: KeyRole) -> Path:
        # Tokens keep ids from climbing out of the store (no dots, no slashes).
        return self.root / token(tenant, "tenant") / f"{token(ca_id, 'ca_id')}.{role}.sealed"

    def put(self, tenant: str, ca_id: str, role: KeyRole, sealed: bytes) -> None:
        path = self._path(tenant, ca_id, role)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if path.exists():
            raise CaKeyExists(f"{key_aad(tenant, ca_id, role)} exists")
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(sealed)
                f.flush()
                os.fsync(f.fileno())
            # link() fails if the target appeared meanwhile: never overwrite a key.
            os.link(tmp, path)
        except FileExistsError:
            raise CaKeyExists(f"{key_aad(tenant, ca_id, role)} exists") from None
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)

    def list_cas(self) -> list[tuple[str, str]]:
        if not self.root.is_dir():
            return []
        return sorted(
            {
                (tenant_dir.name, blob.name.split(".", 1)[0])
                for tenant_dir in self.root.iterdir()
                if tenant_dir.is_dir()
                for blob in tenant_dir.glob("*.sealed")
            }
        )

    def get(self, tenant: str, ca_id: str, role: KeyRole) -> bytes:
        try:
            return self._path(tenant, ca_id, role).read_bytes()
        except FileNotFoundError:
            raise CaKeyMissing(f"no sealed key {key_aad(tenant, ca_id, role)}") from None


def store_ca_keys(store: CaKeyStore, kek: Kek, ca: TenantCa) -> None:
    """Seal both CA keys under ``kek`` and put them in ``store``."""
    store.put(
        ca.tenant,
        ca.ca_id,
        "root",
        seal(kek, private_key_der(ca.root_key), key_aad(ca.tenant, ca.ca_id, "root")),
    )
    store.put(
        ca.tenant,
        ca.ca_id,
        "issuing",
        seal(kek, private_key_der(ca.issuing_key), key_aad(ca.tenant, ca.ca_id, "issuing")),
    )


def load_ca(
    store: CaKeyStore,
    kek: Kek,
    *,
    tenant: str,
    ca_id: str,
    algorithm: KeyAlgorithm,
    root_certificate_der: bytes,
    issuing_certificate_der: bytes,
) -> TenantCa:
    """Unseal a tenant's CA keys (a wrong KEK fails with ``seal_wrong_kek``) and pair
    them with the public certificates from its ``ca.initialized`` event. A key that does
    not match its certificate is refused rather than used."""
    root_cert = x509.load_der_x509_certificate(root_certificate_der)
    issuing_cert = x509.load_der_x509_certificate(issuing_certificate_der)
    keys = {
        role: load_private_key_der(
            unseal(kek, store.get(tenant, ca_id, role), key_aad(tenant, ca_id, role))
        )
        for role in ROLES
    }
    pairs: tuple[tuple[KeyRole, x509.Certificate], ...] = (
        ("root", root_cert),
        ("issuing", issuing_cert),
    )
    for role, cert in pairs:
        if keys[role].public_key() != cert.public_key():
            raise CaKeyMismatch(
                f"sealed {role} key of {tenant}/{ca_id} does not match its certificate"
            )
    return TenantCa(
        tenant=tenant,
        ca_id=ca_id,
        algorithm=algorithm,
        root_cert=root_cert,
        issuing_cert=issuing_cert,
        root_key=keys["root"],
        issuing_key=keys["issuing"],
    )
