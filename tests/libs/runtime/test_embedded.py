"""The embedded nats-server's process handle, as benchmarks read it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from trstctl.runtime.embedded import EmbeddedNats

pytestmark = pytest.mark.integration


def test_pid_names_the_running_server_and_is_none_once_stopped(tmp_path: Path) -> None:
    server = EmbeddedNats(tmp_path / "nats")
    assert server.pid is None
    server.start()
    try:
        pid = server.pid
        assert isinstance(pid, int)
        os.kill(pid, 0)  # the process exists (signal 0 only checks)
        cmdline = Path(f"/proc/{pid}/cmdline")
        if cmdline.exists():  # Linux: it is the nats-server we started
            assert b"nats-server" in cmdline.read_bytes()
    finally:
        server.stop()
    assert server.pid is None
