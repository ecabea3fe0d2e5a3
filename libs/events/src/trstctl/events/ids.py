"""UUIDv7 (RFC 9562): time-ordered ids, so event ids sort by creation time."""

from __future__ import annotations

import os
import random
import time
import uuid

# Event ids must be unique, not secret: a seeded PRNG (seeded from os.urandom) avoids a
# system call per id on the append hot path.
_random = random.Random()  # noqa: S311 - uniqueness, not secrecy
# A forked child must not replay its parent's sequence of ids.
os.register_at_fork(after_in_child=_random.seed)


def uuid7() -> uuid.UUID:
    """A new random UUIDv7 (48-bit Unix ms timestamp, version 7, variant 10xx)."""
    unix_ms = time.time_ns() // 1_000_000
    rand = _random.getrandbits(74)
    value = (unix_ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= (rand >> 62) << 64
    value |= 0b10 << 62
    value |= rand & ((1 << 62) - 1)
    return uuid.UUID(int=value)
