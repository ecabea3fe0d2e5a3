"""`trstctl up`: start-up, health, ordered shutdown, crash reports, data kept across runs."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import asyncpg
import pytest
from trstctl.events.connection import connect_nats
from trstctl.runtime.embedded import BundledPostgres
from trstctl.runtime.supervisor import (
    Child,
    ServiceSpec,
    UpError,
    check_port_free,
    kek_warning,
    probe_host,
)

SERVICE_NAMES = {"issuer", "secrets", "policy", "audit-projector", "gateway"}


def test_check_port_free_names_the_variable_when_taken() -> None:
    """A listener on the gateway port makes start-up fail naming TRSTCTL_GATEWAY_PORT."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(UpError, match=f"127.0.0.1:{port}.*TRSTCTL_GATEWAY_PORT"):
            check_port_free("127.0.0.1", port)


def test_probe_host_maps_wildcards_to_loopback() -> None:
    """Health probes of a wildcard bind go to 127.0.0.1; IPv6 literals get brackets."""
    assert probe_host("0.0.0.0") == "127.0.0.1"  # noqa: S104 - not a bind
    assert probe_host("::") == "127.0.0.1"
    assert probe_host("::1") == "[::1]"
    assert probe_host("127.0.0.1") == "127.0.0.1"


def test_a_dead_child_is_described_with_its_code_and_last_log_lines(tmp_path: Path) -> None:
    """The report of a dead service carries its exit code and the tail of its log."""
    log = tmp_path / "svc.log"
    with log.open("wb") as out:
        code = "import sys; print('line one'); print('cannot bind'); sys.exit(3)"
        process = subprocess.Popen([sys.executable, "-c", code], stdout=out)
        process.wait(30)
    report = Child(ServiceSpec("svc", "m"), process, 0, log).describe_exit()
    assert "service svc exited with code 3" in report
    assert report.endswith("line one\ncannot bind")


def test_kek_warning_says_the_loss_is_unrecoverable(tmp_path: Path) -> None:
    """The first-run banner names the file and the consequence of losing it."""
    text = kek_warning(tmp_path / "kek.bin")
    assert str(tmp_path / "kek.bin") in text
    assert "UNRECOVERABLE" in text


# -- end to end: `trstctl up` as a subprocess -------------------------------------------------


def _require_guard() -> None:
    # The services arm trstctl.runtime.guard first thing; until it lands they cannot start.
    try:
        import trstctl.runtime.guard  # noqa: F401
    except ImportError:
        pytest.skip("trstctl.runtime.guard has not landed yet")


@pytest.fixture
def base_dir() -> Iterator[Path]:
    """A data-dir parent readable by the bundled PostgreSQL's own user.

    pytest's tmp_path sits under 0700 directories; PostgreSQL runs as another user
    (when the tests run as root) and must reach its files, so the parent is 0755.
    """
    path = Path(tempfile.mkdtemp(prefix="trstctl-up-test-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@dataclass
class Up:
    """One `trstctl up` subprocess and where it writes."""

    process: subprocess.Popen[bytes]
    ready_file: Path
    stdout: Path
    stderr: Path

    def output(self) -> str:
        return self.stdout.read_text() + self.stderr.read_text()

    async def ready(self, timeout: float = 150) -> dict[str, object]:
        for _ in range(int(timeout * 10)):
            if self.ready_file.exists():
                return dict(json.loads(self.ready_file.read_text()))
            if self.process.poll() is not None:
                raise AssertionError(f"up exited {self.process.returncode}:\n{self.output()}")
            await asyncio.sleep(0.1)
        raise AssertionError(f"up not ready in {timeout}s:\n{self.output()}")

    async def wait(self, timeout: float = 60) -> int:
        return await asyncio.to_thread(self.process.wait, timeout)


def start_up(base: Path, run: str, **env: str) -> Up:
    """Run `trstctl up` with only the TRSTCTL_* variables given (plus the data dir)."""
    clean = {k: v for k, v in os.environ.items() if not k.upper().startswith("TRSTCTL_")}
    clean.update({"TRSTCTL_DATA_DIR": str(base / "data"), "TRSTCTL_GATEWAY_PORT": "0", **env})
    ready, out, err = base / f"{run}.ready", base / f"{run}.out", base / f"{run}.err"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "trstctl.runtime.cli", "up", "--ready-file", str(ready)],
            env=clean,
            stdout=stdout,
            stderr=stderr,
            stdin=subprocess.DEVNULL,
        )
    return Up(process, ready, out, err)


async def ca_init(base: Path, tenant: str) -> subprocess.CompletedProcess[str]:
    """`trstctl ca init --tenant T`, finding the running system through the data dir."""
    clean = {k: v for k, v in os.environ.items() if not k.upper().startswith("TRSTCTL_")}
    clean["TRSTCTL_DATA_DIR"] = str(base / "data")
    argv = [sys.executable, "-m", "trstctl.runtime.cli", "ca", "init", "--tenant", tenant]
    return await asyncio.to_thread(
        subprocess.run, argv, env=clean, capture_output=True, text=True, timeout=60, check=False
    )


