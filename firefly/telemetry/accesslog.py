"""The access log: one line per request, text or JSON, written to a sink.

:class:`AccessLog` is a :class:`~firefly.telemetry.observer.RequestObserver`:
it turns each :class:`~firefly.telemetry.observer.RequestRecord` into one line
and hands it to a :mod:`~firefly.telemetry.logfile` sink (stderr, or a file
rotated safely across worker processes). The request's thread only queues the
record: a :class:`~firefly.telemetry.batch.Batcher` thread formats the lines
and writes them, up to 4 KiB in one ``write``, every few milliseconds.
"""

from __future__ import annotations

import logging
import re
import time
from urllib.parse import quote

from ..config import Config
from ..encoding import dumps
from ..features import Feature
from .batch import Batcher
from .logfile import PIPE_BUF, Sink, open_sink
from .observer import RequestObserver, RequestRecord

__all__ = ["AccessLog", "AccessLogFeature", "clean"]

logger = logging.getLogger(__name__)

#: Longest path logged, in characters once escaped; longer ones are cut and end in ``...``.
MAX_PATH = 1024
#: Longest method, client address, function name or request id logged.
MAX_FIELD = 128
TRUNCATED = "..."
#: Cleaned methods, clients, paths and function names kept, for the lines that repeat them.
CLEANED_KEPT = 1024

# Characters a URL path may hold unescaped (RFC 3986 pchar and "/"), minus "%": a field made
# only of these is logged as it is. Anything else (spaces, quotes, control and non-ASCII
# characters) is percent-encoded, so a line is one line of printable ASCII that splits on spaces.
_URL_SAFE = "/!$&'()*+,;=:@-._~"
_PLAIN = re.compile(r"[A-Za-z0-9/!$&'()*+,;=:@._~-]*").fullmatch


def clean(value: str, limit: int = MAX_FIELD) -> str:
    """``value`` as logged: percent-encoded unless plain, cut to ``limit`` characters, or ``-``."""
    if not value:
        return "-"
    if len(value) <= limit and _PLAIN(value):
        return value
    escaped = quote(value[: limit + 1], safe=_URL_SAFE, encoding="latin-1", errors="replace")
    if len(value) <= limit and len(escaped) <= limit:
        return escaped
    cut = escaped[: limit - len(TRUNCATED)]
    escape_start = cut.rfind("%", len(cut) - 2)  # do not cut through a %XX escape
    return (cut[:escape_start] if escape_start >= 0 else cut) + TRUNCATED


