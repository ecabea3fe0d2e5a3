"""`python -m trstctl.<service>` as real OS processes: restart, KEK failures, air-gap."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from nats.aio.client import Client as NatsClient
from trstctl.events.bus import NatsCommandBus
from trstctl.runtime.embedded import free_port
from trstctl.sealing import generate_kek_file

from .chains import verify_chain
from .process import IssuerClient, Launcher, clean_environment, metric_samples, service_environment

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ISSUER = "trstctl.issuer"


@pytest.fixture
def launcher(tmp_path: Path) -> Iterator[Launcher]:
    """Starts service processes; every one is terminated when the test ends."""
    with Launcher(tmp_path) as launcher:
        yield launcher


@pytest.fixture
def kek_file(tmp_path: Path) -> Path:
    path = tmp_path / "kek.bin"
    generate_kek_file(path)
    return path


@pytest.fixture
def issuer_env(nats_url: str, postgres_dsn: str, kek_file: Path, data_dir: Path) -> dict[str, str]:
    """The issuer's environment: the fixtures' NATS and database, a fresh KEK."""
    return service_environment(
        nats_url=nats_url, postgres_dsn=postgres_dsn, kek_file=kek_file, data_dir=data_dir
    )


@pytest.fixture
def call(nc: NatsClient, tenant: str) -> IssuerClient:
    return IssuerClient(NatsCommandBus(nc), tenant)


@pytest.mark.timeout(120)
async def test_restart_keeps_the_ca_and_never_reuses_a_serial(
    launcher: Launcher, issuer_env: dict[str, str], call: IssuerClient
) -> None:
    """A restarted issuer unseals the same CA from PostgreSQL and issues fresh serials."""
    first = launcher.start(ISSUER, issuer_env)
    await first.healthy()
    owner = await call("create_owner", {"name": "payments", "kind": "team"})
    serials: set[int] = set()
    for name in ("a.payments.internal", "b.payments.internal"):
        identity_id = await call.new_identity(owner["owner_id"], name)
        issued = await call("issue_certificate", {"identity_id": identity_id})
        assert issued["private_key_pem"].startswith("-----BEGIN PRIVATE KEY-----")
        serials.add(int(str(issued["certificate"]["serial"]), 16))
    ca_before = await call("get_ca")
    assert ca_before["initialized"] is True
    for pem in (ca_before["root_certificate_pem"], ca_before["issuing_certificate_pem"]):
        serials.add(x509.load_pem_x509_certificate(pem.encode()).serial_number)
    assert await first.stop(timeout=15) == 0, first.output()

    second = launcher.start(ISSUER, issuer_env)
    await second.healthy()
    ca_after = await call("get_ca")
    for field in ("ca_id", "root_fingerprint_sha256", "issuing_fingerprint_sha256"):
        assert ca_after[field] == ca_before[field]
    identity_id = await call.new_identity(owner["owner_id"], "c.payments.internal")
    issued = await call("issue_certificate", {"identity_id": identity_id})
    leaf = verify_chain(issued["certificate"]["certificate_pem"], ca_before, "c.payments.internal")
    assert leaf.serial_number == int(str(issued["certificate"]["serial"]), 16)
    assert leaf.serial_number not in serials
    assert await second.stop(timeout=15) == 0, second.output()


@pytest.mark.timeout(120)
async def test_a_different_kek_fails_start_up_naming_the_kek(
    launcher: Launcher, issuer_env: dict[str, str], call: IssuerClient, tmp_path: Path
) -> None:
    """With a CA sealed under one KEK, starting with another exits non-zero, saying so."""
    first = launcher.start(ISSUER, issuer_env)
    await first.healthy()
    assert (await call("initialize_ca"))["initialized"] is True
    assert await first.stop(timeout=15) == 0, first.output()

    other = tmp_path / "other-kek.bin"
    generate_kek_file(other)
    wrong = launcher.start(ISSUER, {**issuer_env, "TRSTCTL_KEK_FILE": str(other)})
    assert await wrong.exit_code(timeout=30) != 0
    output = wrong.output()
    assert "SealError" in output, output
    assert "wrong TRSTCTL_KEK_FILE" in output, output


async def test_a_group_readable_kek_file_fails_start_up(
    launcher: Launcher, issuer_env: dict[str, str], kek_file: Path
) -> None:
    """A KEK file with mode 0644 stops the issuer with a message asking for 0600."""
    os.chmod(kek_file, 0o644)
    process = launcher.start(ISSUER, issuer_env)
    assert await process.exit_code(timeout=30) != 0
    output = process.output()
    assert "0600" in output, output
    assert str(kek_file) in output, output


SERVICES = [
    ("trstctl.issuer", "issuer"),
    ("trstctl.secrets", "secrets"),
    ("trstctl.policy", "policy"),
    ("trstctl.audit_projector", "audit-projector"),
    ("trstctl.gateway", "gateway"),
]


@pytest.mark.parametrize(("module", "service"), SERVICES, ids=[s for _, s in SERVICES])
async def test_a_service_under_air_gap_exports_an_armed_guard_and_no_trips(
    launcher: Launcher, issuer_env: dict[str, str], module: str, service: str
) -> None:
    """Under TRSTCTL_AIRGAP_ENABLED=true the service is healthy after its tripwire and its
    /metrics shows the guard armed (1) with every trip counter at zero."""
    env = {
        **issuer_env,
        "TRSTCTL_AIRGAP_ENABLED": "true",
        "TRSTCTL_GATEWAY_HOST": "127.0.0.1",
        "TRSTCTL_GATEWAY_PORT": str(free_port()),
    }
    process = launcher.start(module, env)
    await process.healthy()
    exposition = await process.metrics()
    armed = metric_samples(exposition, "trstctl_egress_guard_armed")
    assert ({"service": service}, 1.0) in armed, exposition
    trips = metric_samples(exposition, "trstctl_egress_guard_trips_total")
    ours = [value for labels, value in trips if labels.get("service") == service]
    assert ours, exposition  # the zeros are exported, not merely absent
    assert all(value == 0 for _, value in trips), exposition
    assert await process.stop() == 0, process.output()


@pytest.mark.parametrize(
    ("variables", "named"),
    [
        (
            {"TRSTCTL_AIRGAP_ENABLED": "true", "TRSTCTL_TELEMETRY_ENABLED": "true"},
            "TRSTCTL_TELEMETRY_ENABLED",
        ),
        ({"TRSTCTL_AIRGAP_ENABLED": "yes"}, "TRSTCTL_AIRGAP_ENABLED"),
    ],
    ids=["telemetry-under-air-gap", "enabled-yes"],
)
def test_an_invalid_air_gap_combination_exits_2_naming_the_variable(
    variables: dict[str, str], named: str, tmp_path: Path
) -> None:
    """A refused air-gap setting stops the issuer at once with exit 2 and the variable's
    name on stderr, before it connects to anything."""
    env = clean_environment(
        TRSTCTL_NATS_URL="nats://127.0.0.1:1",
        TRSTCTL_DATA_DIR=str(tmp_path),
        TRSTCTL_METRICS_PORT=str(free_port()),
        **variables,
    )
    done = subprocess.run(
        [sys.executable, "-m", ISSUER],
        env=env,
        capture_output=True,
        stdin=subprocess.DEVNULL,
        timeout=30,
        check=False,
    )
    stderr = done.stderr.decode(errors="replace")
    assert done.returncode == 2, stderr
    assert named in stderr, stderr
