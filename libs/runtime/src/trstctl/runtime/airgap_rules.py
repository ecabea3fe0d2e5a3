"""Air-gap configuration rules (fail closed); every message names its TRSTCTL_* variable.

Format rules (ALLOW_HOSTS entries, ALLOW_CIDRS syntax, endpoint URLs) apply whether
air-gap is on or not: a typo should not wait for the day air-gap is switched on.
Posture rules (no product telemetry, no cloud AI, local endpoints only) apply under
``TRSTCTL_AIRGAP_ENABLED=true``.
"""

from __future__ import annotations

import ipaddress
import re
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from trstctl.egressguard.policy import Policy

if TYPE_CHECKING:
    from trstctl.runtime.settings import Settings

# settings.py joins cross-field problems with "; " and splits them again: never use "; " here.
_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")


def _host_entry_problem(entry: str) -> str | None:
    """Why ``entry`` is not a bare host name or IP literal, or ``None`` if it is."""
    if "://" in entry or "/" in entry:
        return "is a URL or path: list bare host names (no scheme, port or path)"
    if "*" in entry:
        return "is a wildcard: list each host name explicitly"
    try:
        ipaddress.ip_address(entry)
    except ValueError:
        pass
    else:
        return None
    if ":" in entry or entry.startswith("["):
        return "has a port: list bare host names (ports are not part of the allow-list)"
    name = entry.rstrip(".").lower()
    if not name or len(name) > 253 or not all(_LABEL.match(label) for label in name.split(".")):
        return "is not a valid host name"
    return None


def _cidr_problems(entries: list[str], airgap: bool) -> tuple[list[str], list[str]]:
    problems: list[str] = []
    valid: list[str] = []
    for entry in entries:
        try:
            network = ipaddress.ip_network(entry, strict=True)
        except ValueError as error:
            problems.append(f"TRSTCTL_AIRGAP_ALLOW_CIDRS: {entry!r} is not a valid CIDR ({error})")
            continue
        if airgap and network.prefixlen == 0:
            problems.append(
                f"TRSTCTL_AIRGAP_ALLOW_CIDRS: {entry!r} allows the whole internet, which "
                "defeats TRSTCTL_AIRGAP_ENABLED=true: list your private ranges instead"
            )
            continue
        valid.append(entry)
    return problems, valid


def _url_problem(variable: str, url: str, *, insecure_variable: str | None) -> str | None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"{variable}: {url!r} must be an http:// or https:// URL with a host"
    if parts.scheme == "http" and insecure_variable is not None:
        return f"{variable}: plain http ({url!r}) needs {insecure_variable}=true, or use https"
    return None


def _endpoint_problem(variable: str, url: str, policy: Policy) -> str | None:
    """Under air-gap, ``url``'s host must be a permitted IP literal or allow-listed."""
    host = urlsplit(url).hostname
    if host is None:
        return None  # already reported as a malformed URL
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        if host == "localhost" or policy.host_is_allow_listed(host):
            return None
        return (
            f"{variable}: host {host!r} is not allow-listed under TRSTCTL_AIRGAP_ENABLED=true, "
            f"add it to TRSTCTL_AIRGAP_ALLOW_HOSTS (it must resolve to a private address) "
            "or use a private IP address"
        )
    decision = policy.decide(ip)
    if decision.allowed:
        return None
    return (
        f"{variable}: {host} is not reachable under TRSTCTL_AIRGAP_ENABLED=true "
        f"({decision.reason.value}): use a private or loopback address, or add it to "
        "TRSTCTL_AIRGAP_ALLOW_CIDRS"
    )


