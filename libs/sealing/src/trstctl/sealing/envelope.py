"""The versioned seal envelope: AES-256-GCM under a fresh data key wrapped by the KEK.

Layout of format version 1 (all fixed sizes, so parsing needs no lengths)::

    magic "TSEL" | version 0x01 | kek fingerprint (8) | wrap nonce (12)
    | wrapped data key (32 + 16 tag) | data nonce (12) | ciphertext + tag (16)

The data key is wrapped with AES-256-GCM under the KEK (GCM rather than RFC 3394 key
wrap so that the wrap is bound to the AAD too). Both AEAD operations authenticate the
header bytes before them plus the caller's AAD, which names what the blob belongs to
(``tenant/ca/<id>``): a blob copied to another tenant's slot fails to open. The KEK
fingerprint in the clear lets a wrong KEK be reported as such instead of as tampering.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from trstctl.sealing.errors import SealError
from trstctl.sealing.kek import FINGERPRINT_SIZE, Kek

MAGIC = b"TSEL"
FORMAT_VERSION = 1
_NONCE = 12
_TAG = 16
_DEK = 32
_PREFIX = len(MAGIC) + 1 + FINGERPRINT_SIZE
_HEADER = _PREFIX + _NONCE + _DEK + _TAG + _NONCE
MIN_SEALED_SIZE = _HEADER + _TAG


def _aad_bytes(aad: bytes | str) -> bytes:
    return aad.encode() if isinstance(aad, str) else bytes(aad)


def seal(kek: Kek, plaintext: bytes, aad: bytes | str) -> bytes:
    """Encrypt ``plaintext`` under a fresh data key wrapped by ``kek``, bound to ``aad``."""
    context = _aad_bytes(aad)
    prefix = MAGIC + bytes([FORMAT_VERSION]) + kek.fingerprint_bytes
    dek = AESGCM.generate_key(bit_length=256)
    wrap_nonce = os.urandom(_NONCE)
    wrapped = AESGCM(kek.key_bytes()).encrypt(wrap_nonce, dek, prefix + context)
    data_nonce = os.urandom(_NONCE)
    header = prefix + wrap_nonce + wrapped + data_nonce
    return header + AESGCM(dek).encrypt(data_nonce, bytes(plaintext), header + context)


def unseal(kek: Kek, blob: bytes, aad: bytes | str) -> bytes:
    """Open a blob made by ``seal``. Raises ``SealError`` with a stable code when it is
    not an envelope, is of an unknown version, was sealed under another KEK, or does not
    authenticate (wrong AAD or tampered bytes)."""
    context = _aad_bytes(aad)
    blob = bytes(blob)
    if len(blob) < MIN_SEALED_SIZE or not blob.startswith(MAGIC):
        raise SealError("not a sealed blob (bad magic or truncated)", code="seal_malformed")
    version = blob[len(MAGIC)]
    if version != FORMAT_VERSION:
        raise SealError(
            f"seal format version {version} is not supported (this build reads {FORMAT_VERSION})",
            code="seal_unsupported_version",
            version=version,
        )
    sealed_fp = blob[len(MAGIC) + 1 : _PREFIX]
    if sealed_fp != kek.fingerprint_bytes:
        raise SealError(
            f"sealed under KEK {sealed_fp.hex()}, but the loaded KEK is {kek.fingerprint}: "
            "wrong TRSTCTL_KEK_FILE?",
            code="seal_wrong_kek",
            sealed_kek=sealed_fp.hex(),
            loaded_kek=kek.fingerprint,
        )
    prefix = blob[:_PREFIX]
    pos = _PREFIX
    wrap_nonce = blob[pos : pos + _NONCE]
    pos += _NONCE
    wrapped = blob[pos : pos + _DEK + _TAG]
    pos += _DEK + _TAG
    data_nonce = blob[pos : pos + _NONCE]
    header = blob[:_HEADER]
    try:
        dek = AESGCM(kek.key_bytes()).decrypt(wrap_nonce, wrapped, prefix + context)
        return AESGCM(dek).decrypt(data_nonce, blob[_HEADER:], header + context)
    except InvalidTag:
        raise SealError(
            "sealed blob does not authenticate: wrong AAD or tampered bytes",
            code="seal_auth_failed",
        ) from None
