"""``trstctl up``: NATS, PostgreSQL, the stream, the KEK, then the five service processes.

Everything binds loopback on free ports (never 4222/5432, which a system NATS or
PostgreSQL may hold) except the gateway, which listens where ``TRSTCTL_GATEWAY_PORT``
says. Children are separate OS processes in their own process group, so a terminal's
Ctrl-C reaches only the supervisor, which then stops them in reverse dependency order.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TextIO

import aiohttp
from trstctl.runtime.embedded import (
    LOOPBACK,
    BundledPostgres,
    EmbeddedError,
    EmbeddedNats,
    free_port,
    tail,
    write_json_atomic,
)
from trstctl.runtime.settings import Settings

DATABASE = "trstctl"
EXIT_FAILURE = 1


@dataclass(frozen=True)
class ServiceSpec:
    """One service process: its name and the module ``python -m`` runs."""

    name: str
    module: str


# Start order; shutdown runs it backwards (the gateway stops taking requests first).
SERVICES = (
    ServiceSpec("issuer", "trstctl.issuer"),
    ServiceSpec("secrets", "trstctl.secrets"),
    ServiceSpec("policy", "trstctl.policy"),
    ServiceSpec("audit-projector", "trstctl.audit_projector"),
    ServiceSpec("gateway", "trstctl.gateway"),
)


# Written by a running `trstctl up` in its data dir; removed when it stops.
STATE_FILE = "up.json"


class UpError(Exception):
    """``trstctl up`` cannot go on; the message is meant for the person who ran it."""


class _Interrupted(Exception):
    """SIGINT/SIGTERM arrived while starting: stop what started, exit 0."""


@dataclass
class Child:
    """A running service process."""

    spec: ServiceSpec
    process: subprocess.Popen[bytes]
    metrics_port: int
    log_file: Path

    def describe_exit(self) -> str:
        """``exited with code 3`` or ``was killed by SIGKILL``, with its last log lines."""
        code = self.process.returncode
        if code < 0:
            how = f"was killed by {signal.Signals(-code).name}"
        else:
            how = f"exited with code {code}"
        last = tail(self.log_file, 30)
        return f"service {self.spec.name} {how}; last lines of {self.log_file}:\n{last}"


def probe_host(host: str) -> str:
    """Where to reach a listener bound to ``host`` (a wildcard bind is probed on loopback)."""
    if host in ("", "0.0.0.0", "::"):  # noqa: S104 - comparing, not binding
        return LOOPBACK
    return f"[{host}]" if ":" in host else host


def check_port_free(host: str, port: int) -> None:
    """Fail fast, naming the variable, when something already listens on the gateway port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        # Same option aiohttp binds with: a TIME_WAIT left by a previous run is no conflict.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as e:
            raise UpError(
                f"the gateway port {host}:{port} is already in use ({e.strerror}); "
                "set TRSTCTL_GATEWAY_PORT to a free port (0 picks one)"
            ) from e


