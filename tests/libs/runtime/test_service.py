"""The service skeleton: start-up order, health and metrics, clean shutdown."""

from __future__ import annotations

import asyncio
import gc
import sys
import types
import weakref
from dataclasses import dataclass, field

import aiohttp
import pytest
from trstctl.runtime import service
from trstctl.runtime.embedded import free_port
from trstctl.runtime.service import HealthRegistry, ServiceContext, run_service, serve
from trstctl.runtime.settings import Settings, load_settings


@dataclass
class _RecordingApp:
    stopped: bool = False

    async def stop(self) -> None:
        self.stopped = True


@dataclass
class _Build:
    """A ``build`` that records its context and can be held back."""

    release: asyncio.Event = field(default_factory=asyncio.Event)
    built: asyncio.Event = field(default_factory=asyncio.Event)
    app: _RecordingApp = field(default_factory=_RecordingApp)
    ctx: ServiceContext | None = None

    async def __call__(self, ctx: ServiceContext) -> _RecordingApp:
        self.ctx = ctx
        await self.release.wait()
        self.built.set()
        return self.app


def _settings(nats_url: str, metrics_port: int) -> Settings:
    return load_settings({"TRSTCTL_NATS_URL": nats_url, "TRSTCTL_METRICS_PORT": str(metrics_port)})


async def _get(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        return response.status, await response.text()


async def _wait_for_status(url: str, status: int) -> str:
    for _ in range(200):
        try:
            got, body = await _get(url)
        except aiohttp.ClientError:
            got, body = 0, ""
        if got == status:
            return body
        await asyncio.sleep(0.05)
    raise AssertionError(f"{url} never answered {status}")


async def test_health_is_503_until_built_then_200_and_stop_is_clean(nats_url: str) -> None:
    """/healthz says 503 while building, 200 with the NATS check once up; stop exits 0."""
    port = free_port()
    build = _Build()
    task = asyncio.create_task(serve("svc", _settings(nats_url, port), build))
    healthz = f"http://127.0.0.1:{port}/healthz"
    body = await _wait_for_status(healthz, 503)
    assert '"unavailable"' in body
    build.release.set()
    body = await _wait_for_status(healthz, 200)
    assert '"nats": true' in body
    assert '"service": "svc"' in body
    status, metrics = await _get(f"http://127.0.0.1:{port}/metrics")
    assert status == 200
    assert "python_info" in metrics
    assert build.ctx is not None
    nats = build.ctx.nats
    build.ctx.stopping.set()
    assert await asyncio.wait_for(task, 10) == 0
    assert build.app.stopped
    assert nats.is_closed
    with pytest.raises(aiohttp.ClientError):
        await _get(healthz)


async def test_a_failing_registered_check_makes_healthz_503(nats_url: str) -> None:
    """A check added with ctx.add_health_check turns /healthz to 503 when it fails."""
    port = free_port()
    build = _Build()
    build.release.set()
    task = asyncio.create_task(serve("svc", _settings(nats_url, port), build))
    await build.built.wait()
    healthy = True

    async def database() -> bool:
        return healthy

    assert build.ctx is not None
    build.ctx.add_health_check("database", database)
    await _wait_for_status(f"http://127.0.0.1:{port}/healthz", 200)
    healthy = False
    body = await _wait_for_status(f"http://127.0.0.1:{port}/healthz", 503)
    assert '"database": false' in body
    build.ctx.stopping.set()
    assert await asyncio.wait_for(task, 10) == 0


async def test_after_start_runs_once_built_and_before_healthy(nats_url: str) -> None:
    """`after_start` runs after build and before /healthz first says 200."""
    port = free_port()
    build = _Build()
    build.release.set()
    seen: list[bool] = []

    def after_start() -> None:
        assert build.built.is_set()
        seen.append(True)

    task = asyncio.create_task(
        serve("svc", _settings(nats_url, port), build, after_start=after_start)
    )
    await _wait_for_status(f"http://127.0.0.1:{port}/healthz", 200)
    assert seen == [True]
    assert build.ctx is not None
    build.ctx.stopping.set()
    assert await asyncio.wait_for(task, 10) == 0


def test_settling_the_collector_freezes_start_up_objects_and_raises_the_threshold() -> None:
    """After start-up objects are exempt from collection and gen-0 passes are rarer;
    cyclic garbage made afterwards is still collected."""
    threshold = gc.get_threshold()
    try:
        service.settle_garbage_collector()
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold()[0] == service.GC_YOUNGEST_THRESHOLD
        assert gc.get_threshold()[1:] == threshold[1:]

        class Node:
            other: object = None

        a, b = Node(), Node()
        a.other, b.other = b, a
        probe = weakref.ref(a)
        del a, b
        gc.collect()
        assert probe() is None
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)


async def test_health_registry_counts_a_raising_check_as_failing() -> None:
    """A check that raises is unhealthy, not a crashed health endpoint."""
    registry = HealthRegistry("svc", started=True)

    async def broken() -> bool:
        raise RuntimeError("boom")

    registry.add("broken", broken)
    assert await registry.report() == (False, {"broken": False})


async def test_a_build_that_raises_exits_1_and_closes_nats(nats_url: str) -> None:
    """A failing build is logged and returns exit code 1 after closing what it opened."""
    seen: list[ServiceContext] = []

    async def failing(ctx: ServiceContext) -> _RecordingApp:
        seen.append(ctx)
        raise RuntimeError("cannot wire")

    assert await serve("svc", _settings(nats_url, free_port()), failing) == 1
    assert seen[0].nats.is_closed


def _fake_guard(monkeypatch: pytest.MonkeyPatch, calls: list[str]) -> None:
    # Replaces the real module whether or not it has landed: the import inside
    # run_service finds sys.modules first.
    guard = types.ModuleType("trstctl.runtime.guard")
    guard.arm_for_service = lambda _settings, name: calls.append(f"arm:{name}")  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "trstctl.runtime.guard", guard)


def test_run_service_arms_the_guard_before_any_connection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Order: settings, logging (opens no socket), guard, then the NATS connection."""
    calls: list[str] = []
    _fake_guard(monkeypatch, calls)
    monkeypatch.setattr(service, "configure_logging", lambda _s: calls.append("logging"))

    async def connect(url: str, *, name: str) -> object:
        calls.append(f"connect:{name}")
        raise OSError("no server in this test")

    monkeypatch.setattr("trstctl.events.connection.connect_nats", connect)
    monkeypatch.setenv("TRSTCTL_NATS_URL", "nats://127.0.0.1:1")
    monkeypatch.setenv("TRSTCTL_METRICS_PORT", "0")
    assert run_service("svc", _Build()) == 1
    assert calls == ["logging", "arm:svc", "connect:trstctl-svc"]


def test_invalid_setting_exits_2_naming_the_variable_before_arming(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bad TRSTCTL_* value stops start-up with exit 2 and the variable's name."""
    calls: list[str] = []
    _fake_guard(monkeypatch, calls)
    monkeypatch.setenv("TRSTCTL_METRICS_PORT", "not-a-port")
    assert run_service("svc", _Build()) == 2
    assert "TRSTCTL_METRICS_PORT" in capsys.readouterr().err
    assert calls == []


def test_missing_nats_url_exits_2_naming_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A service started outside `trstctl up` without a NATS URL says which variable to set."""
    _fake_guard(monkeypatch, [])
    monkeypatch.setattr(service, "configure_logging", lambda _s: None)
    monkeypatch.delenv("TRSTCTL_NATS_URL", raising=False)
    assert run_service("svc", _Build()) == 2
    assert "TRSTCTL_NATS_URL" in capsys.readouterr().err
