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


def configure_logging() -> None:
    """Send log lines (firefly's and the served functions') to stderr with their request id.

    Called by the ``firefly`` command and by ``firefly.main`` under gunicorn,
    never on import: library code leaves logging to the application.
    """
    root = logging.getLogger()
    if any(handler.get_name() == HANDLER_NAME for handler in root.handlers):
        return
    handler = logging.StreamHandler()
    handler.set_name(HANDLER_NAME)
    handler.setFormatter(logging.Formatter(LOG_FORMAT, TIME_FORMAT))
    handler.addFilter(RequestIdFilter())
    root.addHandler(handler)
    if root.getEffectiveLevel() > logging.INFO:
        root.setLevel(logging.INFO)
