"""`trstctl --check-config`: resolved configuration with secrets redacted, or every problem."""

from __future__ import annotations

from typing import Any

import pytest
from trstctl.runtime.checkconfig import main, redact_url, render
from trstctl.runtime.settings import load_settings

SEED_HELM = {
    "TRSTCTL_AIRGAP_ENABLED": "true",
    "TRSTCTL_AIRGAP_ALLOW_PRIVATE": "true",
    "TRSTCTL_AIRGAP_ALLOW_CIDRS": "10.0.0.0/8,172.16.0.0/12,192.168.0.0/16",
    "TRSTCTL_TELEMETRY_ENABLED": "false",
    "TRSTCTL_NATS_MODE": "external",
    "TRSTCTL_NATS_URL": "nats://nats.internal:4222",
    "TRSTCTL_POSTGRES_MODE": "external",
    "TRSTCTL_POSTGRES_DSN": "postgres://user:pass@pg.internal:5432/trstctl?sslmode=require",
}


def as_dict(lines: list[str]) -> dict[str, str]:
    """``key: value`` lines as a mapping."""
    return dict(line.split(": ", 1) if ": " in line else (line.rstrip(":"), "") for line in lines)


def test_render_shows_airgap_posture() -> None:
    """The seed's Helm config renders the air_gap.* lines operators grep for."""
    values = as_dict(render(load_settings(SEED_HELM)))
    assert values["air_gap.enabled"] == "true"
    assert values["air_gap.allow_private"] == "true"
    assert values["air_gap.allow_cidrs"] == "10.0.0.0/8,172.16.0.0/12,192.168.0.0/16"
    assert values["air_gap.allow_hosts"] == ""
    assert values["telemetry.enabled"] == "false"
    assert values["nats.mode"] == "external"
    assert values["postgres.mode"] == "external"
    for key in ("otlp.enabled", "otlp.endpoint", "otlp.insecure", "ai_model.mode"):
        assert key in values


def test_render_redacts_dsn_password() -> None:
    """A DSN prints with its password masked and never in clear."""
    lines = render(load_settings(SEED_HELM))
    text = "\n".join(lines)
    assert ":pass@" not in text
    assert "postgres.dsn: postgres://user:***@pg.internal:5432/trstctl?sslmode=require" in lines


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("nats://u:hunter2@nats.internal:4222", "nats://u:***@nats.internal:4222"),
        ("nats://s3cr3ttoken@nats.internal:4222", "nats://***@nats.internal:4222"),
        (
            "postgres://u@h/db?password=x&sslmode=verify-full",
            "postgres://***@h/db?password=***&sslmode=verify-full",
        ),
        ("http://otel:4318", "http://otel:4318"),
        ("not a url", "not a url"),
    ],
)
def test_redact_url(given: str, expected: str) -> None:
    """URL passwords, bare tokens and password query parameters are masked; the rest stays."""
    assert redact_url(given) == expected


def test_render_masks_non_url_secret() -> None:
    """A secret that is not a URL (libpq key=value DSN) is masked completely."""
    env = {
        "TRSTCTL_POSTGRES_MODE": "external",
        "TRSTCTL_POSTGRES_DSN": "host=pg user=u password=topsecret",
    }
    values = as_dict(render(load_settings(env)))
    assert values["postgres.dsn"] == "***"


def test_render_nats_url_credentials_redacted() -> None:
    """Credentials inside TRSTCTL_NATS_URL never print."""
    env = {"TRSTCTL_NATS_MODE": "external", "TRSTCTL_NATS_URL": "nats://app:hunter2@10.0.0.1:4222"}
    assert "hunter2" not in "\n".join(render(load_settings(env)))


def test_render_seed_otlp_and_ai() -> None:
    """The seed's local collector and local AI examples render their endpoints."""
    env = {
        "TRSTCTL_AIRGAP_ENABLED": "true",
        "TRSTCTL_OTLP_ENABLED": "true",
        "TRSTCTL_OTLP_ENDPOINT": "http://otel-collector.observability.svc:4318",
        "TRSTCTL_OTLP_INSECURE": "true",
        "TRSTCTL_AI_MODEL_MODE": "local",
        "TRSTCTL_AI_MODEL_RUNTIME": "ollama",
        "TRSTCTL_AI_MODEL_ENDPOINT": "http://ollama.ai.svc:11434",
        "TRSTCTL_AIRGAP_ALLOW_HOSTS": "otel-collector.observability.svc,ollama.ai.svc",
    }
    values = as_dict(render(load_settings(env)))
    assert values["otlp.endpoint"] == "http://otel-collector.observability.svc:4318"
    assert values["otlp.insecure"] == "true"
    assert values["ai_model.mode"] == "local"
    assert values["ai_model.runtime"] == "ollama"
    assert values["air_gap.allow_hosts"] == "otel-collector.observability.svc,ollama.ai.svc"


def test_main_valid_prints_and_exits_zero(capsys: Any) -> None:
    """A valid environment prints key: value lines on stdout and returns 0."""
    assert main(SEED_HELM) == 0
    out, err = capsys.readouterr()
    assert err == ""
    air_gap = [line for line in out.splitlines() if "air_gap" in line]
    assert "air_gap.enabled: true" in air_gap
    assert len(air_gap) == 4
    assert "pass@" not in out


def test_main_defaults_are_valid(capsys: Any) -> None:
    """An empty environment is a valid single-machine configuration."""
    assert main({}) == 0
    assert "air_gap.enabled: false" in capsys.readouterr().out


def test_main_reports_every_problem(capsys: Any) -> None:
    """An invalid environment returns non-zero with every problem on stderr."""
    env = {
        "TRSTCTL_AIRGAP_ENABLED": "true",
        "TRSTCTL_TELEMETRY_ENABLED": "true",
        "TRSTCTL_AI_MODEL_MODE": "cloud",
        "TRSTCTL_AIRGAP_ALLOW_CIDRS": "10.0.0.0/33",
        "TRSTCTL_AIRGAP_ALLOW_HOSTS": "https://mirror.internal",
        "TRSTCTL_AIRGAP_ALOW_PRIVATE": "true",
    }
    assert main(env) == 2
    out, err = capsys.readouterr()
    assert out == ""
    for variable in (
        "TRSTCTL_TELEMETRY_ENABLED",
        "TRSTCTL_AI_MODEL_MODE",
        "TRSTCTL_AIRGAP_ALLOW_CIDRS",
        "TRSTCTL_AIRGAP_ALLOW_HOSTS",
        "TRSTCTL_AIRGAP_ALOW_PRIVATE",
    ):
        assert variable in err
    assert "(5 problems)" in err


def test_main_strict_bool(capsys: Any) -> None:
    """TRSTCTL_AIRGAP_ENABLED=yes is an error naming the variable, not a silent false."""
    assert main({"TRSTCTL_AIRGAP_ENABLED": "yes"}) == 2
    assert "TRSTCTL_AIRGAP_ENABLED" in capsys.readouterr().err
