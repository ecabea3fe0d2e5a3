"""Air-gap configuration rules: fail closed at start-up, every message names its variable."""

from __future__ import annotations

import pytest
from trstctl.runtime.settings import SettingsError, load_settings, settings_problems

AIRGAP = {"TRSTCTL_AIRGAP_ENABLED": "true"}
OTLP_SEED = {
    "TRSTCTL_OTLP_ENABLED": "true",
    "TRSTCTL_OTLP_ENDPOINT": "http://otel-collector.observability.svc:4318",
    "TRSTCTL_OTLP_INSECURE": "true",
    "TRSTCTL_AIRGAP_ALLOW_HOSTS": "otel-collector.observability.svc",
}
AI_SEED = {
    "TRSTCTL_AI_MODEL_MODE": "local",
    "TRSTCTL_AI_MODEL_RUNTIME": "ollama",
    "TRSTCTL_AI_MODEL_ENDPOINT": "http://ollama.ai.svc:11434",
    "TRSTCTL_AIRGAP_ALLOW_HOSTS": "ollama.ai.svc",
}
HELM_AIRGAP = {
    "TRSTCTL_AIRGAP_ENABLED": "true",
    "TRSTCTL_AIRGAP_ALLOW_PRIVATE": "true",
    "TRSTCTL_AIRGAP_ALLOW_CIDRS": "10.0.0.0/8,172.16.0.0/12,192.168.0.0/16",
    "TRSTCTL_TELEMETRY_ENABLED": "false",
}


def problems_of(env: dict[str, str]) -> list[str]:
    """All problems settings_problems reports for ``env``."""
    return settings_problems(env)[1]


@pytest.mark.parametrize(
    "env",
    [
        pytest.param({**AIRGAP, **OTLP_SEED}, id="seed-otlp"),
        pytest.param({**AIRGAP, **AI_SEED}, id="seed-local-ai"),
        pytest.param(HELM_AIRGAP, id="seed-helm-configmap"),
        pytest.param(
            {
                **AIRGAP,
                **OTLP_SEED,
                **AI_SEED,
                "TRSTCTL_AIRGAP_ALLOW_HOSTS": "otel-collector.observability.svc,ollama.ai.svc",
            },
            id="seed-both",
        ),
        pytest.param(
            {**AIRGAP, "TRSTCTL_OTLP_ENABLED": "true", "TRSTCTL_OTLP_ENDPOINT": "https://10.2.3.4"},
            id="otlp-private-literal",
        ),
        pytest.param(
            {
                **AIRGAP,
                "TRSTCTL_OTLP_ENABLED": "true",
                "TRSTCTL_OTLP_ENDPOINT": "http://127.0.0.1:4318",
                "TRSTCTL_OTLP_INSECURE": "true",
            },
            id="otlp-loopback",
        ),
        pytest.param(
            {
                **AIRGAP,
                "TRSTCTL_AI_MODEL_MODE": "local",
                "TRSTCTL_AI_MODEL_RUNTIME": "vllm",
                "TRSTCTL_AI_MODEL_ENDPOINT": "http://localhost:8000",
            },
            id="ai-localhost",
        ),
        pytest.param(
            {
                **AIRGAP,
                "TRSTCTL_AIRGAP_ALLOW_PRIVATE": "false",
                "TRSTCTL_AIRGAP_ALLOW_CIDRS": "100.64.0.0/10",
                "TRSTCTL_OTLP_ENABLED": "true",
                "TRSTCTL_OTLP_ENDPOINT": "https://100.64.1.2:4318",
            },
            id="otlp-in-allowed-cidr",
        ),
        pytest.param({"TRSTCTL_TELEMETRY_ENABLED": "true"}, id="telemetry-without-airgap"),
        pytest.param({"TRSTCTL_AI_MODEL_MODE": "cloud"}, id="cloud-ai-without-airgap"),
        pytest.param({"TRSTCTL_AIRGAP_ALLOW_HOSTS": "pg.internal,10.0.0.5"}, id="host-and-ip"),
        pytest.param({**AIRGAP, "TRSTCTL_AIRGAP_ALLOW_HOSTS": "PG.Internal."}, id="fqdn-dot"),
        pytest.param(
            {
                **AIRGAP,
                "TRSTCTL_NATS_MODE": "external",
                "TRSTCTL_NATS_URL": "nats://10.0.0.9:4222",
                "TRSTCTL_POSTGRES_MODE": "external",
                "TRSTCTL_POSTGRES_DSN": "postgres://u:p@pg.internal:5432/trstctl",
            },
            id="private-datastores",
        ),
    ],
)
def test_accepted(env: dict[str, str]) -> None:
    """Valid air-gap combinations, including the seed's own examples, load cleanly."""
    assert problems_of(env) == []
    load_settings(env)


