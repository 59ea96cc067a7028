"""X-Request-ID: taken from the request when it is safe, generated otherwise, sent back always.

Usage::

    app = RequestIdMiddleware(app)  # outermost, so that every response carries the id
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

from ..logs import current_request_id
from ..protocol import REQUEST_ID_KEY
from ..responses import adding_headers

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

HEADER = "X-Request-ID"
MAX_LENGTH = 128
_SAFE = re.compile(rf"[A-Za-z0-9._:@/+=-]{{1,{MAX_LENGTH}}}").fullmatch


def request_id_from(header: str | None) -> str:
    """The caller's id when it is short and made of safe characters, else a new random one."""
    if header and _SAFE(header):
        return header
    return os.urandom(16).hex()


class RequestIdMiddleware:
    """Puts the request id in ``environ["firefly.request_id"]``, the response headers and the logs.

    Log lines written while the app handles the request carry the id
    (:mod:`firefly.logs`); lines written while a streamed body is sent do not.
    """

    def __init__(self, app: WSGIApplication):
        self.app = app

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request_id = environ[REQUEST_ID_KEY] = request_id_from(environ.get("HTTP_X_REQUEST_ID"))
        token = current_request_id.set(request_id)
        try:
            return self.app(environ, adding_headers(start_response, [(HEADER, request_id)]))
        finally:
            current_request_id.reset(token)
