"""Issuer throughput through the command bus, beside the raw ``cryptography`` rate.

Starts an embedded nats-server and PostgreSQL (loopback, temporary), runs the issuer as
its own OS process (``python -m trstctl.issuer``, as ``trstctl up`` does), prepares
identities in ``requested``, then issues certificates with 64 requests in flight:
- from P-256 CSRs (CSR parsing and signature check, profile checks, signing, one
  JetStream append with concurrency control per certificate);
- with server-generated P-256 keys (plus key generation and the one-time key reply).
Each figure is printed beside the raw single-core build-and-sign rate of the same key
path measured in this run (``bench/issuer_raw.py``), with p50/p99 latency, and with the
CPU time each process spent per certificate (issuer, nats-server, this client; read from
/proc on Linux) so that a figure can be explained, not only read. For the CSR path the
raw rate including the CSR's signature check is printed too: the single-core ceiling of
the cryptography that path cannot skip.

Last, the same two commands run through a service with no cryptography at all
(``bench/spine_service.py``: command bus, repository, one JetStream append and a reply of
the issuer's sizes). Its CPU per command plus the raw crypto time is the least one issuer
process can spend per certificate, so the bench prints the rate one process could reach
at best with no other work, beside the goal.

Goal (issue #4): issuer throughput >= 30% of the raw single-core rate.
Run: ``make bench`` or ``.venv/bin/python bench/issuer_bench.py [--count N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

sys.path.insert(0, str(Path(__file__).parent))
import spine_service
from issuer_raw import raw_sign_rate
from trstctl.events.bus import NatsCommandBus
from trstctl.events.connection import connect_nats
from trstctl.events.provision import ensure_stream
from trstctl.runtime.embedded import BundledPostgres, EmbeddedNats, free_port
from trstctl.sealing import generate_kek_file

TENANT = "bench"
IN_FLIGHT = 64


def _csr(name: str) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process so far (Linux /proc), or None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU microseconds per command (certificate) of named processes over one phase."""

    def __init__(self, pids: dict[str, int]) -> None:
        self._pids = pids
        self._start: dict[str, float | None] = {}

    def start(self) -> None:
        self._start = {name: _cpu_seconds(pid) for name, pid in self._pids.items()}

    def seconds_per_command(self, count: int, name: str) -> float | None:
        """CPU seconds ``name`` spent per command since ``start`` (None without /proc)."""
        before, after = self._start.get(name), _cpu_seconds(self._pids[name])
        return None if before is None or after is None else (after - before) / count

    def per_command(self, count: int) -> str:
        parts = []
        for name, pid in self._pids.items():
            before, after = self._start.get(name), _cpu_seconds(pid)
            if before is not None and after is not None:
                parts.append(f"{name} {(after - before) / count * 1e6:,.0f}")
        return f"CPU µs each: {', '.join(parts)}" if parts else "CPU per process: n/a here"


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


async def _drive(
    bus: NatsCommandBus,
    service: str,
    command: str,
    payloads: list[dict[str, str]],
    meter: CpuMeter,
) -> tuple[float, list[float], str]:
    """Send every payload as ``command`` with IN_FLIGHT requests outstanding: the rate,
    the latencies and the CPU each process spent per command."""
    queue: asyncio.Queue[dict[str, str]] = asyncio.Queue()
    for payload in payloads:
        queue.put_nowait(payload)
    latencies: list[float] = []

    async def worker() -> None:
        while not queue.empty():
            payload = queue.get_nowait()
            started = time.perf_counter()
            await bus.request(service, command, payload, tenant=TENANT, actor="bench", timeout=60)
            latencies.append(time.perf_counter() - started)

    meter.start()
    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))
    rate = len(payloads) / (time.perf_counter() - started)
    return rate, latencies, meter.per_command(len(payloads))


