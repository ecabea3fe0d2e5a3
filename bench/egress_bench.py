"""Cost of the egress guard: loopback connects per second without and with it, same run.

Prints both rates and the guarded/unguarded time ratio (goal: <= 1.10). The guard is
installed with air-gap on, so every connect pays the full policy check plus the audit
backstop; only 127.0.0.1 is ever contacted.
"""

from __future__ import annotations

import socket
import struct
import threading
import time

from trstctl.egressguard import Policy, hook, install

CONNECTS = 3000
ROUNDS = 7
# Reset on close (no TIME_WAIT), so tens of thousands of connects don't exhaust ports.
_LINGER_RESET = struct.pack("ii", 1, 0)


def _serve(server: socket.socket, stop: threading.Event) -> None:
    server.settimeout(0.1)
    while not stop.is_set():
        try:
            conn, _ = server.accept()
        except TimeoutError:
            continue
        conn.close()


def _round(address: tuple[str, int], n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
        sock.connect(address)
        sock.close()
    return time.perf_counter() - start


def _compare(address: tuple[str, int]) -> tuple[float, float]:
    """Best unguarded and guarded round times, rounds interleaved.

    Interleaving keeps machine drift (CPU frequency, other load) out of the ratio; it
    needs the guard off between rounds, which only the test-only uninstall offers.
    Production never uninstalls.
    """
    policy = Policy.build(enabled=True, allow_private=False)
    unguarded: list[float] = []
    guarded: list[float] = []
    _round(address, CONNECTS // 10)  # warm-up
    for _ in range(ROUNDS):
        hook._uninstall_for_tests()
        unguarded.append(_round(address, CONNECTS))
        install(policy, service="bench")
        guarded.append(_round(address, CONNECTS))
    return min(unguarded), min(guarded)


def main() -> None:
    """Run the benchmark and print connects/s unguarded, guarded and the time ratio."""
    server = socket.create_server(("127.0.0.1", 0), backlog=4096)
    stop = threading.Event()
    thread = threading.Thread(target=_serve, args=(server, stop), daemon=True)
    thread.start()
    address = server.getsockname()[:2]
    try:
        unguarded, guarded = _compare(address)
    finally:
        stop.set()
        thread.join()
        server.close()
    print(f"egress guard: {CONNECTS} loopback connects, best of {ROUNDS} rounds")
    print(f"  unguarded: {CONNECTS / unguarded:10.0f} connects/s")
    print(f"  guarded:   {CONNECTS / guarded:10.0f} connects/s")
    print(f"  guarded/unguarded time ratio: {guarded / unguarded:.3f} (goal <= 1.10)")


if __name__ == "__main__":
    main()
