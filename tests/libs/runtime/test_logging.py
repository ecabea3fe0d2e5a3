"""structlog configuration: JSON vs console, levels, contextvars, stdlib routing."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog
from trstctl.runtime.logging import configure, configure_logging, wants_json
from trstctl.runtime.settings import LogFormat, load_settings


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    structlog.contextvars.clear_contextvars()
    structlog.reset_defaults()
    root.handlers[:] = handlers
    root.setLevel(level)


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line]


def test_json_lines_carry_bound_contextvars() -> None:
    """A correlation id bound through contextvars appears in every JSON line."""
    out = io.StringIO()
    configure(log_format=LogFormat.JSON, stream=out)
    structlog.contextvars.bind_contextvars(correlation_id="c-1", event_id="e-1")
    structlog.get_logger("t").info("appended", seq=7)
    [line] = _lines(out)
    assert line["event"] == "appended"
    assert line["seq"] == 7
    assert line["correlation_id"] == "c-1"
    assert line["event_id"] == "e-1"
    assert line["level"] == "info"
    assert "timestamp" in line


def test_stdlib_logging_is_routed_through_structlog() -> None:
    """A library's stdlib log record becomes a JSON line with the bound context."""
    out = io.StringIO()
    configure(log_format=LogFormat.JSON, stream=out)
    structlog.contextvars.bind_contextvars(correlation_id="c-2")
    logging.getLogger("some.library").warning("disk %s", "full")
    [line] = _lines(out)
    assert line == line | {"event": "disk full", "level": "warning", "correlation_id": "c-2"}
    assert line["logger"] == "some.library"


def test_level_from_settings_filters_lower_levels() -> None:
    """TRSTCTL_LOG_LEVEL=warning drops info lines from structlog and stdlib alike."""
    out = io.StringIO()
    settings = load_settings({"TRSTCTL_LOG_LEVEL": "warning", "TRSTCTL_LOG_FORMAT": "json"})
    configure_logging(settings, stream=out)
    structlog.get_logger("t").info("hidden")
    logging.getLogger("lib").info("hidden too")
    structlog.get_logger("t").warning("shown")
    assert [line["event"] for line in _lines(out)] == ["shown"]


def test_console_format_is_not_json() -> None:
    """TRSTCTL_LOG_FORMAT=console renders human-readable lines."""
    out = io.StringIO()
    configure(log_format=LogFormat.CONSOLE, stream=out)
    structlog.get_logger("t").info("hello", who="world")
    text = out.getvalue()
    assert "hello" in text
    assert "who=world" in text
    with pytest.raises(json.JSONDecodeError):
        json.loads(text.splitlines()[0])


def test_auto_format_is_json_off_a_tty_and_console_on_one() -> None:
    """``auto`` picks JSON for log files and pipes, console for a terminal."""
    assert wants_json(LogFormat.AUTO, io.StringIO())
    assert not wants_json(LogFormat.AUTO, _Tty())
    assert wants_json(LogFormat.JSON, _Tty())
    assert not wants_json(LogFormat.CONSOLE, io.StringIO())


def test_reconfiguring_replaces_the_handler_instead_of_stacking() -> None:
    """Configuring twice writes each line once, to the latest stream only."""
    first, second = io.StringIO(), io.StringIO()
    configure(log_format=LogFormat.JSON, stream=first)
    configure(log_format=LogFormat.JSON, stream=second)
    logging.getLogger("lib").warning("once")
    assert first.getvalue() == ""
    assert len(_lines(second)) == 1


def _fail_holding_a_secret() -> None:
    private_key_pem = "-----BEGIN PRIVATE KEY-----hunter2"  # a local, never to be logged
    raise RuntimeError(f"failed after {len(private_key_pem)} bytes")


@pytest.mark.parametrize("log_format", [LogFormat.JSON, LogFormat.CONSOLE])
def test_logged_tracebacks_never_show_local_variables(log_format: LogFormat) -> None:
    """An exception logged with its traceback does not print the frame's locals."""
    out = io.StringIO()
    configure(log_format=log_format, stream=out)
    try:
        _fail_holding_a_secret()
    except RuntimeError:
        structlog.get_logger("t").exception("failed")
    text = out.getvalue()
    assert "_fail_holding_a_secret" in text  # the traceback is there
    assert "hunter2" not in text
