"""The response side of a function call: status lines, JSON, error and file responses.

Like :mod:`firefly.protocol`, it works on WSGI's ``start_response`` directly.
"""

from __future__ import annotations

from collections.abc import Iterable
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from werkzeug.wsgi import wrap_file

from .encoding import dumps
from .errors import HTTPError
from .protocol import REQUEST_ID_KEY, SERVER_ERROR_KEY

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

JSON_CONTENT_TYPE = "application/json"
FILE_CONTENT_TYPE = "application/octet-stream"
STATUS_LINES = {status.value: f"{status.value} {status.phrase}" for status in HTTPStatus}

Headers = list[tuple[str, str]]


def adding_headers(start_response: StartResponse, extra: Headers) -> StartResponse:
    """``start_response`` that appends ``extra`` to every response's headers."""

    def start_response_with_extra(status: str, headers: Headers, exc_info: Any = None) -> Any:
        headers.extend(extra)
        return start_response(status, headers, exc_info)

    return start_response_with_extra


def json_response(
    start_response: StartResponse, status: int, body: bytes, headers: Headers | None = None
) -> list[bytes]:
    """Send an encoded JSON body."""
    response_headers = [
        ("Content-Type", JSON_CONTENT_TYPE),
        ("Content-Length", str(len(body))),
    ]
    if headers:
        response_headers += headers
    start_response(STATUS_LINES.get(status) or f"{status} Error", response_headers)
    return [body]


def error_response(
    environ: WSGIEnvironment,
    start_response: StartResponse,
    error: HTTPError,
    headers: Headers | None = None,
) -> list[bytes]:
    """Send ``error`` as ``{"error": message, ..., "request_id": ...}``."""
    return json_response(start_response, error.status_code, encode_error(environ, error), headers)


def server_error_response(environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
    """Answer the error a server put in ``environ[SERVER_ERROR_KEY]`` as ``(error, headers)``.

    The connection closes after it: the server met the error outside the app.
    """
    error, headers = environ[SERVER_ERROR_KEY]
    return error_response(environ, start_response, error, [*headers, ("Connection", "close")])


def encode_error(environ: WSGIEnvironment, error: HTTPError) -> bytes:
    """The JSON body of an error response, with the request id when there is one."""
    body = error.to_dict()
    request_id = environ.get(REQUEST_ID_KEY)
    if request_id:
        body["request_id"] = request_id
    return dumps(body)


def file_response(
    environ: WSGIEnvironment, start_response: StartResponse, file: Any
) -> Iterable[bytes]:
    """Stream a file object the function returned; the server closes it when done."""
    start_response(STATUS_LINES[200], [("Content-Type", FILE_CONTENT_TYPE)])
    return wrap_file(environ, file)
