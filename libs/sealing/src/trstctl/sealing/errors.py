"""Typed sealing errors. Codes are stable API; messages never carry key material."""

from __future__ import annotations

from trstctl.events.errors import TrstctlError


class SealingError(TrstctlError):
    """Root of every ``trstctl.sealing`` error."""

    code = "sealing_error"


class KekError(SealingError):
    """The KEK file cannot be used. ``code`` says why; ``details['path']`` says which file.

    Codes: ``kek_missing``, ``kek_is_symlink``, ``kek_not_regular_file``,
    ``kek_permissions_too_open``, ``kek_wrong_size``, ``kek_exists``, ``kek_unreadable``.
    """

    code = "kek_invalid"


class SealError(SealingError):
    """A sealed blob cannot be opened (or a seal cannot be made). ``code`` says why.

    Codes: ``seal_malformed`` (not a seal envelope, or truncated),
    ``seal_unsupported_version``, ``seal_wrong_kek`` (sealed under another KEK: the
    fingerprints in ``details`` tell which), ``seal_auth_failed`` (wrong AAD or the blob
    was tampered with: AES-GCM cannot tell these apart, by design).
    """

    code = "seal_failed"
