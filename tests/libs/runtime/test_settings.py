"""Settings: strict parsing, every problem named by its variable."""

from __future__ import annotations

import pytest
from trstctl.runtime.settings import NatsMode, SettingsError, load_settings, settings_problems


def test_defaults_run_everything_embedded() -> None:
    """With no variables, NATS is embedded and PostgreSQL bundled, bound to loopback."""
    settings = load_settings({})
    assert settings.nats_mode is NatsMode.EMBEDDED
    assert settings.postgres_mode.value == "bundled"
    assert settings.gateway_host == "127.0.0.1"
    assert settings.airgap_enabled is False
    assert settings.airgap_allow_private is True


@pytest.mark.parametrize("value", ["yes", "no", "1", "0", "on", "ture", ""])
def test_booleans_are_strict(value: str) -> None:
    """Only true/false parse; `yes` or a typo is an error naming the variable."""
    with pytest.raises(SettingsError) as caught:
        load_settings({"TRSTCTL_AIRGAP_ENABLED": value})
    assert any(p.startswith("TRSTCTL_AIRGAP_ENABLED:") for p in caught.value.problems)


@pytest.mark.parametrize(("value", "expected"), [("true", True), ("FALSE", False), ("True", True)])
def test_booleans_accept_true_and_false(value: str, expected: bool) -> None:
    """true/false parse in any case."""
    assert load_settings({"TRSTCTL_TELEMETRY_ENABLED": value}).telemetry_enabled is expected


def test_misspelt_variable_is_reported() -> None:
    """An unknown TRSTCTL_* variable (a typo) is an error, never silently ignored."""
    _, problems = settings_problems({"TRSTCTL_AIRGAP_ENABLD": "true"})
    assert problems == [
        "TRSTCTL_AIRGAP_ENABLD: unknown variable (misspelt? see `trstctl --check-config`)"
    ]


def test_test_harness_variables_are_not_settings() -> None:
    """TRSTCTL_TEST_* variables belong to the test harness and are not typos."""
    settings, problems = settings_problems({"TRSTCTL_TEST_NATS_URL": "nats://127.0.0.1:1"})
    assert problems == []
    assert settings is not None


def test_lists_are_comma_separated() -> None:
    """List settings split on commas and drop blanks."""
    settings = load_settings({"TRSTCTL_AIRGAP_ALLOW_CIDRS": "10.0.0.0/8, 192.168.0.0/16,,"})
    assert settings.airgap_allow_cidrs == ["10.0.0.0/8", "192.168.0.0/16"]


def test_every_problem_is_listed_not_just_the_first() -> None:
    """Several bad variables give several problems, each naming its variable."""
    _, problems = settings_problems(
        {
            "TRSTCTL_NATS_MODE": "cloud",
            "TRSTCTL_GATEWAY_PORT": "99999",
            "TRSTCTL_OTLP_INSECURE": "y",
        }
    )
    named = {p.split(":")[0] for p in problems}
    assert {"TRSTCTL_NATS_MODE", "TRSTCTL_GATEWAY_PORT", "TRSTCTL_OTLP_INSECURE"} <= named


def test_external_modes_need_their_endpoints() -> None:
    """External NATS needs TRSTCTL_NATS_URL; external PostgreSQL needs TRSTCTL_POSTGRES_DSN."""
    _, problems = settings_problems(
        {"TRSTCTL_NATS_MODE": "external", "TRSTCTL_POSTGRES_MODE": "external"}
    )
    assert any("TRSTCTL_NATS_URL" in p for p in problems)
    assert any("TRSTCTL_POSTGRES_DSN" in p for p in problems)


def test_dsn_is_kept_secret_in_repr() -> None:
    """The PostgreSQL DSN (it holds a password) never shows in a repr."""
    settings = load_settings(
        {"TRSTCTL_POSTGRES_MODE": "external", "TRSTCTL_POSTGRES_DSN": "postgresql://u:s3cret@db/x"}
    )
    assert "s3cret" not in repr(settings)
    assert settings.postgres_dsn is not None
    assert settings.postgres_dsn.get_secret_value().endswith("@db/x")


def test_a_given_environment_is_read_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """load_settings(environ) reads only that mapping, never os.environ behind it."""
    monkeypatch.setenv("TRSTCTL_AIRGAP_ENABLED", "yes")
    assert load_settings({}).airgap_enabled is False


def test_bad_field_does_not_hide_cross_field_problems() -> None:
    """A malformed boolean and a forbidden air-gap combination are both reported."""
    _, problems = settings_problems(
        {
            "TRSTCTL_AIRGAP_ENABLED": "true",
            "TRSTCTL_TELEMETRY_ENABLED": "true",
            "TRSTCTL_OTLP_INSECURE": "yes",
        }
    )
    assert any(p.startswith("TRSTCTL_OTLP_INSECURE:") for p in problems)
    assert any("TRSTCTL_TELEMETRY_ENABLED" in p for p in problems)
