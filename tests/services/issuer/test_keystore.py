"""Sealed CA keys: the file and memory key stores and unsealing a CA back."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from trstctl.issuer.ca import TenantCa, private_key_der
from trstctl.issuer.errors import KeyStoreError
from trstctl.issuer.keystore import (
    CaKeyStore,
    FileCaKeyStore,
    MemoryCaKeyStore,
    load_ca,
    store_ca_keys,
)
from trstctl.sealing import Kek, SealError


@pytest.fixture(params=["memory", "file"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> CaKeyStore:
    return MemoryCaKeyStore() if request.param == "memory" else FileCaKeyStore(tmp_path / "keys")


def reload(store: CaKeyStore, kek: Kek, ca: TenantCa, *, tenant: str | None = None) -> TenantCa:
    return load_ca(
        store,
        kek,
        tenant=tenant or ca.tenant,
        ca_id=ca.ca_id,
        algorithm=ca.algorithm,
        root_certificate_der=ca.root_cert.public_bytes(Encoding.DER),
        issuing_certificate_der=ca.issuing_cert.public_bytes(Encoding.DER),
    )


def test_store_then_load_restores_the_ca(store: CaKeyStore, acme_ca: TenantCa) -> None:
    """A CA stored sealed and loaded with the same KEK has the same keys (a restart)."""
    kek = Kek.generate()
    store_ca_keys(store, kek, acme_ca)
    again = reload(store, kek, acme_ca)
    assert private_key_der(again.issuing_key) == private_key_der(acme_ca.issuing_key)
    assert again.issuing_cert == acme_ca.issuing_cert


def test_wrong_kek_fails_clearly(store: CaKeyStore, acme_ca: TenantCa) -> None:
    """Loading with another KEK fails with seal_wrong_kek, not a garbled key."""
    store_ca_keys(store, Kek.generate(), acme_ca)
    with pytest.raises(SealError) as info:
        reload(store, Kek.generate(), acme_ca)
    assert info.value.code == "seal_wrong_kek"


def test_put_never_overwrites(store: CaKeyStore, acme_ca: TenantCa) -> None:
    """Storing a CA's keys twice is ca_key_exists; the first blob stays."""
    kek = Kek.generate()
    store_ca_keys(store, kek, acme_ca)
    before = store.get("acme", acme_ca.ca_id, "root")
    with pytest.raises(KeyStoreError) as info:
        store_ca_keys(store, kek, acme_ca)
    assert info.value.code == "ca_key_exists"
    assert store.get("acme", acme_ca.ca_id, "root") == before


def test_missing_key(store: CaKeyStore) -> None:
    """A key never stored is ca_key_missing."""
    with pytest.raises(KeyStoreError) as info:
        store.get("acme", "nope", "issuing")
    assert info.value.code == "ca_key_missing"


def test_blob_moved_to_other_tenant_does_not_open(
    store: CaKeyStore, acme_ca: TenantCa, globex_ca: TenantCa
) -> None:
    """acme's sealed issuing key copied into globex's slot fails authentication (AAD)."""
    kek = Kek.generate()
    store_ca_keys(store, kek, acme_ca)
    store.put("globex", acme_ca.ca_id, "root", store.get("acme", acme_ca.ca_id, "root"))
    store.put("globex", acme_ca.ca_id, "issuing", store.get("acme", acme_ca.ca_id, "issuing"))
    with pytest.raises(SealError) as info:
        reload(store, kek, acme_ca, tenant="globex")
    assert info.value.code == "seal_auth_failed"


def test_key_not_matching_certificate_is_refused(
    store: CaKeyStore, acme_ca: TenantCa, globex_ca: TenantCa
) -> None:
    """Keys that do not belong to the event's certificates are refused (ca_key_mismatch)."""
    kek = Kek.generate()
    store_ca_keys(store, kek, acme_ca)
    with pytest.raises(KeyStoreError) as info:
        load_ca(
            store,
            kek,
            tenant="acme",
            ca_id=acme_ca.ca_id,
            algorithm=acme_ca.algorithm,
            root_certificate_der=globex_ca.root_cert.public_bytes(Encoding.DER),
            issuing_certificate_der=globex_ca.issuing_cert.public_bytes(Encoding.DER),
        )
    assert info.value.code == "ca_key_mismatch"


def test_files_are_private_and_sealed(tmp_path: Path, acme_ca: TenantCa) -> None:
    """Key files are 0600 in 0700 directories and hold no plaintext key bytes."""
    store = FileCaKeyStore(tmp_path / "keys")
    store_ca_keys(store, Kek.generate(), acme_ca)
    files = sorted((tmp_path / "keys").rglob("*"))
    assert [p.name for p in files if p.is_file()] == [
        f"{acme_ca.ca_id}.issuing.sealed",
        f"{acme_ca.ca_id}.root.sealed",
    ]
    plaintexts = [private_key_der(acme_ca.root_key), private_key_der(acme_ca.issuing_key)]
    for path in files:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o600 if path.is_file() else 0o700)
        if path.is_file():
            data = path.read_bytes()
            assert data.startswith(b"TSEL")
            assert not any(p in data or p[-32:] in data for p in plaintexts)


def test_file_store_refuses_path_escape(tmp_path: Path) -> None:
    """Tenant or CA ids with dots or slashes cannot address files outside the store."""
    from trstctl.events.errors import InvalidSubjectToken

    store = FileCaKeyStore(tmp_path / "keys")
    with pytest.raises(InvalidSubjectToken):
        store.put("../x", "ca", "root", b"blob")
    with pytest.raises(InvalidSubjectToken):
        store.get("acme", "../../etc", "root")
