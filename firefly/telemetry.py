"""What happened to each request, handed to the observers that log and count it.

:class:`TelemetryMiddleware` wraps the whole app once. It notes when a
request arrives, which function it called, the status and size of the
response and how long it took, and gives that :class:`RequestRecord` to each
:class:`RequestObserver` (the access log, the metrics). With no observer
configured the middleware is left out, so it costs nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from .protocol import EXCEPTION_KEY, FUNCTION_KEY, REQUEST_ID_KEY

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment


@dataclass(slots=True)
class RequestRecord:
    """One finished request."""

    time: float  #: ``time.time()`` when the request arrived
    request_id: str
    method: str
    path: str  #: ``PATH_INFO``, without the query string
    function: str | None  #: the function called; None for other routes
    status: int
    duration: float  #: seconds from arrival to the last byte sent
    bytes_sent: int  #: response body bytes
    client: str  #: ``REMOTE_ADDR``
    exception: str | None  #: class name of the exception the function raised


class RequestObserver(Protocol):
    """Something told about every request: the access log, the metrics."""

    def request_started(self) -> None:
        """A request has arrived."""

    def request_finished(self, record: RequestRecord) -> None:
        """A request's response has been sent."""


class TelemetryMiddleware:
    """Times each request and reports it to ``observers`` once its response is sent."""

    def __init__(self, app: WSGIApplication, observers: Sequence[RequestObserver]):
        self.app = app
        self.started = [observer.request_started for observer in observers]
        self.finished = [observer.request_finished for observer in observers]

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        arrived, start = time.time(), time.perf_counter()
        for started in self.started:
            started()
        status_holder: list[int] = [500]

        def start_response_noting_status(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Any:
            status_holder[0] = int(status[:3])
            return start_response(status, headers, exc_info)

        try:
            body = self.app(environ, start_response_noting_status)
        except BaseException:
            self._report(environ, arrived, start, 500, 0)
            raise

        def report_sent(sent: int) -> None:
            self._report(environ, arrived, start, status_holder[0], sent)

        if isinstance(body, list):  # a function's answer: its size is known, no need to count
            return _SentList(body, report_sent)
        return _CountingBody(body, report_sent)

    def _report(
        self, environ: WSGIEnvironment, arrived: float, start: float, status: int, sent: int
    ) -> None:
        record = RequestRecord(
            time=arrived,
            request_id=environ.get(REQUEST_ID_KEY, ""),
            method=environ.get("REQUEST_METHOD", ""),
            path=environ.get("PATH_INFO", ""),
            function=environ.get(FUNCTION_KEY),
            status=status,
            duration=time.perf_counter() - start,
            bytes_sent=sent,
            client=environ.get("REMOTE_ADDR", ""),
            exception=environ.get(EXCEPTION_KEY),
        )
        for finished in self.finished:
            finished(record)


class _SentList:
    """A response body already in memory; reports its size when the server closes it."""

    __slots__ = ("body", "report")

    def __init__(self, body: list[bytes], report: Callable[[int], None]):
        self.body = body
        self.report = report

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.body)

    def close(self) -> None:
        self.report(sum(map(len, self.body)))


class _CountingBody:
    """A streamed response body that counts its bytes and reports when the server closes it."""

    def __init__(self, body: Iterable[bytes], report: Callable[[int], None]):
        self.body = body
        self.report = report
        self.sent = 0

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.body:
            self.sent += len(chunk)
            yield chunk

    def close(self) -> None:
        try:
            close = getattr(self.body, "close", None)
            if close is not None:
                close()
        finally:
            self.report(self.sent)