REJECTED: list[tuple[str, dict[str, str], list[str]]] = [
    # (id, env, substrings the one reported problem must contain)
    (
        "telemetry-under-airgap",
        {**AIRGAP, "TRSTCTL_TELEMETRY_ENABLED": "true"},
        ["TRSTCTL_TELEMETRY_ENABLED"],
    ),
    ("cloud-ai-under-airgap", {**AIRGAP, "TRSTCTL_AI_MODEL_MODE": "cloud"}, ["cloud"]),
    (
        "cloud-ai-even-if-allow-listed",
        {
            **AIRGAP,
            "TRSTCTL_AI_MODEL_MODE": "cloud",
            "TRSTCTL_AI_MODEL_ENDPOINT": "https://api.example.com",
            "TRSTCTL_AIRGAP_ALLOW_HOSTS": "api.example.com",
        },
        ["TRSTCTL_AI_MODEL_MODE=cloud", "allow-listed"],
    ),
    (
        "allow-hosts-url",
        {"TRSTCTL_AIRGAP_ALLOW_HOSTS": "https://mirror.internal"},
        ["TRSTCTL_AIRGAP_ALLOW_HOSTS", "URL"],
    ),
    (
        "allow-hosts-port",
        {**AIRGAP, "TRSTCTL_AIRGAP_ALLOW_HOSTS": "mirror.internal:443"},
        ["TRSTCTL_AIRGAP_ALLOW_HOSTS", "port"],
    ),
    (
        "allow-hosts-wildcard",
        {**AIRGAP, "TRSTCTL_AIRGAP_ALLOW_HOSTS": "*.svc.cluster.local"},
        ["TRSTCTL_AIRGAP_ALLOW_HOSTS", "wildcard"],
    ),
    (
        "allow-hosts-path",
        {**AIRGAP, "TRSTCTL_AIRGAP_ALLOW_HOSTS": "mirror.internal/v2"},
        ["TRSTCTL_AIRGAP_ALLOW_HOSTS"],
    ),
    (
        "allow-hosts-bad-name",
        {**AIRGAP, "TRSTCTL_AIRGAP_ALLOW_HOSTS": "bad host!"},
        ["TRSTCTL_AIRGAP_ALLOW_HOSTS", "not a valid host name"],
    ),
    (
        "bad-cidr-without-airgap",
        {"TRSTCTL_AIRGAP_ALLOW_CIDRS": "10.0.0.0/33"},
        ["TRSTCTL_AIRGAP_ALLOW_CIDRS", "10.0.0.0/33"],
    ),
    (
        "cidr-host-bits",
        {**AIRGAP, "TRSTCTL_AIRGAP_ALLOW_CIDRS": "10.0.0.1/8"},
        ["TRSTCTL_AIRGAP_ALLOW_CIDRS", "host bits"],
    ),
    (
        "cidr-not-an-ip",
        {**AIRGAP, "TRSTCTL_AIRGAP_ALLOW_CIDRS": "private"},
        ["TRSTCTL_AIRGAP_ALLOW_CIDRS"],
    ),
    (
        "cidr-whole-internet",
        {**AIRGAP, "TRSTCTL_AIRGAP_ALLOW_CIDRS": "0.0.0.0/0"},
        ["TRSTCTL_AIRGAP_ALLOW_CIDRS", "whole internet"],
    ),
    (
        "airgap-yes",
        {"TRSTCTL_AIRGAP_ENABLED": "yes"},
        ["TRSTCTL_AIRGAP_ENABLED", "'true' or 'false'"],
    ),
    (
        "otlp-plain-http-without-insecure",
        {
            **AIRGAP,
            "TRSTCTL_OTLP_ENABLED": "true",
            "TRSTCTL_OTLP_ENDPOINT": "http://10.0.0.3:4318",
        },
        ["TRSTCTL_OTLP_ENDPOINT", "TRSTCTL_OTLP_INSECURE=true"],
    ),
    (
        "otlp-plain-http-without-airgap",
        {"TRSTCTL_OTLP_ENDPOINT": "http://collector.example:4318"},
        ["TRSTCTL_OTLP_INSECURE"],
    ),
    (
        "otlp-not-a-url",
        {"TRSTCTL_OTLP_ENABLED": "true", "TRSTCTL_OTLP_ENDPOINT": "collector:4318"},
        ["TRSTCTL_OTLP_ENDPOINT", "http://"],
    ),
    (
        "otlp-enabled-without-endpoint",
        {"TRSTCTL_OTLP_ENABLED": "true"},
        ["TRSTCTL_OTLP_ENDPOINT", "required"],
    ),
    (
        "otlp-host-not-allow-listed",
        {**OTLP_SEED, **AIRGAP, "TRSTCTL_AIRGAP_ALLOW_HOSTS": ""},
        ["TRSTCTL_OTLP_ENDPOINT", "TRSTCTL_AIRGAP_ALLOW_HOSTS"],
    ),
    (
        "otlp-public-ip",
        {**AIRGAP, "TRSTCTL_OTLP_ENABLED": "true", "TRSTCTL_OTLP_ENDPOINT": "https://8.8.8.8"},
        ["TRSTCTL_OTLP_ENDPOINT", "public"],
    ),
    (
        "otlp-private-ip-private-off",
        {
            **AIRGAP,
            "TRSTCTL_AIRGAP_ALLOW_PRIVATE": "false",
            "TRSTCTL_OTLP_ENABLED": "true",
            "TRSTCTL_OTLP_ENDPOINT": "https://10.1.1.1",
        },
        ["TRSTCTL_OTLP_ENDPOINT", "private-not-allowed"],
    ),
    (
        "ai-local-without-runtime",
        {**AI_SEED, "TRSTCTL_AI_MODEL_RUNTIME": ""},
        ["TRSTCTL_AI_MODEL_RUNTIME"],
    ),
    (
        "ai-local-without-endpoint",
        {"TRSTCTL_AI_MODEL_MODE": "local", "TRSTCTL_AI_MODEL_RUNTIME": "ollama"},
        ["TRSTCTL_AI_MODEL_ENDPOINT", "required"],
    ),
    (
        "ai-local-host-not-allow-listed",
        {**AI_SEED, **AIRGAP, "TRSTCTL_AIRGAP_ALLOW_HOSTS": "other.svc"},
        ["TRSTCTL_AI_MODEL_ENDPOINT", "TRSTCTL_AIRGAP_ALLOW_HOSTS"],
    ),
    (
        "ai-bad-runtime",
        {**AI_SEED, "TRSTCTL_AI_MODEL_RUNTIME": "llamacpp"},
        ["TRSTCTL_AI_MODEL_RUNTIME"],
    ),
    (
        "nats-public-ip-under-airgap",
        {**AIRGAP, "TRSTCTL_NATS_MODE": "external", "TRSTCTL_NATS_URL": "nats://8.8.8.8:4222"},
        ["TRSTCTL_NATS_URL", "public"],
    ),
    (
        "postgres-public-ip-under-airgap",
        {
            **AIRGAP,
            "TRSTCTL_POSTGRES_MODE": "external",
            "TRSTCTL_POSTGRES_DSN": "postgres://u:s3cret@9.9.9.9:5432/db",
        },
        ["TRSTCTL_POSTGRES_DSN", "public"],
    ),
    (
        "misspelt-airgap-knob",
        {"TRSTCTL_AIRGAP_ENABLE": "true"},
        ["TRSTCTL_AIRGAP_ENABLE", "unknown variable"],
    ),
]