async def _spine_floor(
    bus: NatsCommandBus, count: int, meter: CpuMeter
) -> tuple[float, list[float], str]:
    """The floor service (``spine_service``): open ``count`` items, then time closing them,
    the issuer's ``request_identity`` / ``issue_certificate`` pair without the crypto."""
    sem = asyncio.Semaphore(IN_FLIGHT)

    async def open_one(i: int) -> None:
        async with sem:
            await bus.request(
                spine_service.SERVICE, "open", {"item_id": f"item{i}", "name": f"item{i}"},
                tenant=TENANT, actor="bench", timeout=60,
            )  # fmt: skip

    await asyncio.gather(*(open_one(i) for i in range(count)))
    payloads = [{"item_id": f"item{i}"} for i in range(count)]
    return await _drive(bus, spine_service.SERVICE, "close", payloads, meter)


async def _prepare(bus: NatsCommandBus, prefix: str, count: int) -> list[str]:
    owner = await bus.request(
        "issuer", "create_owner", {"name": f"{prefix} owner", "kind": "workload"},
        tenant=TENANT, actor="bench",
    )  # fmt: skip
    owner_id = owner.result["owner_id"]
    sem = asyncio.Semaphore(IN_FLIGHT)

    async def one(i: int) -> str:
        async with sem:
            name = f"{prefix}{i}.bench.internal"
            reply = await bus.request(
                "issuer",
                "request_identity",
                {"owner_id": owner_id, "common_name": name, "dns_names": [name]},
                tenant=TENANT,
                actor="bench",
                timeout=60,
            )
            return str(reply.result["identity_id"])

    return list(await asyncio.gather(*(one(i) for i in range(count))))


def _wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"issuer exited ({process.returncode}):\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 - loopback
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("issuer did not become healthy")


def _start_issuer(
    env: dict[str, str], log: Path, argv: tuple[str, ...] = ("-m", "trstctl.issuer")
) -> subprocess.Popen[bytes]:
    """One issuer process (as ``trstctl up`` starts it), returned once it is healthy;
    ``argv`` starts another service process the same way."""
    metrics_port = free_port()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, *argv],
            env={**env, "TRSTCTL_METRICS_PORT": str(metrics_port)},
            stdout=out,
            stderr=out,
        )
    _wait_healthy(f"http://127.0.0.1:{metrics_port}/healthz", process, log)
    return process


