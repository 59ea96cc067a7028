"""Firefly's own log lines (not the access log): each carries the request id it belongs to."""

from __future__ import annotations

import logging
from contextvars import ContextVar

LOG_FORMAT = "[%(asctime)s] [%(process)d] [%(levelname)s] [%(request_id)s] %(name)s: %(message)s"
TIME_FORMAT = "%Y-%m-%d %H:%M:%S %z"
HANDLER_NAME = "firefly"

#: The id of the request being served by this thread (or greenlet); "-" between requests.
current_request_id: ContextVar[str] = ContextVar("firefly_request_id", default="-")


class RequestIdFilter(logging.Filter):
    """Adds ``record.request_id``: the id of the request the line was logged for."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id.get()
        return True


def firefly_handler() -> logging.Handler:
    """A handler writing lines to stderr in firefly's format, with their request id."""
    handler = logging.StreamHandler()
    handler.set_name(HANDLER_NAME)
    handler.setFormatter(logging.Formatter(LOG_FORMAT, TIME_FORMAT))
    handler.addFilter(RequestIdFilter())
    return handler


def ensure_firefly_handler() -> None:
    """Make sure firefly's own error lines (a failing function's traceback) reach stderr.

    Called when an app starts serving. When nothing would write the lines of the
    ``firefly`` logger (no handler on it or its parents but a ``NullHandler``), as
    with a ``Firefly`` app served by plain gunicorn, it gets firefly's handler, as
    Flask gives its app logger a default handler. An application that has set up
    logging keeps its own.
    """
    logger = logging.getLogger("firefly")
    current: logging.Logger | None = logger
    while current is not None:
        if any(not isinstance(handler, logging.NullHandler) for handler in current.handlers):
            return
        current = current.parent if current.propagate else None
    logger.addHandler(firefly_handler())


def configure_logging() -> None:
    """Send log lines (firefly's and the served functions') to stderr with their request id.

    Called by the ``firefly`` command and by ``firefly.main`` under gunicorn,
    never on import: library code leaves logging to the application.
    """
    root = logging.getLogger()
    if any(handler.get_name() == HANDLER_NAME for handler in root.handlers):
        return
    root.addHandler(firefly_handler())
    if root.getEffectiveLevel() > logging.INFO:
        root.setLevel(logging.INFO)
