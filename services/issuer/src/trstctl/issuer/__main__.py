"""Entry point: `python -m trstctl.issuer` (started by `trstctl up`)."""

from __future__ import annotations

from trstctl.issuer.app import build
from trstctl.runtime.service import run_service

SERVICE = "issuer"


def main() -> int:
    """Run the issuer service until SIGTERM/SIGINT and return its exit code."""
    return run_service(SERVICE, build)


if __name__ == "__main__":
    raise SystemExit(main())
