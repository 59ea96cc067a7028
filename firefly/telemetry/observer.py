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

from ..protocol import (
    ABANDONED_KEY,
    EXCEPTION_KEY,
    EXECUTION_KEY,
    FUNCTION_KEY,
    REQUEST_ID_KEY,
    STARTED_KEY,
)

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
    execution: str | None = None  #: id of the execution the request started (a 202)


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
        exchange = _Exchange(self.finished, environ, start_response)
        for started in self.started:
            started()
        try:
            exchange.body = self.app(environ, exchange.start_response)
        except BaseException:
            exchange.status = 500  # what the server answers to an app that raised
            exchange.report()
            raise
        return exchange


class _Exchange:
    """One request on its way through the app: the response's status, then its body.

    It is the response body the server sends: it counts the bytes and, when
    the server closes it (after the last byte is sent), reports the request.
    One object per request, so that the request path allocates no closures.
    """

    __slots__ = ("_respond", "arrived", "body", "environ", "finished", "sent", "start", "status")

    def __init__(
        self,
        finished: Sequence[Callable[[RequestRecord], None]],
        environ: WSGIEnvironment,
        start_response: StartResponse,
    ):
        self.arrived = time.time()
        self.start = time.perf_counter()
        self.finished = finished
        self.environ = environ
        self._respond = start_response
        self.status = 500  # until the app starts its response
        self.body: Iterable[bytes] = ()
        self.sent = 0

    def start_response(
        self, status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Any:
        """The ``start_response`` the app calls: notes the status and passes the call on."""
        self.status = int(status[:3])
        return self._respond(status, headers, exc_info)

    def __iter__(self) -> Iterator[bytes]:
        body = self.body
        if isinstance(body, list):  # a function's answer: its size is known, no need to count
            self.sent = sum(map(len, body))
            return iter(body)
        return self._counted(body)

    def _counted(self, body: Iterable[bytes]) -> Iterator[bytes]:
        for chunk in body:
            self.sent += len(chunk)
            yield chunk

    def close(self) -> None:
        """Close the app's body, then report the request (the server calls this once sent)."""
        try:
            close = getattr(self.body, "close", None)
            if close is not None:
                close()
        finally:
            self.report()

    def report(self) -> None:
        """Give the record of the finished request to the observers.

        A call the server answered 504 is left out: its record is the 504's.
        An error the server answers itself is timed from when the request
        began to arrive, which the server gives as ``firefly.started``.
        """
        environ = self.environ
        if ABANDONED_KEY in environ:
            return
        start = environ.get(STARTED_KEY, self.start)
        record = RequestRecord(
            self.arrived - (self.start - start),
            environ.get(REQUEST_ID_KEY, ""),
            environ.get("REQUEST_METHOD", ""),
            environ.get("PATH_INFO", ""),
            environ.get(FUNCTION_KEY),
            self.status,
            time.perf_counter() - start,
            self.sent,
            environ.get("REMOTE_ADDR", ""),
            environ.get(EXCEPTION_KEY),
            environ.get(EXECUTION_KEY),
        )
        for finished in self.finished:
            finished(record)
