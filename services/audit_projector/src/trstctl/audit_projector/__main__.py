"""Entry point: `python -m trstctl.audit_projector` (started by `trstctl up`)."""

from __future__ import annotations

from trstctl.audit_projector.app import build
from trstctl.runtime.service import run_service

SERVICE = "audit-projector"


def main() -> int:
    """Run the audit-projector service until SIGTERM/SIGINT and return its exit code."""
    return run_service(SERVICE, build)


if __name__ == "__main__":
    raise SystemExit(main())
