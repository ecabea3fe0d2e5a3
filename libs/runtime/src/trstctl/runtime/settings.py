"""The one settings model of every trstctl process.

Every knob is a ``TRSTCTL_*`` environment variable. A process reads its settings
exactly once (``load_settings``) at start-up and passes the frozen object down;
no other module reads ``os.environ``.

Parsing is deliberately strict: a boolean is ``true`` or ``false`` (``yes`` or a
typo is an error, never silently false), lists are comma-separated, and an
unknown ``TRSTCTL_*`` variable is reported because a misspelt air-gap knob must
not quietly leave the guard off.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

ENV_PREFIX = "TRSTCTL_"
# Variables read by the test harness, not by a process's settings.
_NOT_SETTINGS_PREFIXES = ("TRSTCTL_TEST_",)


class SettingsError(Exception):
    """Invalid configuration. ``problems`` names each variable and what is wrong with it."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid configuration:\n" + "\n".join(f"  - {p}" for p in problems))


def _strict_bool(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered == "true":
            return True
        if lowered == "false":
            return False
    raise ValueError(f"must be 'true' or 'false', got {value!r}")


def _comma_list(value: Any) -> Any:
    if value is None:
        return []
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


StrictBool = Annotated[bool, BeforeValidator(_strict_bool)]
CommaList = Annotated[list[str], NoDecode, BeforeValidator(_comma_list)]


class NatsMode(StrEnum):
    EMBEDDED = "embedded"
    EXTERNAL = "external"


class PostgresMode(StrEnum):
    BUNDLED = "bundled"
    EXTERNAL = "external"


class AiModelMode(StrEnum):
    OFF = "off"
    LOCAL = "local"
    CLOUD = "cloud"


class AiModelRuntime(StrEnum):
    OLLAMA = "ollama"
    VLLM = "vllm"


class LogFormat(StrEnum):
    AUTO = "auto"
    JSON = "json"
    CONSOLE = "console"


class Settings(BaseSettings):
    """Resolved configuration of one trstctl process (frozen, read once)."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        case_sensitive=False,
        frozen=True,
        extra="forbid",
        validate_default=True,
    )

    # -- where state lives -------------------------------------------------------
    data_dir: Path = Field(default=Path(".trstctl"), description="Root of local state")

    # -- NATS JetStream ----------------------------------------------------------
    nats_mode: NatsMode = NatsMode.EMBEDDED
    nats_url: str | None = None
    nats_store_dir: Path | None = None
    nats_port: int = Field(default=0, ge=0, le=65535, description="0 = pick a free port")
    nats_replicas: int = Field(default=1, ge=1, le=5)
    nats_duplicate_window_seconds: float = Field(default=120.0, gt=0)
    nats_stream: str = Field(default="TRSTCTL_EVENTS", pattern=r"^[A-Za-z0-9_-]+$")

    # -- PostgreSQL --------------------------------------------------------------
    postgres_mode: PostgresMode = PostgresMode.BUNDLED
    postgres_dsn: SecretStr | None = None
    postgres_data_dir: Path | None = None
    postgres_port: int = Field(default=0, ge=0, le=65535, description="0 = pick a free port")

    # -- processes -----------------------------------------------------------------
    gateway_host: str = "127.0.0.1"
    gateway_port: int = Field(default=8780, ge=0, le=65535)
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(default=0, ge=0, le=65535)
    command_timeout_seconds: float = Field(default=5.0, gt=0)
    log_level: str = Field(default="info", pattern=r"^(?i)(debug|info|warning|error)$")
    log_format: LogFormat = LogFormat.AUTO

    # -- key material ----------------------------------------------------------------
    kek_file: Path | None = None

    # -- air gap -------------------------------------------------------------------
    airgap_enabled: StrictBool = False
    airgap_allow_private: StrictBool = True
    airgap_allow_hosts: CommaList = Field(default_factory=list)
    airgap_allow_cidrs: CommaList = Field(default_factory=list)

    # -- telemetry and observability ----------------------------------------------
    telemetry_enabled: StrictBool = False
    telemetry_endpoint: str | None = None
    telemetry_interval_seconds: float = Field(default=3600.0, gt=0)
    otlp_enabled: StrictBool = False
    otlp_endpoint: str | None = None
    otlp_insecure: StrictBool = False

    # -- AI model --------------------------------------------------------------------
    ai_model_mode: AiModelMode = AiModelMode.OFF
    ai_model_runtime: AiModelRuntime | None = None
    ai_model_endpoint: str | None = None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # ``load_settings`` reads the environment mapping it is given (so --check-config and
        # tests can validate any environment); the model must not read os.environ behind it.
        return (init_settings,)

    @model_validator(mode="after")
    def _cross_field_rules(self) -> Settings:
        problems = cross_field_problems(self)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    # -- derived paths -----------------------------------------------------------------
    @property
    def resolved_nats_store_dir(self) -> Path:
        return self.nats_store_dir or self.data_dir / "nats"

    @property
    def resolved_postgres_data_dir(self) -> Path:
        return self.postgres_data_dir or self.data_dir / "postgres"

    @property
    def resolved_kek_file(self) -> Path:
        return self.kek_file or self.data_dir / "kek.bin"


def cross_field_problems(settings: Settings) -> list[str]:
    """Rules that involve more than one variable; each message names its variables."""
    problems: list[str] = []
    if settings.nats_mode is NatsMode.EXTERNAL and not settings.nats_url:
        problems.append("TRSTCTL_NATS_URL is required when TRSTCTL_NATS_MODE=external")
    if settings.postgres_mode is PostgresMode.EXTERNAL and settings.postgres_dsn is None:
        problems.append("TRSTCTL_POSTGRES_DSN is required when TRSTCTL_POSTGRES_MODE=external")
    # Air-gap rules live beside the guard's configuration checks.
    from trstctl.runtime.airgap_rules import airgap_problems

    problems.extend(airgap_problems(settings))
    return problems


def _env_name(loc: tuple[int | str, ...]) -> str:
    if not loc:
        return "configuration"
    return f"{ENV_PREFIX}{str(loc[0]).upper()}"


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """``TRSTCTL_*`` names in the environment that no setting reads (typos)."""
    known = {f"{ENV_PREFIX}{name.upper()}" for name in Settings.model_fields}
    return sorted(
        key
        for key in environ
        if key.upper().startswith(ENV_PREFIX)
        and not key.upper().startswith(_NOT_SETTINGS_PREFIXES)
        and key.upper() not in known
    )


def settings_problems(environ: Mapping[str, str]) -> tuple[Settings | None, list[str]]:
    """Validate ``environ``; return the settings (if valid) and every problem found."""
    problems = [
        f"{name}: unknown variable (misspelt? see `trstctl --check-config`)"
        for name in unknown_variables(environ)
    ]
    unknown = set(unknown_variables(environ))
    relevant = {
        k: v for k, v in environ.items() if k.upper().startswith(ENV_PREFIX) and k not in unknown
    }
    try:
        settings = _settings_from(relevant)
    except ValidationError as error:
        problems.extend(_messages(error))
        # pydantic skips the cross-field rules when a field is invalid; check them again
        # without the invalid fields, so that every problem is reported at once.
        bad = {
            f"{ENV_PREFIX}{str(item['loc'][0]).upper()}" for item in error.errors() if item["loc"]
        }
        if bad:
            try:
                _settings_from({k: v for k, v in relevant.items() if k.upper() not in bad})
            except ValidationError as rest:
                # A rule about a variable already reported as malformed adds nothing.
                problems.extend(
                    p
                    for p in _messages(rest)
                    if p not in problems and not any(name in p for name in bad)
                )
        return None, problems
    return (settings if not problems else None), problems


def _messages(error: ValidationError) -> list[str]:
    messages: list[str] = []
    for item in error.errors():
        message = str(item["msg"]).removeprefix("Value error, ")
        if item["loc"]:
            messages.append(f"{_env_name(item['loc'])}: {message}")
        else:
            messages.extend(message.split("; "))
    return messages


def _settings_from(environ: Mapping[str, str]) -> Settings:
    # pydantic-settings reads os.environ; we hand it an explicit mapping instead so that
    # tests and `--check-config` can validate any environment without mutating ours.
    known = Settings.model_fields
    values = {
        k[len(ENV_PREFIX) :].lower(): v
        for k, v in environ.items()
        if k[len(ENV_PREFIX) :].lower() in known
    }
    return Settings.model_validate(values)


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read and validate the process settings once; ``SettingsError`` lists every problem."""
    settings, problems = settings_problems(os.environ if environ is None else environ)
    if settings is None:
        raise SettingsError(problems)
    return settings