def airgap_problems(settings: Settings) -> list[str]:
    """Every air-gap rule the settings break, each naming its variable."""
    airgap = settings.airgap_enabled
    problems: list[str] = []

    for entry in settings.airgap_allow_hosts:
        why = _host_entry_problem(entry)
        if why is not None:
            problems.append(f"TRSTCTL_AIRGAP_ALLOW_HOSTS: {entry!r} {why}")
    cidr_problems, valid_cidrs = _cidr_problems(settings.airgap_allow_cidrs, airgap)
    problems.extend(cidr_problems)

    otlp = settings.otlp_endpoint
    if settings.otlp_enabled and not otlp:
        problems.append("TRSTCTL_OTLP_ENDPOINT is required when TRSTCTL_OTLP_ENABLED=true")
    otlp_insecure = None if settings.otlp_insecure else "TRSTCTL_OTLP_INSECURE"
    otlp_url_problem = (
        _url_problem("TRSTCTL_OTLP_ENDPOINT", otlp, insecure_variable=otlp_insecure)
        if otlp
        else None
    )
    if otlp_url_problem:
        problems.append(otlp_url_problem)

    ai_mode = settings.ai_model_mode.value
    ai_url = settings.ai_model_endpoint
    if ai_mode == "local":
        if settings.ai_model_runtime is None:
            problems.append(
                "TRSTCTL_AI_MODEL_RUNTIME (ollama or vllm) is required when "
                "TRSTCTL_AI_MODEL_MODE=local"
            )
        if not ai_url:
            problems.append(
                "TRSTCTL_AI_MODEL_ENDPOINT is required when TRSTCTL_AI_MODEL_MODE=local"
            )
    ai_url_problem = (
        _url_problem("TRSTCTL_AI_MODEL_ENDPOINT", ai_url, insecure_variable=None)
        if ai_url
        else None
    )
    if ai_url_problem:
        problems.append(ai_url_problem)

    if settings.telemetry_endpoint:
        telemetry_url_problem = _url_problem(
            "TRSTCTL_TELEMETRY_ENDPOINT", settings.telemetry_endpoint, insecure_variable=None
        )
        if telemetry_url_problem:
            problems.append(telemetry_url_problem)

    if not airgap:
        return problems

    # -- posture under air-gap ---------------------------------------------------------
    if settings.telemetry_enabled:
        problems.append(
            "TRSTCTL_TELEMETRY_ENABLED=true is not allowed with TRSTCTL_AIRGAP_ENABLED=true "
            "(product telemetry would phone home): set TRSTCTL_TELEMETRY_ENABLED=false"
        )
    if ai_mode == "cloud":
        problems.append(
            "TRSTCTL_AI_MODEL_MODE=cloud is not allowed with TRSTCTL_AIRGAP_ENABLED=true, even "
            "if its host is allow-listed, use TRSTCTL_AI_MODEL_MODE=local or off"
        )
    policy = Policy.build(
        enabled=True,
        allow_private=settings.airgap_allow_private,
        allow_hosts=[h for h in settings.airgap_allow_hosts if _host_entry_problem(h) is None],
        allow_cidrs=valid_cidrs,
    )
    if settings.otlp_enabled and otlp and otlp_url_problem is None:
        reach = _endpoint_problem("TRSTCTL_OTLP_ENDPOINT", otlp, policy)
        if reach:
            problems.append(reach)
    if ai_mode == "local" and ai_url and ai_url_problem is None:
        reach = _endpoint_problem("TRSTCTL_AI_MODEL_ENDPOINT", ai_url, policy)
        if reach:
            problems.append(reach)
    problems.extend(_datastore_problems(settings, policy))
    return problems


def _datastore_problems(settings: Settings, policy: Policy) -> list[str]:
    """External NATS/PostgreSQL given as an IP the guard would refuse: fail now, not later."""
    targets: list[tuple[str, str]] = []
    if settings.nats_mode.value == "external" and settings.nats_url:
        targets += [("TRSTCTL_NATS_URL", url.strip()) for url in settings.nats_url.split(",")]
    if settings.postgres_mode.value == "external" and settings.postgres_dsn is not None:
        targets.append(("TRSTCTL_POSTGRES_DSN", settings.postgres_dsn.get_secret_value()))
    problems: list[str] = []
    for variable, url in targets:
        try:
            host = urlsplit(url).hostname
            ip = ipaddress.ip_address(host or "")
        except ValueError:
            continue  # names are decided at connect time, on the address they resolve to
        decision = policy.decide(ip)
        if not decision.allowed:
            problems.append(
                f"{variable}: {ip} is not reachable under TRSTCTL_AIRGAP_ENABLED=true "
                f"({decision.reason.value}): use a private address or TRSTCTL_AIRGAP_ALLOW_CIDRS"
            )
    return problems
