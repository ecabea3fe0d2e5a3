"""structlog, configured once per process, with stdlib logging routed through it.

JSON lines when stderr is not a terminal (a service under ``trstctl up`` writes to a
log file) or when ``TRSTCTL_LOG_FORMAT=json``; a readable console format otherwise.
Values bound with ``structlog.contextvars.bind_contextvars`` (correlation and event
ids) are merged into every line, including lines that libraries log through stdlib
``logging``.
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO

import structlog
import structlog.tracebacks
from structlog.typing import Processor
from trstctl.runtime.settings import LogFormat, Settings


class _TrstctlHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The one handler ``configure`` installs (recognised so a second call replaces it)."""


def wants_json(log_format: LogFormat, stream: TextIO) -> bool:
    """Whether to render JSON: asked for, or ``auto`` on something that is not a TTY."""
    if log_format is LogFormat.AUTO:
        return not stream.isatty()
    return log_format is LogFormat.JSON


def configure_logging(settings: Settings, *, stream: TextIO | None = None) -> None:
    """Configure structlog and the stdlib root logger from ``settings``."""
    configure(level=settings.log_level, log_format=settings.log_format, stream=stream)


def configure(
    *, level: str = "info", log_format: LogFormat = LogFormat.AUTO, stream: TextIO | None = None
) -> None:
    """Configure logging explicitly (``configure_logging`` is the settings-driven entry).

    Calling it again replaces the previous configuration rather than stacking handlers,
    so a test can reconfigure onto its own stream.
    """
    out = stream if stream is not None else sys.stderr
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Processor
    # Tracebacks never carry local variables: a frame's locals may hold key material
    # (structlog's dict tracebacks, and rich when installed, show them by default).
    if wants_json(log_format, out):
        renderer = structlog.processors.JSONRenderer()
        shared.append(
            structlog.processors.ExceptionRenderer(
                structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
            )
        )
    else:
        renderer = structlog.dev.ConsoleRenderer(
            colors=out.isatty(), exception_formatter=structlog.dev.plain_traceback
        )
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        # Not cached: module-level loggers must follow a later reconfiguration.
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = _TrstctlHandler(out)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    # Replace only our own handler: others (pytest's capture, say) are not ours to drop.
    for old in [h for h in root.handlers if isinstance(h, _TrstctlHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # aiohttp logs every request at INFO; health probes would drown the service's own lines.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