async def run(count: int, replicas: int) -> None:
    raw_csr = raw_sign_rate(2.0)
    raw_generated = raw_sign_rate(2.0, generate_keys=True)
    raw_verified = raw_sign_rate(2.0, verify_csr=True)
    with tempfile.TemporaryDirectory(prefix="trstctl-issuer-bench-") as tmp:
        root = Path(tmp)
        nats = EmbeddedNats(root / "nats")
        postgres = BundledPostgres(root / "pg" / "data")
        nats.start()
        dsn = postgres.start()
        processes: list[subprocess.Popen[bytes]] = []
        try:
            nc = await connect_nats(nats.url, name="bench")
            await ensure_stream(nc.jetstream())
            generate_kek_file(root / "kek.bin")
            env = {k: v for k, v in os.environ.items() if not k.startswith("TRSTCTL_")}
            env.update(
                TRSTCTL_NATS_URL=nats.url,
                TRSTCTL_POSTGRES_MODE="external",
                TRSTCTL_POSTGRES_DSN=dsn,
                TRSTCTL_KEK_FILE=str(root / "kek.bin"),
                TRSTCTL_DATA_DIR=str(root / "data"),
                TRSTCTL_LOG_LEVEL="warning",
                TRSTCTL_LOG_FORMAT="json",
            )
            # Replicas share the work through their queue group, as in a deployment.
            for replica in range(replicas):
                processes.append(_start_issuer(env, root / f"issuer-{replica}.log"))
            pids = {f"issuer{'' if replicas == 1 else i}": p.pid for i, p in enumerate(processes)}
            pids.update({"nats-server": nats.pid or 0, "client": os.getpid()})
            meter = CpuMeter(pids)
            bus = NatsCommandBus(nc, default_timeout=60)
            await bus.request("issuer", "initialize_ca", {}, tenant=TENANT, actor="bench")

            csr_ids = await _prepare(bus, "csr", count)
            gen_ids = await _prepare(bus, "gen", count)
            csrs = [_csr(f"csr{i}.bench.internal") for i in range(count)]
            csr_payloads = [
                {"identity_id": i, "csr_pem": c} for i, c in zip(csr_ids, csrs, strict=True)
            ]
            csr_rate, csr_lat, csr_cpu = await _drive(
                bus, "issuer", "issue_certificate", csr_payloads, meter
            )
            gen_rate, gen_lat, gen_cpu = await _drive(
                bus, "issuer", "issue_certificate", [{"identity_id": i} for i in gen_ids], meter
            )
            floor_script = str(Path(__file__).with_name("spine_service.py"))
            floor = _start_issuer(env, root / "spine-service.log", (floor_script,))
            processes.append(floor)
            floor_meter = CpuMeter(
                {"spine-service": floor.pid, "nats-server": nats.pid or 0, "client": os.getpid()}
            )
            floor_rate, floor_lat, floor_cpu = await _spine_floor(bus, count, floor_meter)
            floor_own = floor_meter.seconds_per_command(count, "spine-service")
            await nc.close()
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                process.wait(15)
            postgres.stop()
            nats.stop()

    print(
        f"== issuer through the command bus ({IN_FLIGHT} in flight, {count} certificates, "
        f"{replicas} issuer process{'es' if replicas > 1 else ''}, {os.cpu_count()} cores) =="
    )
    for label, rate, raw, lat, cpu in (
        ("P-256 CSR          ", csr_rate, raw_csr, csr_lat, csr_cpu),
        ("P-256 generated key", gen_rate, raw_generated, gen_lat, gen_cpu),
    ):
        ratio = rate / raw
        verdict = "MET" if ratio >= 0.30 else "NOT MET"
        print(
            f"{label}: {rate:>7,.0f} certs/s  raw cryptography {raw:>7,.0f}/s  "
            f"= {ratio:>4.0%} (goal >= 30%: {verdict})  {_latency(lat)}"
        )
        print(f"    {cpu}")
    print(
        f"    raw P-256 CSR signature check + build + sign: {raw_verified:,.0f}/s on one core "
        f"(the CSR path's cryptographic ceiling; the CSR figure is {csr_rate / raw_verified:.0%} "
        "of it)"
    )
    print(
        "== the spine under it: the same two commands with no cryptography "
        "(one append and one reply each) =="
    )
    print(f"spine floor        : {floor_rate:>7,.0f} commands/s  {_latency(floor_lat)}")
    print(f"    {floor_cpu}")
    if floor_own is not None:
        # One process does the spine's work and the path's cryptography one after the
        # other, so it can never exceed 1 / (floor CPU + raw crypto time) on its core.
        for label, crypto_rate, raw in (
            ("P-256 CSR", raw_verified, raw_csr),
            ("P-256 generated key", raw_generated, raw_generated),
        ):
            bound = 1 / (floor_own + 1 / crypto_rate)
            print(
                f"    one issuer process, {label}: at most {bound:,.0f}/s with no other work "
                f"= {bound / raw:.0%} of the raw rate"
            )


def _latency(latencies: list[float]) -> str:
    p50, p99 = _percentile(latencies, 0.5), _percentile(latencies, 0.99)
    return f"p50 {p50 * 1000:.1f} ms  p99 {p99 * 1000:.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument(
        "--replicas", type=int, default=1, help="issuer processes in the queue group (default 1)"
    )
    args = parser.parse_args()
    asyncio.run(run(args.count, args.replicas))


if __name__ == "__main__":
    main()
