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
    ca = commands.add_parser("ca", help="the tenant certificate authorities")
    ca_commands = ca.add_subparsers(dest="ca_command", metavar="CA_COMMAND", required=True)
    init = ca_commands.add_parser(
        "init",
        help="create a tenant's root and issuing CA (needs a running trstctl)",
        description="Create the tenant's CA hierarchy through the running issuer. Its "
        "private keys are sealed under the KEK; losing the KEK makes them unrecoverable. "
        "Running it again for an initialised tenant is refused (exit 1).",
    )
    init.add_argument("--tenant", required=True, help="tenant id (A-Z a-z 0-9 _ -)")
    init.add_argument(
        "--algorithm",
        default="ec-p256",
        choices=["ec-p256", "ec-p384", "rsa-2048", "rsa-3072", "rsa-4096", "ed25519"],
        help="key algorithm of both CA keys (default ec-p256)",
    )
    init.add_argument("--root-ttl-days", type=int, default=3650)
    init.add_argument("--issuing-ttl-days", type=int, default=1825)
    init.add_argument("--json", action="store_true", help="print the result as JSON")
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
    if args.command == "ca":
        return _ca_init(args)
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
    # `up` talks to NATS and PostgreSQL itself: it is guarded like every service.
    from trstctl.runtime.guard import arm_for_service

    arm_for_service(settings, "up")
    supervisor = Supervisor(settings, dict(os.environ), ready_file, health_timeout=timeout)
    return asyncio.run(supervisor.run())


def _ca_init(args: argparse.Namespace) -> int:
    from trstctl.events.errors import TrstctlError
    from trstctl.runtime.client import NotRunning, print_ca, send_command
    from trstctl.runtime.guard import arm_for_service
    from trstctl.runtime.settings import SettingsError, load_settings

    try:
        settings = load_settings()
    except SettingsError as e:
        print(str(e), file=sys.stderr)
        return EXIT_CONFIG
    arm_for_service(settings, "cli")
    payload = {
        "algorithm": args.algorithm,
        "root_ttl_days": args.root_ttl_days,
        "issuing_ttl_days": args.issuing_ttl_days,
    }
    try:
        result = asyncio.run(
            send_command(
                settings, "issuer", "initialize_ca", payload, tenant=args.tenant, actor="cli"
            )
        )
    except NotRunning as e:
        print(f"trstctl ca init: {e}", file=sys.stderr)
        return 3
    except TrstctlError as e:
        print(f"trstctl ca init: {e.code}: {e.message}", file=sys.stderr)
        return 1
    print_ca(result, as_json=args.json)
    return 0


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