@pytest.mark.parametrize(
    ("env", "needles"), [pytest.param(env, needles, id=name) for name, env, needles in REJECTED]
)
def test_rejected(env: dict[str, str], needles: list[str]) -> None:
    """Each bad combination is refused with one message naming the variable at fault."""
    problems = problems_of(env)
    assert len(problems) == 1, problems
    for needle in needles:
        assert needle in problems[0]
    with pytest.raises(SettingsError) as caught:
        load_settings(env)
    assert caught.value.problems == problems


def test_every_problem_is_reported_at_once() -> None:
    """Several mistakes are reported together, not one per start-up attempt."""
    env = {
        **AIRGAP,
        "TRSTCTL_TELEMETRY_ENABLED": "true",
        "TRSTCTL_AI_MODEL_MODE": "cloud",
        "TRSTCTL_AIRGAP_ALLOW_CIDRS": "10.0.0.0/33,192.168.0.0/16",
        "TRSTCTL_AIRGAP_ALLOW_HOSTS": "https://x.internal,ok.internal",
    }
    problems = problems_of(env)
    joined = "\n".join(problems)
    assert len(problems) == 4, problems
    for variable in (
        "TRSTCTL_TELEMETRY_ENABLED",
        "TRSTCTL_AI_MODEL_MODE",
        "TRSTCTL_AIRGAP_ALLOW_CIDRS",
        "TRSTCTL_AIRGAP_ALLOW_HOSTS",
    ):
        assert variable in joined


def test_no_secret_in_messages() -> None:
    """A DSN's password never appears in a problem message."""
    env = {
        **AIRGAP,
        "TRSTCTL_POSTGRES_MODE": "external",
        "TRSTCTL_POSTGRES_DSN": "postgres://u:s3cret@9.9.9.9:5432/db",
    }
    assert "s3cret" not in "\n".join(problems_of(env))
