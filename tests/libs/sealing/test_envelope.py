"""The seal envelope: roundtrip and every refusal."""

from __future__ import annotations

import pytest
from trstctl.sealing import FORMAT_VERSION, Kek, SealError, seal, unseal

AAD = "acme/ca/root"


def test_roundtrip() -> None:
    """unseal(seal(x)) returns x under the same KEK and AAD."""
    kek = Kek.generate()
    assert unseal(kek, seal(kek, b"secret key bytes", AAD), AAD) == b"secret key bytes"


def test_roundtrip_empty_and_bytes_aad() -> None:
    """Empty plaintext and bytes AAD are handled like str AAD."""
    kek = Kek.generate()
    assert unseal(kek, seal(kek, b"", AAD.encode()), AAD) == b""


def test_fresh_data_key_each_time() -> None:
    """Sealing the same plaintext twice gives different blobs (fresh data key and nonces)."""
    kek = Kek.generate()
    assert seal(kek, b"same", AAD) != seal(kek, b"same", AAD)


def test_blob_does_not_contain_plaintext() -> None:
    """The sealed blob does not carry the plaintext in the clear."""
    kek = Kek.generate()
    plaintext = b"-----BEGIN PRIVATE KEY----- very secret"
    assert plaintext not in seal(kek, plaintext, AAD)


def test_wrong_kek_is_reported_by_fingerprint() -> None:
    """Opening with another KEK fails with seal_wrong_kek naming both fingerprints."""
    right, wrong = Kek.generate(), Kek.generate()
    with pytest.raises(SealError) as info:
        unseal(wrong, seal(right, b"x", AAD), AAD)
    assert info.value.code == "seal_wrong_kek"
    assert info.value.details == {
        "sealed_kek": right.fingerprint,
        "loaded_kek": wrong.fingerprint,
    }


def test_wrong_aad_fails_authentication() -> None:
    """A blob opened for another owner (other tenant's AAD) fails with seal_auth_failed."""
    kek = Kek.generate()
    with pytest.raises(SealError) as info:
        unseal(kek, seal(kek, b"x", "acme/ca/root"), "globex/ca/root")
    assert info.value.code == "seal_auth_failed"


@pytest.mark.parametrize("index", [13, 20, 40, 70, 85, -1])
def test_any_flipped_byte_fails(index: int) -> None:
    """Flipping any byte after the fingerprint (nonces, wrapped key, ciphertext, tag) fails."""
    kek = Kek.generate()
    blob = bytearray(seal(kek, b"payload", AAD))
    blob[index] ^= 0x01
    with pytest.raises(SealError) as info:
        unseal(kek, bytes(blob), AAD)
    assert info.value.code == "seal_auth_failed"


def test_truncated_or_foreign_bytes_are_malformed() -> None:
    """Short blobs and bytes without the magic are seal_malformed."""
    kek = Kek.generate()
    blob = seal(kek, b"payload", AAD)
    for bad in (b"", blob[:20], b"XXXX" + blob[4:]):
        with pytest.raises(SealError) as info:
            unseal(kek, bad, AAD)
        assert info.value.code == "seal_malformed"


def test_unknown_version_is_refused() -> None:
    """A blob claiming a newer format version is refused with seal_unsupported_version."""
    kek = Kek.generate()
    blob = bytearray(seal(kek, b"payload", AAD))
    blob[4] = FORMAT_VERSION + 1
    with pytest.raises(SealError) as info:
        unseal(kek, bytes(blob), AAD)
    assert info.value.code == "seal_unsupported_version"


def test_errors_carry_no_plaintext() -> None:
    """No SealError message or detail carries the plaintext or the KEK bytes."""
    kek, other = Kek.generate(), Kek.generate()
    plaintext = b"top secret material"
    blob = seal(kek, plaintext, AAD)
    for key, aad in ((other, AAD), (kek, "other")):
        with pytest.raises(SealError) as info:
            unseal(key, blob, aad)
        text = repr(info.value.to_wire()) + str(info.value)
        assert plaintext.decode() not in text
        assert kek.key_bytes().hex() not in text
