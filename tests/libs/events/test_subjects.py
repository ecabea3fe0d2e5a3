"""Subjects: safe tokens only, so a value can never widen a subscription."""

from __future__ import annotations

import pytest
from trstctl.events.errors import InvalidSubjectToken
from trstctl.events.subjects import (
    command_subject,
    event_subject,
    subject_matches,
    tenant_events,
)


def test_event_subject_shape() -> None:
    """Events live on trstctl.evt.<tenant>.<aggregate>.<id>."""
    assert event_subject("acme", "identity", "id-1") == "trstctl.evt.acme.identity.id-1"
    assert command_subject("issuer", "create_owner") == "trstctl.cmd.issuer.create_owner"
    assert tenant_events("acme") == "trstctl.evt.acme.>"


@pytest.mark.parametrize("bad", ["", "a.b", "*", ">", "a b", "a\nb", "ä", "x" * 129])
def test_unsafe_tokens_are_refused(bad: str) -> None:
    """Dots, wildcards, whitespace, non-ASCII and over-long values are refused."""
    with pytest.raises(InvalidSubjectToken):
        event_subject(bad, "identity", "i1")


@pytest.mark.parametrize(
    ("pattern", "subject", "expected"),
    [
        ("trstctl.evt.>", "trstctl.evt.a.b.c", True),
        ("trstctl.evt.>", "trstctl.evt", False),
        ("trstctl.evt.*.identity.*", "trstctl.evt.a.identity.1", True),
        ("trstctl.evt.*.identity.*", "trstctl.evt.a.owner.1", False),
        ("trstctl.evt.a.>", "trstctl.evt.b.identity.1", False),
        ("trstctl.evt.a.x.1", "trstctl.evt.a.x.1", True),
        ("trstctl.evt.a.x", "trstctl.evt.a.x.1", False),
    ],
)
def test_wildcard_matching(pattern: str, subject: str, expected: bool) -> None:
    """The fake's filter matching follows NATS wildcard rules."""
    assert subject_matches(pattern, subject) is expected
