"""Entry point: `python -m trstctl.policy` (started by `trstctl up`)."""

from __future__ import annotations

from trstctl.policy.app import build
from trstctl.runtime.service import run_service

SERVICE = "policy"


def main() -> int:
    """Run the policy service until SIGTERM/SIGINT and return its exit code."""
    return run_service(SERVICE, build)


if __name__ == "__main__":
    raise SystemExit(main())
