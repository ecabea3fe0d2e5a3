"""KEK file loading and generation."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from trstctl.sealing import KEK_SIZE, Kek, KekError, generate_kek_file, load_kek


def _write(path: Path, data: bytes, mode: int = 0o600) -> Path:
    path.write_bytes(data)
    os.chmod(path, mode)
    return path


def test_generate_then_load_roundtrip(tmp_path: Path) -> None:
    """A generated KEK file is 32 bytes, mode 0600, and loads back as the same KEK."""
    path = tmp_path / "kek"
    kek = generate_kek_file(path)
    assert path.stat().st_size == KEK_SIZE
    assert path.stat().st_mode & 0o777 == 0o600
    assert load_kek(path) == kek


def test_generate_refuses_to_overwrite(tmp_path: Path) -> None:
    """generate_kek_file never replaces an existing file (kek_exists) and leaves it intact."""
    path = _write(tmp_path / "kek", b"x" * KEK_SIZE)
    with pytest.raises(KekError) as info:
        generate_kek_file(path)
    assert info.value.code == "kek_exists"
    assert path.read_bytes() == b"x" * KEK_SIZE


def test_generate_refuses_symlink_target(tmp_path: Path) -> None:
    """generate_kek_file does not write through a dangling symlink."""
    link = tmp_path / "kek"
    link.symlink_to(tmp_path / "elsewhere")
    with pytest.raises(KekError) as info:
        generate_kek_file(link)
    assert info.value.code == "kek_exists"
    assert not (tmp_path / "elsewhere").exists()


def test_load_missing_file(tmp_path: Path) -> None:
    """A missing KEK file fails with kek_missing and names the path."""
    with pytest.raises(KekError) as info:
        load_kek(tmp_path / "nope")
    assert info.value.code == "kek_missing"
    assert info.value.details["path"] == str(tmp_path / "nope")


def test_load_refuses_symlink(tmp_path: Path) -> None:
    """A symlink to a valid KEK file is refused (kek_is_symlink)."""
    target = _write(tmp_path / "real", os.urandom(KEK_SIZE))
    link = tmp_path / "kek"
    link.symlink_to(target)
    with pytest.raises(KekError) as info:
        load_kek(link)
    assert info.value.code == "kek_is_symlink"


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o700, 0o660])
def test_load_refuses_open_modes(tmp_path: Path, mode: int) -> None:
    """Any mode bit beyond 0600 is refused with kek_permissions_too_open."""
    path = _write(tmp_path / "kek", os.urandom(KEK_SIZE), mode)
    with pytest.raises(KekError) as info:
        load_kek(path)
    assert info.value.code == "kek_permissions_too_open"
    assert info.value.details["mode"] == f"{mode:04o}"


def test_load_accepts_stricter_mode(tmp_path: Path) -> None:
    """Mode 0400 is stricter than 0600 and is accepted."""
    path = _write(tmp_path / "kek", os.urandom(KEK_SIZE), 0o400)
    assert isinstance(load_kek(path), Kek)


@pytest.mark.parametrize("size", [0, 16, 31, 33, 64])
def test_load_refuses_wrong_size(tmp_path: Path, size: int) -> None:
    """A KEK file that is not exactly 32 bytes is refused with kek_wrong_size."""
    path = _write(tmp_path / "kek", b"k" * size)
    with pytest.raises(KekError) as info:
        load_kek(path)
    assert info.value.code == "kek_wrong_size"


def test_load_refuses_directory(tmp_path: Path) -> None:
    """A directory is not a KEK file (kek_not_regular_file)."""
    path = tmp_path / "kekdir"
    path.mkdir(mode=0o600)
    with pytest.raises(KekError) as info:
        load_kek(path)
    assert info.value.code in {"kek_not_regular_file", "kek_unreadable"}


def test_repr_and_errors_never_show_key(tmp_path: Path) -> None:
    """repr/str of a Kek show only the fingerprint; the key bytes never appear."""
    key = os.urandom(KEK_SIZE)
    kek = Kek(key)
    for text in (repr(kek), str(kek)):
        assert key.hex() not in text
        assert kek.fingerprint in text
    assert len(kek.fingerprint) == 16


def test_fingerprint_is_not_a_key_prefix() -> None:
    """The fingerprint is derived (HKDF + SHA-256), not a slice of the key itself."""
    key = bytes(range(32))
    assert Kek(key).fingerprint != key[:8].hex()
    assert Kek(key).fingerprint != Kek(bytes(32)).fingerprint


def test_kek_cannot_be_pickled() -> None:
    """Pickling a Kek is refused so its bytes cannot leak into a pickle store."""
    import pickle

    with pytest.raises(TypeError):
        pickle.dumps(Kek.generate())
