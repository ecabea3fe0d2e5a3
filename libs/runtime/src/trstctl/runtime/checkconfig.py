"""``trstctl --check-config``: print the resolved configuration, or every problem in it.

One ``key: value`` per line, grouped by dotted prefix (``air_gap.enabled: true``), so
``trstctl --check-config | grep air_gap`` shows the air-gap posture. Secrets never
print: secret fields are masked, and passwords or tokens inside URLs and DSNs are
replaced by ``***``.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from enum import Enum
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pydantic import SecretStr
from trstctl.runtime.settings import Settings, settings_problems

EXIT_OK = 0
EXIT_INVALID = 2
REDACTED = "***"

# Field-name prefix -> printed group. Longest prefixes first so "ai_model_" wins over "ai_".
_GROUPS = (
    ("airgap_", "air_gap."),
    ("ai_model_", "ai_model."),
    ("telemetry_", "telemetry."),
    ("postgres_", "postgres."),
    ("gateway_", "gateway."),
    ("metrics_", "metrics."),
    ("otlp_", "otlp."),
    ("nats_", "nats."),
    ("log_", "log."),
)
_SECRET_QUERY_KEYS = frozenset({"password", "pass", "passwd", "token", "secret", "sslpassword"})


def _key(field: str) -> str:
    for prefix, group in _GROUPS:
        if field.startswith(prefix):
            return group + field[len(prefix) :]
    return field


def redact_url(text: str) -> str:
    """``text`` with a URL password and secret-looking query parameters masked."""
    try:
        parts = urlsplit(text)
    except ValueError:
        return REDACTED
    if not parts.scheme or not parts.netloc:
        return text
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user, has_password, _ = userinfo.partition(":")
        # A lone userinfo (nats://TOKEN@host) is a token, not a user name.
        netloc = f"{user}:{REDACTED}@{hostport}" if has_password else f"{REDACTED}@{hostport}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode(
            [(k, REDACTED if k.lower() in _SECRET_QUERY_KEYS else v) for k, v in pairs],
            safe="*",
        )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _value(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, SecretStr):
        secret = value.get_secret_value()
        parts = urlsplit(secret)
        # A URL shows everything but its credentials; anything else is wholly secret.
        return redact_url(secret) if parts.scheme and parts.netloc else REDACTED
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, list | tuple):
        return ",".join(_value(v) for v in value)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, str):
        return redact_url(value)
    return str(value)


def render(settings: Settings) -> list[str]:
    """The resolved configuration as sorted ``key: value`` lines, secrets redacted."""
    values: dict[str, str] = {
        _key(name): _value(getattr(settings, name)) for name in type(settings).model_fields
    }
    # Show where state actually lives, not just the (often empty) override.
    values["nats.store_dir"] = str(settings.resolved_nats_store_dir)
    values["postgres.data_dir"] = str(settings.resolved_postgres_data_dir)
    values["kek_file"] = str(settings.resolved_kek_file)
    return [f"{key}: {value}".rstrip() for key, value in sorted(values.items())]


def main(environ: Mapping[str, str]) -> int:
    """Print the configuration and return 0, or print every problem to stderr and return 2."""
    settings, problems = settings_problems(environ)
    if settings is None or problems:
        print(
            f"trstctl: invalid configuration ({len(problems)} problem"
            f"{'' if len(problems) == 1 else 's'}):",
            file=sys.stderr,
        )
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        return EXIT_INVALID
    for line in render(settings):
        print(line)
    return EXIT_OK
