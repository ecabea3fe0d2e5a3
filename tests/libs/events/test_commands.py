"""Command wire format: replies decode into results or typed errors, whatever the details."""

from __future__ import annotations

import pytest
from trstctl.events import wirejson
from trstctl.events.commands import decode_reply, decode_request
from trstctl.events.errors import CommandError, InvalidCommand, InvalidSubjectToken


def test_error_details_named_like_fields_do_not_collide() -> None:
    """Details with keys 'code' or 'message' decode into the error's details intact."""
    raw = wirejson.dumps(
        {
            "ok": False,
            "error": {"code": "x_failed", "message": "m", "details": {"code": 1, "message": 2}},
        }
    )
    with pytest.raises(CommandError) as caught:
        decode_reply(raw)
    assert caught.value.code == "x_failed"
    assert caught.value.details == {"code": 1, "message": 2}


@pytest.mark.parametrize(
    "raw",
    [b"", b"\xff", b"[]", b'{"payload": 1}', b'{"payload": {}, "tenant": "t"}'],
    ids=["empty", "bytes", "array", "payload-not-object", "missing-fields"],
)
def test_malformed_requests_are_invalid_command(raw: bytes) -> None:
    """Requests that are not the envelope are `invalid_command`, never a crash."""
    with pytest.raises(InvalidCommand):
        decode_request("svc", "cmd", raw)


def test_a_tenant_that_is_not_a_token_is_refused() -> None:
    """A tenant with a dot (it would widen subjects) is refused."""
    raw = wirejson.dumps(
        {"payload": {}, "tenant": "a.b", "actor": "x", "correlation_id": "c", "command_id": "i"}
    )
    with pytest.raises(InvalidSubjectToken):
        decode_request("svc", "cmd", raw)
