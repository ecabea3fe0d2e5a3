"""The ``trstctl`` command line: ``up``, ``--check-config``, ``kek generate``."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from pathlib import Path

EXIT_CONFIG = 2

DESCRIPTION = """\
trstctl: a self-hosted control plane for machine credentials.

Configuration is read from TRSTCTL_* environment variables only; run
`trstctl --check-config` to see the resolved values and any problem."""

UP_EPILOG = """\
`trstctl up` starts NATS JetStream and PostgreSQL (embedded, on free loopback ports),
provisions the event stream and the `trstctl` database, generates a KEK on the first
run, then starts issuer, secrets, policy, audit-projector and gateway as separate
processes. Their logs are in $TRSTCTL_DATA_DIR/logs/.

When every service is healthy it prints "trstctl is up: gateway URL" on stdout and, with
--ready-file, writes a JSON file (pid, gateway_url, data_dir, nats_url, postgres_port,
services with pid/healthz/log_file) that is removed again on shutdown.

Ctrl-C or SIGTERM stops the services in reverse order, then PostgreSQL and NATS, exit 0.
A service that dies is reported with its exit code and last log lines; everything
then stops and the exit code is 1. Invalid configuration exits with 2."""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (kept separate so tests and docs can render it)."""
    parser = argparse.ArgumentParser(
        prog="trstctl", description=DESCRIPTION, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "--check-config",
        action="store_true",
        help="print the resolved configuration (secrets redacted); exit non-zero if invalid",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    up = commands.add_parser(
        "up",
        help="start NATS, PostgreSQL and all five services (Ctrl-C stops)",
        description=UP_EPILOG,
        formatter_class=argparse.RawTextHelpFormatter,
    )
    up.add_argument(
        "--ready-file",
        type=Path,
        metavar="PATH",
        help="write a JSON description here once everything is healthy",
    )
    up.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="how long to wait for every service to be healthy (default 60)",
    )
    kek = commands.add_parser("kek", help="key-encryption key (KEK) files")
    kek_commands = kek.add_subparsers(dest="kek_command", metavar="KEK_COMMAND", required=True)
    generate = kek_commands.add_parser(
        "generate", help="write a new random KEK to PATH (mode 0600, never overwrites)"
    )
    generate.add_argument("path", type=Path, metavar="PATH")
    # `ca init --tenant T` joins here with the issuer.
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``trstctl`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.check_config:
        from trstctl.runtime.checkconfig import main as check_config

        return int(check_config(os.environ))
    if args.command == "up":
        return _up(args.ready_file, args.timeout)
    if args.command == "kek":
        return _kek_generate(args.path)
    parser.print_help()
    return EXIT_CONFIG


def _up(ready_file: Path | None, timeout: float) -> int:
    from trstctl.runtime.logging import configure_logging
    from trstctl.runtime.settings import SettingsError, load_settings
    from trstctl.runtime.supervisor import Supervisor

    try:
        settings = load_settings()
    except SettingsError as e:
        print("trstctl up: invalid configuration:", file=sys.stderr)
        for problem in e.problems:
            print(f"  - {problem}", file=sys.stderr)
        return EXIT_CONFIG
    configure_logging(settings)
    supervisor = Supervisor(settings, dict(os.environ), ready_file, health_timeout=timeout)
    return asyncio.run(supervisor.run())


def _kek_generate(path: Path) -> int:
    from trstctl.runtime.supervisor import kek_warning
    from trstctl.sealing import KekError, generate_kek_file

    try:
        generate_kek_file(path)
    except KekError as e:
        print(f"trstctl kek generate: {e}", file=sys.stderr)
        return 1
    print(kek_warning(path.resolve()), file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
