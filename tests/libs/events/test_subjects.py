"""Subjects: safe tokens only, so a value can never widen a subscription."""

from __future__ import annotations

import pytest
from trstctl.events.errors import InvalidSubjectToken
from trstctl.events.subjects import (
    aggregate_events,
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
    assert aggregate_events("identity") == "trstctl.evt.*.identity.*"
    assert aggregate_events("identity", "acme") == "trstctl.evt.acme.identity.*"


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


@pytest.mark.parametrize(
    ("version", "refused"),
    [("2.9.25", True), ("v2.9.0", True), ("1.4.1", True), ("2.10.0", False),
     ("2.10.4-beta", False), ("2.15.1", False), ("3.0.0", False)],
)  # fmt: skip
def test_servers_older_than_2_10_are_refused(version: str, refused: bool) -> None:
    """nats-server < 2.10 (it ignores consumer filter_subjects) is refused with a clear error."""
    from trstctl.events.connection import check_server_version
    from trstctl.events.errors import UnsupportedServer

    if refused:
        with pytest.raises(UnsupportedServer) as caught:
            check_server_version(version)
        assert "2.10" in caught.value.message
    else:
        check_server_version(version)


def test_unparseable_server_version_is_refused() -> None:
    """A version string we cannot read is refused rather than trusted."""
    from trstctl.events.connection import check_server_version
    from trstctl.events.errors import UnsupportedServer

    with pytest.raises(UnsupportedServer):
        check_server_version("banana")
