"""Event loops that bypass Python sockets (uvloop and the like) are refused."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from trstctl.egressguard import ForeignEventLoop, foreign_event_loop, refuse_foreign_event_loop


class FakeUvloopPolicy(asyncio.DefaultEventLoopPolicy):
    """Stands in for uvloop.EventLoopPolicy (uvloop is not installed here)."""


@pytest.fixture
def foreign_policy() -> Iterator[None]:
    """Install a non-default loop policy for one test, then restore the previous one."""
    previous = asyncio.get_event_loop_policy()
    asyncio.set_event_loop_policy(FakeUvloopPolicy())
    try:
        yield
    finally:
        asyncio.set_event_loop_policy(previous)


def test_default_policy_accepted() -> None:
    """asyncio's own policy passes the check."""
    assert foreign_event_loop() is None
    refuse_foreign_event_loop()


async def test_default_running_loop_accepted() -> None:
    """The running selector loop (as under pytest-asyncio) passes the check."""
    assert foreign_event_loop() is None


@pytest.mark.usefixtures("foreign_policy")
def test_foreign_policy_refused() -> None:
    """A non-default loop policy is refused with a message naming it and the air-gap knob."""
    with pytest.raises(ForeignEventLoop, match="FakeUvloopPolicy") as caught:
        refuse_foreign_event_loop()
    assert "TRSTCTL_AIRGAP_ENABLED" in str(caught.value)
