"""The key-encryption key: loading it safely from disk and creating a new one."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import stat
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from trstctl.sealing.errors import KekError

KEK_SIZE = 32
# Domain separation: the id is derived with HKDF so the fingerprint reveals nothing
# usable about the key, even to someone who sees many fingerprints.
_FINGERPRINT_INFO = b"trstctl/sealing/kek-id/v1"
FINGERPRINT_SIZE = 8


class Kek:
    """A 32-byte AES-256 key-encryption key.

    The key bytes live in a private slot; ``repr``/``str`` show only the fingerprint, so
    a KEK that ends up in a log line or a traceback leaks nothing.
    """

    __slots__ = ("_fingerprint", "_key")

    def __init__(self, key: bytes) -> None:
        if len(key) != KEK_SIZE:
            raise KekError(
                f"a KEK is {KEK_SIZE} bytes, got {len(key)}", code="kek_wrong_size", size=len(key)
            )
        self._key = bytes(key)
        derived = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=_FINGERPRINT_INFO
        ).derive(self._key)
        self._fingerprint = hashlib.sha256(derived).digest()[:FINGERPRINT_SIZE]

    @classmethod
    def generate(cls) -> Kek:
        """A fresh random KEK (for tests and for ``generate_kek_file``)."""
        return cls(os.urandom(KEK_SIZE))

    @property
    def fingerprint(self) -> str:
        """Hex id of this KEK, safe to print: tells two KEKs apart, reveals nothing else."""
        return self._fingerprint.hex()

    @property
    def fingerprint_bytes(self) -> bytes:
        return self._fingerprint

    def key_bytes(self) -> bytes:
        """The raw key, for the sealing envelope only. Never log or store the result."""
        return self._key

    def __repr__(self) -> str:
        return f"Kek(fingerprint={self.fingerprint})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Kek) and self._fingerprint == other._fingerprint

    def __hash__(self) -> int:
        return hash(self._fingerprint)

    def __reduce__(self) -> tuple[object, ...]:
        # Pickling would copy the key into whatever stores the pickle.
        raise TypeError("a Kek cannot be pickled")


def load_kek(path: str | os.PathLike[str]) -> Kek:
    """Read the KEK from ``path``: a regular file (not a symlink), mode 0600 or stricter,
    exactly 32 raw bytes. Anything else raises ``KekError`` naming the reason."""
    p = Path(path)
    try:
        st = os.lstat(p)
    except FileNotFoundError:
        raise KekError(f"KEK file {p} does not exist", code="kek_missing", path=str(p)) from None
    except OSError as e:
        raise KekError(
            f"KEK file {p} cannot be inspected: {e.strerror}", code="kek_unreadable", path=str(p)
        ) from None
    if stat.S_ISLNK(st.st_mode):
        raise KekError(
            f"KEK file {p} is a symlink; point TRSTCTL_KEK_FILE at the file itself",
            code="kek_is_symlink",
            path=str(p),
        )
    try:
        # O_NOFOLLOW closes the race between lstat and open (a file swapped for a link).
        fd = os.open(p, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
    except OSError as e:
        code = "kek_is_symlink" if e.errno == errno.ELOOP else "kek_unreadable"
        raise KekError(
            f"KEK file {p} cannot be opened: {e.strerror}", code=code, path=str(p)
        ) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise KekError(
                f"KEK file {p} is not a regular file", code="kek_not_regular_file", path=str(p)
            )
        mode = stat.S_IMODE(st.st_mode)
        if mode & ~0o600:
            raise KekError(
                f"KEK file {p} has mode {mode:04o}; it must be 0600 or stricter (chmod 600)",
                code="kek_permissions_too_open",
                path=str(p),
                mode=f"{mode:04o}",
            )
        if st.st_size != KEK_SIZE:
            raise KekError(
                f"KEK file {p} holds {st.st_size} bytes; a KEK is exactly {KEK_SIZE} raw bytes",
                code="kek_wrong_size",
                path=str(p),
                size=st.st_size,
            )
        data = os.read(fd, KEK_SIZE + 1)
    finally:
        os.close(fd)
    if len(data) != KEK_SIZE:
        raise KekError(
            f"KEK file {p} changed size while being read", code="kek_wrong_size", path=str(p)
        )
    return Kek(data)


def generate_kek_file(path: str | os.PathLike[str]) -> Kek:
    """Create a new random KEK at ``path`` with mode 0600 and return it.

    Refuses to overwrite anything already there (``kek_exists``): replacing a KEK makes
    every key sealed under the old one unrecoverable. O_EXCL makes the check and the
    creation one atomic step; a partly written file is removed.
    """
    p = Path(path)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(p, flags, 0o600)
    except FileExistsError:
        raise KekError(
            f"{p} already exists; refusing to overwrite a KEK", code="kek_exists", path=str(p)
        ) from None
    except OSError as e:
        raise KekError(
            f"cannot create KEK file {p}: {e.strerror}", code="kek_unreadable", path=str(p)
        ) from None
    kek = Kek.generate()
    try:
        # The umask may only have made the mode stricter; make it exactly 0600 anyway.
        os.fchmod(fd, 0o600)
        view = memoryview(kek.key_bytes())
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(p)
        raise
    os.close(fd)
    return kek
