"""Service processes for tests: `python -m trstctl.<service>` as a real OS process.

Each process gets a clean environment (no ``TRSTCTL_*`` from the parent, only what the
test sets), writes stdout and stderr to one log file, and is stopped by the
``Launcher`` that started it even when the test fails, so no process outlives its test.
Everything it talks to is on loopback: the session's NATS and PostgreSQL fixtures and
its own metrics port.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families
from trstctl.events.bus import NatsCommandBus
from trstctl.events.ports import CommandResult
from trstctl.runtime.embedded import free_port

LOOPBACK = "127.0.0.1"


def clean_environment(**settings: str) -> dict[str, str]:
    """The parent's environment without any ``TRSTCTL_*`` variable, plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("TRSTCTL_")}
    env.update(settings)
    return env


def service_environment(
    *,
    nats_url: str,
    postgres_dsn: str,
    kek_file: Path,
    data_dir: Path,
    metrics_port: int | None = None,
    **extra: str,
) -> dict[str, str]:
    """What a service process needs to run against the test fixtures."""
    return clean_environment(
        TRSTCTL_NATS_URL=nats_url,
        TRSTCTL_POSTGRES_MODE="external",
        TRSTCTL_POSTGRES_DSN=postgres_dsn,
        TRSTCTL_KEK_FILE=str(kek_file),
        TRSTCTL_DATA_DIR=str(data_dir),
        TRSTCTL_METRICS_PORT=str(metrics_port if metrics_port is not None else free_port()),
        TRSTCTL_LOG_FORMAT="json",
        **extra,
    )


@dataclass
class ServiceProcess:
    """One running (or exited) service process and its log file."""

    module: str
    process: subprocess.Popen[bytes]
    log: Path
    metrics_port: int

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self.metrics_port}"

    def output(self) -> str:
        """Everything the process wrote to stdout and stderr so far."""
        return self.log.read_text(errors="replace")

    async def healthy(self, timeout: float = 30) -> None:
        """Wait until ``/healthz`` answers 200; fail with the log if the process dies."""
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise AssertionError(
                        f"{self.module} exited {self.process.returncode} before it was "
                        f"healthy:\n{self.output()}"
                    )
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    async with http.get(f"{self.base_url}/healthz") as response:
                        if response.status == 200:
                            return
                await asyncio.sleep(0.05)
        raise AssertionError(f"{self.module} not healthy within {timeout}s:\n{self.output()}")

    async def metrics(self) -> str:
        """The Prometheus exposition text of ``/metrics``."""
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http,
            http.get(f"{self.base_url}/metrics") as response,
        ):
            assert response.status == 200
            return await response.text()

    async def exit_code(self, timeout: float) -> int:
        """Wait for the process to exit on its own; its exit code."""
        try:
            return await asyncio.to_thread(self.process.wait, timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"{self.module} still running after {timeout}s:\n{self.output()}"
            ) from None

    async def stop(self, timeout: float = 15) -> int:
        """SIGTERM, then wait for the exit code."""
        self.process.send_signal(signal.SIGTERM)
        return await self.exit_code(timeout)

    def kill(self) -> None:
        """Make sure the process is gone (terminate, then kill)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


@dataclass
class Launcher:
    """Starts service processes under ``log_dir`` and stops every one of them on exit."""

    log_dir: Path
    started: list[ServiceProcess] = field(default_factory=list)

    def start(self, module: str, env: dict[str, str]) -> ServiceProcess:
        """Run ``python -m module`` with exactly ``env`` (see ``service_environment``)."""
        log = self.log_dir / f"{module}.{len(self.started)}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", module],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        metrics_port = int(env.get("TRSTCTL_METRICS_PORT", "0"))
        service = ServiceProcess(module, process, log, metrics_port)
        self.started.append(service)
        return service

    def close(self) -> None:
        for service in self.started:
            service.kill()

    def __enter__(self) -> Launcher:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class IssuerClient:
    """Commands to the issuer through the real command bus, as ``alice`` of one tenant."""

    def __init__(self, bus: NatsCommandBus, tenant: str) -> None:
        self.bus = bus
        self.tenant = tenant

    async def __call__(self, name: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        result: CommandResult = await self.bus.request(
            "issuer", name, payload or {}, tenant=self.tenant, actor="alice", timeout=10
        )
        return dict(result.result)

    async def new_identity(self, owner_id: str, dns_name: str) -> str:
        """Request an identity for ``dns_name``; its id."""
        reply = await self(
            "request_identity",
            {"owner_id": owner_id, "common_name": dns_name, "dns_names": [dns_name]},
        )
        assert reply["status"] == "requested"
        return str(reply["identity_id"])


def metric_samples(exposition: str, sample_name: str) -> list[tuple[dict[str, str], float]]:
    """Every sample named ``sample_name`` in a Prometheus exposition, with its labels."""
    return [
        (dict(sample.labels), sample.value)
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
        if sample.name == sample_name
    ]
