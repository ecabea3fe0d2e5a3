"""Entry point: `python -m trstctl.gateway` (started by `trstctl up`)."""

from __future__ import annotations

from trstctl.gateway.app import build
from trstctl.runtime.service import run_service

SERVICE = "gateway"


def main() -> int:
    """Run the gateway service until SIGTERM/SIGINT and return its exit code."""
    return run_service(SERVICE, build)


if __name__ == "__main__":
    raise SystemExit(main())