@dataclass
class Supervisor:
    """Starts and supervises one trstctl installation on ``settings.data_dir``."""

    settings: Settings
    environ: Mapping[str, str]
    ready_file: Path | None = None
    health_timeout: float = 60.0
    out: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)
    nats: EmbeddedNats | None = None
    postgres: BundledPostgres | None = None
    children: list[Child] = field(default_factory=list)
    _lock: IO[str] | None = None

    @property
    def data_dir(self) -> Path:
        return self.settings.data_dir.resolve()

    async def run(self) -> int:
        """Start everything, supervise until a signal or a death, stop everything."""
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        try:
            await self._start(stop)
            return await self._supervise(stop)
        except _Interrupted:
            return 0
        except UpError as e:
            print(f"trstctl up: {e}", file=self.err)
            return EXIT_FAILURE
        finally:
            await self._shutdown()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)

    # -- start-up --------------------------------------------------------------------------
    async def _start(self, stop: asyncio.Event) -> None:
        def checkpoint() -> None:
            if stop.is_set():
                raise _Interrupted

        (self.data_dir / "logs").mkdir(parents=True, exist_ok=True)
        self._take_lock()
        settings = self.settings
        gateway_port = settings.gateway_port or free_port(LOOPBACK)
        check_port_free(settings.gateway_host, gateway_port)
        nats_url = await self._start_nats()
        checkpoint()
        dsn = await self._start_postgres()
        checkpoint()
        await self._provision_stream(nats_url)
        kek_file = self._ensure_kek()
        env = self._child_environment(nats_url, dsn, gateway_port, kek_file)
        for spec in SERVICES:
            self.children.append(self._spawn(spec, env))
        gateway_url = f"http://{probe_host(settings.gateway_host)}:{gateway_port}"
        await self._wait_healthy(stop, gateway_url)
        self._announce(gateway_url, nats_url)

    def _take_lock(self) -> None:
        # Two supervisors on one data dir would fight over the NATS store and PostgreSQL.
        lock = (self.data_dir / "up.lock").open("a+")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as e:
            lock.close()
            raise UpError(f"another `trstctl up` is already running on {self.data_dir}") from e
        self._lock = lock

    async def _start_nats(self) -> str:
        # A URL given means "connect there", in either mode: that is how children are told.
        if self.settings.nats_url:
            return self.settings.nats_url
        store = self.settings.resolved_nats_store_dir.resolve()
        self.nats = EmbeddedNats(store, port=self.settings.nats_port)
        try:
            return await asyncio.to_thread(self.nats.start)
        except EmbeddedError as e:
            raise UpError(str(e)) from e

    async def _start_postgres(self) -> str:
        if self.settings.postgres_dsn is not None:
            return self.settings.postgres_dsn.get_secret_value()
        data = self.settings.resolved_postgres_data_dir.resolve()
        self.postgres = BundledPostgres(data, port=self.settings.postgres_port)
        try:
            admin_dsn = await asyncio.to_thread(self.postgres.start)
        except EmbeddedError as e:
            raise UpError(f"PostgreSQL did not start: {e}") from e
        try:
            await ensure_database(admin_dsn, DATABASE)
        except Exception as e:
            raise UpError(f"cannot create database {DATABASE!r}: {e}") from e
        return self.postgres.dsn(DATABASE)

    async def _provision_stream(self, nats_url: str) -> None:
        from trstctl.events.connection import connect_nats
        from trstctl.events.errors import EventsError
        from trstctl.events.provision import StreamSpec, ensure_stream

        spec = StreamSpec(
            name=self.settings.nats_stream,
            replicas=self.settings.nats_replicas,
            duplicate_window_seconds=self.settings.nats_duplicate_window_seconds,
        )
        try:
            client = await connect_nats(nats_url, name="trstctl-up")
            try:
                await ensure_stream(client.jetstream(), spec)
            finally:
                await client.close()
        except EventsError as e:
            raise UpError(str(e)) from e

    def _ensure_kek(self) -> Path | None:
        path = self.settings.resolved_kek_file.resolve()
        if path.exists():
            return path
        try:
            from trstctl.sealing import generate_kek_file
        except ImportError:
            print("trstctl up: trstctl.sealing is not installed; no KEK generated", file=self.err)
            return None
        path.parent.mkdir(parents=True, exist_ok=True)
        generate_kek_file(path)
        print(kek_warning(path), file=self.err, flush=True)
        return path

    def _child_environment(
        self, nats_url: str, dsn: str, gateway_port: int, kek_file: Path | None
    ) -> dict[str, str]:
        env = dict(self.environ)
        env.update(
            TRSTCTL_DATA_DIR=str(self.data_dir),
            TRSTCTL_NATS_URL=nats_url,
            TRSTCTL_POSTGRES_DSN=dsn,
            TRSTCTL_GATEWAY_PORT=str(gateway_port),
            # Log lines reach the log file as they happen, so a crash report shows them.
            PYTHONUNBUFFERED="1",
        )
        if kek_file is not None:
            env["TRSTCTL_KEK_FILE"] = str(kek_file)
        return env

    def _spawn(self, spec: ServiceSpec, env: dict[str, str]) -> Child:
        metrics_port = free_port(LOOPBACK)
        log_file = self.data_dir / "logs" / f"{spec.name}.log"
        with log_file.open("ab") as log:
            log.write(f"--- trstctl up started {spec.name} at {time.ctime()} ---\n".encode())
            log.flush()
            process = subprocess.Popen(
                [sys.executable, "-m", spec.module],
                env={**env, "TRSTCTL_METRICS_PORT": str(metrics_port)},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # Own process group: Ctrl-C in the terminal reaches only the supervisor,
                # which stops services in order instead of all at once.
                start_new_session=True,
            )
        return Child(spec, process, metrics_port, log_file)

    async def _wait_healthy(self, stop: asyncio.Event, gateway_url: str) -> None:
        metrics_host = probe_host(self.settings.metrics_host)
        urls = {
            c.spec.name: f"http://{metrics_host}:{c.metrics_port}/healthz" for c in self.children
        }
        urls["gateway http"] = f"{gateway_url}/healthz"
        pending = set(urls)
        deadline = time.monotonic() + self.health_timeout
        timeout = aiohttp.ClientTimeout(total=1)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            while pending:
                if stop.is_set():
                    raise _Interrupted
                self._raise_if_dead()
                if time.monotonic() > deadline:
                    waiting = ", ".join(sorted(pending))
                    raise UpError(
                        f"not healthy after {self.health_timeout:.0f}s: {waiting}; "
                        f"logs are in {self.data_dir / 'logs'}"
                    )
                for name in list(pending):
                    if await _is_healthy(http, urls[name]):
                        pending.discard(name)
                if pending:
                    await asyncio.sleep(0.1)

    def _raise_if_dead(self) -> None:
        for child in self.children:
            if child.process.poll() is not None:
                raise UpError(child.describe_exit())

    def _announce(self, gateway_url: str, nats_url: str) -> None:
        info: dict[str, object] = {
            "pid": os.getpid(),
            "gateway_url": gateway_url,
            "data_dir": str(self.data_dir),
            "nats_url": nats_url,
            "postgres_port": self.postgres.port if self.postgres else None,
            "services": {
                c.spec.name: {
                    "pid": c.process.pid,
                    "healthz": f"http://{probe_host(self.settings.metrics_host)}:{c.metrics_port}/healthz",
                    "log_file": str(c.log_file),
                }
                for c in self.children
            },
        }
        # Always: other trstctl commands (e.g. `trstctl ca init`) find the running system here.
        write_json_atomic(self.data_dir / STATE_FILE, info)
        if self.ready_file is not None:
            write_json_atomic(self.ready_file, info)
        print(
            f"trstctl is up: gateway {gateway_url}\n"
            f"  data dir {self.data_dir} (logs in {self.data_dir / 'logs'})\n"
            "  Ctrl-C stops everything",
            file=self.out,
            flush=True,
        )

    # -- supervision and shutdown ----------------------------------------------------------
    async def _supervise(self, stop: asyncio.Event) -> int:
        while not stop.is_set():
            for child in self.children:
                if child.process.poll() is not None:
                    print(f"trstctl up: {child.describe_exit()}", file=self.err, flush=True)
                    print("trstctl up: stopping everything", file=self.err, flush=True)
                    return EXIT_FAILURE
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=0.25)
        print("trstctl up: stopping", file=self.out, flush=True)
        return 0

    async def _shutdown(self) -> None:
        while self.children:
            child = self.children.pop()
            await asyncio.to_thread(stop_process, child.process)
        if self.postgres is not None:
            try:
                await asyncio.to_thread(self.postgres.stop)
            except EmbeddedError as e:
                print(f"trstctl up: PostgreSQL did not stop cleanly: {e}", file=self.err)
            self.postgres = None
        if self.nats is not None:
            await asyncio.to_thread(self.nats.stop)
            self.nats = None
        (self.data_dir / STATE_FILE).unlink(missing_ok=True)
        if self.ready_file is not None:
            self.ready_file.unlink(missing_ok=True)
        if self._lock is not None:
            self._lock.close()
            self._lock = None


def stop_process(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """SIGTERM, then SIGKILL if it has not exited after ``timeout`` seconds."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout)


async def _is_healthy(http: aiohttp.ClientSession, url: str) -> bool:
    try:
        async with http.get(url) as response:
            return response.status == 200
    except (aiohttp.ClientError, TimeoutError):
        return False


async def ensure_database(admin_dsn: str, name: str) -> None:
    """Create database ``name`` unless it exists (keeps the data of earlier runs)."""
    import asyncpg

    conn = await asyncpg.connect(admin_dsn)
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            # Identifiers cannot be bound parameters; ``name`` is our own constant.
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


def kek_warning(path: Path) -> str:
    """The banner printed once, when a new KEK is generated."""
    bar = "!" * 78
    return "\n".join(
        [
            bar,
            f"!!  NEW KEY-ENCRYPTION KEY (KEK) GENERATED: {path}",
            "!!  It seals the CA private key and every secret's data key.",
            "!!  BACK IT UP NOW, offline and apart from the data directory.",
            "!!  IF THIS FILE IS LOST, THE CA KEY AND ALL SECRETS ARE UNRECOVERABLE.",
            bar,
        ]
    )