def test_ca_init_without_a_running_system_says_so(tmp_path: Path) -> None:
    """`trstctl ca init` with nothing running exits 3 and says how to start it."""
    clean = {k: v for k, v in os.environ.items() if not k.upper().startswith("TRSTCTL_")}
    clean["TRSTCTL_DATA_DIR"] = str(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "trstctl.runtime.cli", "ca", "init", "--tenant", "acme"],
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 3
    assert "trstctl up" in result.stderr


def _pids(info: dict[str, object]) -> list[int]:
    services = info["services"]
    assert isinstance(services, dict)
    return [int(s["pid"]) for s in services.values()]


def _assert_gone(pids: list[int]) -> None:
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


async def _get(http: aiohttp.ClientSession, url: str) -> tuple[int, object]:
    async with http.get(url) as response:
        return response.status, await response.json()


async def _check_everything_healthy(info: dict[str, object]) -> None:
    services = info["services"]
    assert isinstance(services, dict)
    assert set(services) == SERVICE_NAMES
    async with aiohttp.ClientSession() as http:
        for name, service in services.items():
            status, body = await _get(http, service["healthz"])
            assert status == 200, (name, body)
            assert isinstance(body, dict)
            assert body["checks"]["nats"] is True
        projector = services["audit-projector"]
        _, body = await _get(http, projector["healthz"])
        assert body["checks"]["postgres"] is True  # type: ignore[index]
        assert await _get(http, f"{info['gateway_url']}/healthz") == (
            200,
            {"status": "ok", "service": "gateway"},
        )


def _pg_dsn(info: dict[str, object]) -> str:
    data_dir = Path(str(info["data_dir"]))
    port = int(str(info["postgres_port"]))
    return BundledPostgres(data_dir / "postgres", port=port).dsn("trstctl")


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_up_runs_everything_stops_cleanly_and_keeps_data(base_dir: Path) -> None:
    """All five services, NATS and PostgreSQL come up healthy; SIGTERM exits 0 leaving
    no process; a second `up` on the same data dir sees the first one's data, and a
    service killed under it is reported with its last log lines and stops everything."""
    _require_guard()
    # The first run is under air-gap: the whole system works with only loopback egress.
    first = start_up(base_dir, "first", TRSTCTL_AIRGAP_ENABLED="true")
    info = await first.ready()
    assert str(info["gateway_url"]).startswith("http://127.0.0.1:")
    await _check_everything_healthy(info)
    nc = await connect_nats(str(info["nats_url"]), name="test")
    ack = await nc.jetstream().publish("trstctl.evt.t1.probe.one", b"{}")
    await nc.close()
    conn = await asyncpg.connect(_pg_dsn(info))
    await conn.execute("CREATE TABLE survives (x int); INSERT INTO survives VALUES (42)")
    await conn.close()
    assert "trstctl is up: gateway http://127.0.0.1:" in first.stdout.read_text()
    assert "UNRECOVERABLE" in first.stderr.read_text()
    created = await ca_init(base_dir, "acme")
    assert created.returncode == 0, created.stderr
    assert "initialised" in created.stdout
    assert "BEGIN CERTIFICATE" in created.stdout

    first.process.send_signal(signal.SIGTERM)
    assert await first.wait() == 0, first.output()
    _assert_gone(_pids(info))
    assert not (base_dir / "data" / "postgres" / "postmaster.pid").exists()
    assert not first.ready_file.exists()

    second = start_up(base_dir, "second")
    info = await second.ready()
    await _check_everything_healthy(info)
    nc = await connect_nats(str(info["nats_url"]), name="test")
    stream = await nc.jetstream().stream_info("TRSTCTL_EVENTS")
    await nc.close()
    assert stream.state.last_seq >= ack.seq
    conn = await asyncpg.connect(_pg_dsn(info))
    assert await conn.fetchval("SELECT x FROM survives") == 42
    await conn.close()
    assert "UNRECOVERABLE" not in second.stderr.read_text()  # the KEK was kept
    again = await ca_init(base_dir, "acme")  # the CA outlived the restart
    assert again.returncode == 1
    assert "ca_already_initialized" in again.stderr

    services = info["services"]
    assert isinstance(services, dict)
    os.kill(int(services["policy"]["pid"]), signal.SIGKILL)
    assert await second.wait() == 1
    report = second.stderr.read_text()
    assert "service policy was killed by SIGKILL" in report
    assert "last lines of" in report
    _assert_gone(_pids(info))


@pytest.mark.integration
async def test_up_fails_fast_when_the_gateway_port_is_taken(base_dir: Path) -> None:
    """A taken TRSTCTL_GATEWAY_PORT is reported by name before NATS or PostgreSQL start."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        up = start_up(base_dir, "taken", TRSTCTL_GATEWAY_PORT=str(port))
        assert await up.wait() == 1
    assert "TRSTCTL_GATEWAY_PORT" in up.stderr.read_text()
    assert not (base_dir / "data" / "nats").exists()
    assert not (base_dir / "data" / "postgres").exists()


async def test_up_with_an_invalid_setting_exits_2_naming_it(base_dir: Path) -> None:
    """`TRSTCTL_NATS_MODE=sometimes trstctl up` exits 2 and names the variable."""
    up = start_up(base_dir, "invalid", TRSTCTL_NATS_MODE="sometimes")
    assert await up.wait() == 2
    assert "TRSTCTL_NATS_MODE" in up.stderr.read_text()
