"""The answers a worker gives by itself: errors met outside the app, in the app's JSON.

A malformed request line, headers past gunicorn's limits, a client too slow
to send its request (408), a body too large (413), too many requests waiting
(503) or a call past the timeout (504) never reach a function. The worker
still answers them as the app answers its own errors, ``{"error": ...}`` with
``X-Request-ID``, and the access log and metrics record them: it calls the
Firefly app's :meth:`~firefly.app.Firefly.server_error_app`, which runs the
request id and telemetry middleware around the error. Under another WSGI app
the answer carries the request id but is recorded nowhere.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from gunicorn.http import errors as parse_errors

from ..errors import HTTPError, error_for_status
from ..middleware.requestid import RequestIdMiddleware
from ..protocol import FUNCTION_KEY, REQUEST_ID_KEY, SERVER_ERROR_KEY, STARTED_KEY
from ..responses import Headers, server_error_response

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication, WSGIEnvironment

#: gunicorn's parse errors that are not a plain 400, as gunicorn itself answers them
_PARSE_ERROR_STATUS: tuple[tuple[type[Exception], int], ...] = (
    (parse_errors.LimitRequestLine, 414),
    (parse_errors.LimitRequestHeaders, 431),
    (parse_errors.UnsupportedTransferCoding, 501),
    (parse_errors.ExpectationFailed, 417),
    (parse_errors.ForbiddenProxyRequest, 403),
    (parse_errors.ConfigurationProblem, 500),
)
_REQUEST_LINE = re.compile(rb"([A-Za-z]{1,20}) (/[^ ?\r\n]{0,2048})[^\r\n]*\r?\n")
_REQUEST_ID = re.compile(rb"\r\nx-request-id[ \t]*:[ \t]*([^\r\n]{1,200})", re.I)


def parse_error(error: Exception) -> HTTPError:
    """The HTTP error for what gunicorn's parser raised on a malformed request."""
    status = next((s for kind, s in _PARSE_ERROR_STATUS if isinstance(error, kind)), 400)
    if isinstance(error, parse_errors.NoMoreData):
        return error_for_status(400, "the request ended before its body did")
    message = str(error) or type(error).__name__
    return error_for_status(status, f"malformed request: {message}")


#: the server-error app under a WSGI app that is not Firefly's
PLAIN_SERVER_ERROR_APP: WSGIApplication = RequestIdMiddleware(server_error_response)


def error_environ(
    head: bytes, client: Any, environ: WSGIEnvironment | None = None
) -> dict[str, Any]:
    """The environ of a request that failed outside the app, from what is known of it.

    ``environ`` is the request's own when it got that far (a call past the
    timeout); otherwise its method, path and X-Request-ID are read from the
    bytes of its ``head`` when they can be.
    """
    if environ is not None:
        keep = ("REQUEST_METHOD", "PATH_INFO", "QUERY_STRING", "REMOTE_ADDR", "SERVER_PROTOCOL")
        known = {key: environ[key] for key in keep if key in environ}
        request_id = environ.get(REQUEST_ID_KEY) or environ.get("HTTP_X_REQUEST_ID")
        if request_id:
            known["HTTP_X_REQUEST_ID"] = request_id
        if FUNCTION_KEY in environ:
            known[FUNCTION_KEY] = environ[FUNCTION_KEY]
        return known
    known = {"REQUEST_METHOD": "-", "PATH_INFO": "-", "SERVER_PROTOCOL": "HTTP/1.1"}
    if isinstance(client, tuple) and client:
        known["REMOTE_ADDR"] = str(client[0])
    line = _REQUEST_LINE.match(head)
    if line:
        known["REQUEST_METHOD"] = line.group(1).decode("ascii")
        known["PATH_INFO"] = line.group(2).decode("latin-1")
    request_id = _REQUEST_ID.search(head)
    if request_id:
        known["HTTP_X_REQUEST_ID"] = request_id.group(1).decode("latin-1").strip()
    return known


def render(
    app: WSGIApplication,
    environ: dict[str, Any],
    error: HTTPError,
    started: float,
    headers: Headers | None = None,
) -> bytes:
    """The whole HTTP/1.1 response ``app`` gives to ``error``, ready to send; it closes.

    :param started: ``time.perf_counter()`` when the request began to arrive.
    """
    environ[SERVER_ERROR_KEY] = (error, headers or [])
    environ[STARTED_KEY] = started
    answer: list[Any] = []

    def start_response(status: str, response_headers: Headers, exc_info: Any = None) -> Callable:
        answer[:] = [status, response_headers]
        return lambda data: None

    body = _collect(app(environ, start_response))
    status, response_headers = answer
    head = f"HTTP/1.1 {status}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in response_headers)
    return head.encode("latin-1") + b"\r\n" + body


def _collect(body: Iterable[bytes]) -> bytes:
    """All of a WSGI body, closed afterwards (which is when telemetry records the request)."""
    try:
        return b"".join(body)
    finally:
        close_body(body)


def close_body(body: Any) -> None:
    """Close a WSGI response body, as a server must once it is sent (or given up)."""
    close = getattr(body, "close", None)
    if close is not None:
        close()
