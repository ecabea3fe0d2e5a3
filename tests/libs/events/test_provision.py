"""Stream provisioning on a real nats-server: idempotent, conflicts reported not changed."""

from __future__ import annotations

from pathlib import Path

import pytest
from nats.js.api import StorageType
from trstctl.events.connection import connect_nats
from trstctl.events.errors import StreamConfigConflict
from trstctl.events.provision import StreamSpec, ensure_stream
from trstctl.runtime.embedded import EmbeddedNats

pytestmark = pytest.mark.integration


async def test_stream_is_created_with_the_guarantees_and_reprovisioning_is_a_no_op(
    tmp_path: Path,
) -> None:
    """File storage, deny-delete/purge and the window are set; a second run changes nothing."""
    server = EmbeddedNats(tmp_path / "nats")
    server.start()
    nc = await connect_nats(server.url, name="provision-test")
    try:
        js = nc.jetstream()
        spec = StreamSpec(duplicate_window_seconds=90)
        info = await ensure_stream(js, spec)
        assert info.config.subjects == ["trstctl.evt.>"]
        assert info.config.storage == StorageType.FILE
        assert info.config.deny_delete is True
        assert info.config.deny_purge is True
        assert info.config.duplicate_window == 90
        assert info.config.num_replicas == 1
        again = await ensure_stream(js, spec)
        assert again.config == info.config
        with pytest.raises(StreamConfigConflict) as caught:
            await ensure_stream(js, StreamSpec(duplicate_window_seconds=30))
        assert any("duplicate_window" in c for c in caught.value.details["conflicts"])
        still = await js.stream_info(spec.name)
        assert still.config.duplicate_window == 90  # reported, never silently changed
    finally:
        await nc.close()
        server.stop()
