"""Entry point: `python -m trstctl.secrets` (started by `trstctl up`)."""

from __future__ import annotations

from trstctl.runtime.service import run_service
from trstctl.secrets.app import build

SERVICE = "secrets"


def main() -> int:
    """Run the secrets service until SIGTERM/SIGINT and return its exit code."""
    return run_service(SERVICE, build)


if __name__ == "__main__":
    raise SystemExit(main())