class AccessLog:
    """Writes one line per finished request to ``sink``: ``text`` or ``json`` lines.

    Lines are written in batches off the request's thread; :meth:`close`
    writes those still waiting, then closes the sink.

    A text line reads, field by field (``-`` for an empty one)::

        2026-11-23T04:50:29.123+00:00 127.0.0.1 "POST /square" 200 2B 1.234ms square rid=3f2a

    time (UTC, milliseconds), client address, method and path, status, body
    bytes, duration, function, request id, and ``exc=<class>`` at the end when
    the function raised.
    """

    def __init__(self, sink: Sink, line_format: str = "text"):
        if line_format not in ("text", "json"):
            raise ValueError(f"expected the format 'text' or 'json', got {line_format!r}")
        self.sink = sink
        self._format = self._json_line if line_format == "json" else self._text_line
        # (second, "YYYY-MM-DDTHH:MM:SS") of the last line, in one attribute so that
        # threads replacing it never pair a second with another second's text.
        self._clock: tuple[int, str] = (-1, "")
        self._fields: dict[str, str] = {}  # cleaned field, by value (paths have their own)
        self._paths: dict[str, str] = {}
        self._failed = False
        self._batcher: Batcher[RequestRecord] = Batcher(self.write, "firefly-accesslog")

    def request_started(self) -> None:
        """Nothing to note: the line is written when the request finishes."""

    def request_finished(self, record: RequestRecord) -> None:
        """Queue the line of ``record`` for the next batch."""
        self._batcher.add(record)

    def write(self, records: list[RequestRecord]) -> None:
        """Write the lines of ``records``, whole lines at most PIPE_BUF bytes a ``write``.

        A failing sink is reported once, never raised; its lines are dropped.
        """
        chunk: list[bytes] = []
        size = 0
        for line in map(self._format, records):
            if size + len(line) > PIPE_BUF and chunk:
                self._write(b"".join(chunk))
                chunk, size = [], 0
            chunk.append(line)
            size += len(line)
        if chunk:
            self._write(b"".join(chunk))

    def _write(self, lines: bytes) -> None:
        try:
            self.sink.write(lines)
        except OSError as err:
            if not self._failed:
                self._failed = True
                logger.error("firefly: cannot write the access log: %s", err)

    def flush(self) -> None:
        """Write the lines waiting now, on this thread."""
        self._batcher.flush()

    def close(self) -> None:
        """Write the lines still waiting, then close the sink."""
        self._batcher.stop()
        close = getattr(self.sink, "close", None)
        if close is not None:
            close()

    def format(self, record: RequestRecord) -> bytes:
        """The line of ``record``, ending in a newline."""
        return self._format(record)

    def timestamp(self, when: float) -> str:
        """``when`` (a ``time.time()``) in ISO 8601, UTC, with milliseconds."""
        second, millisecond = divmod(int(when * 1000), 1000)
        cached_second, text = self._clock
        if second != cached_second:
            text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._clock = (second, text)
        return f"{text}.{millisecond:03d}+00:00"

    def _field(self, value: str) -> str:
        """``clean(value)``, remembered: clients, methods and functions repeat."""
        fields = self._fields
        if len(fields) >= CLEANED_KEPT:
            fields.clear()
        cleaned = fields[value] = clean(value)
        return cleaned

    def _path(self, value: str) -> str:
        """``clean(value, MAX_PATH)``, remembered: most requests go to a few paths."""
        paths = self._paths
        if len(paths) >= CLEANED_KEPT:
            paths.clear()
        cleaned = paths[value] = clean(value, MAX_PATH)
        return cleaned

    def _text_line(self, record: RequestRecord) -> bytes:
        fields, paths = self._fields, self._paths
        client, method, path = record.client, record.method, record.path
        function = record.function or ""
        line = (
            f"{self.timestamp(record.time)} {fields.get(client) or self._field(client)}"
            f' "{fields.get(method) or self._field(method)}'
            f' {paths.get(path) or self._path(path)}"'
            f" {record.status} {record.bytes_sent}B {record.duration * 1000:.3f}ms"
            f" {fields.get(function) or self._field(function)} rid={clean(record.request_id)}"
        )
        if record.exception:
            line += f" exc={clean(record.exception)}"
        if record.execution:
            line += f" exec={record.execution}"
        return (line + "\n").encode()

    def _json_line(self, record: RequestRecord) -> bytes:
        fields = {
            "time": self.timestamp(record.time),
            "request_id": clean(record.request_id),
            "method": clean(record.method),
            "path": clean(record.path, MAX_PATH),
            "function": clean(record.function) if record.function else None,
            "status": record.status,
            "duration_ms": round(record.duration * 1000, 3),
            "bytes": record.bytes_sent,
            "client": clean(record.client),
            "exception": clean(record.exception) if record.exception else None,
        }
        if record.execution:
            fields["execution"] = record.execution
        return dumps(fields) + b"\n"


class AccessLogFeature(Feature):
    """Writes the access log: opens its sink when a worker starts, closes it when it stops."""

    def __init__(self, settings: Config):
        if settings.access_log is None:
            raise ValueError("the access log is off: leave the feature out")
        self.settings = settings
        self.log: AccessLog | None = None

    def observer(self) -> RequestObserver | None:
        """The access log, writing to the sink its settings name."""
        settings = self.settings
        assert settings.access_log is not None  # checked when the feature was made
        sink = open_sink(
            settings.access_log, settings.access_log_max_bytes, settings.access_log_backups
        )
        self.log = AccessLog(sink, settings.access_log_format)
        return self.log

    def stop(self) -> None:
        """Write the lines still waiting, then close the sink (after its compressions)."""
        if self.log is not None:
            self.log.close()
