"""Sealing: the key-encryption key (KEK) and the versioned seal envelope.

Shared by the issuer (sealed CA private keys) and the secrets service (wrapped data
keys). Nothing here logs, and no error message or repr ever carries key material.
"""

from trstctl.sealing.envelope import FORMAT_VERSION, seal, unseal
from trstctl.sealing.errors import KekError, SealError, SealingError
from trstctl.sealing.kek import KEK_SIZE, Kek, generate_kek_file, load_kek

__all__ = [
    "FORMAT_VERSION",
    "KEK_SIZE",
    "Kek",
    "KekError",
    "SealError",
    "SealingError",
    "generate_kek_file",
    "load_kek",
    "seal",
    "unseal",
]
