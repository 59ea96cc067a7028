"""Cross-origin resource sharing for browsers calling firefly from other origins.

Preflight requests are answered here, before authorization, since browsers
send them without the ``Authorization`` header.

Usage::

    app = CorsMiddleware(app, ["https://a.example", "https://b.example"])
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from ..errors import ForbiddenError
from ..responses import STATUS_LINES, adding_headers, error_response

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

ALLOW_METHODS = "GET, POST, OPTIONS"
DEFAULT_ALLOW_HEADERS = "Authorization, Content-Type, X-Request-ID"
EXPOSE_HEADERS = "X-Request-ID"
MAX_AGE = "600"


class CorsMiddleware:
    """Adds CORS headers for the ``allow_origins`` (``"*"`` allows every origin)."""

    def __init__(self, app: WSGIApplication, allow_origins: Sequence[str]):
        self.app = app
        self.allow_any = "*" in allow_origins
        self.allow_origins = frozenset(allow_origins)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        origin = environ.get("HTTP_ORIGIN")
        if origin is None:
            return self.app(environ, start_response)
        if environ["REQUEST_METHOD"] == "OPTIONS" and (
            "HTTP_ACCESS_CONTROL_REQUEST_METHOD" in environ
        ):
            return self._preflight(environ, start_response, origin)
        if not self._allows(origin):
            return self.app(environ, start_response)
        cors_headers = self._origin_headers(origin) + [
            ("Access-Control-Expose-Headers", EXPOSE_HEADERS)
        ]
        return self.app(environ, adding_headers(start_response, cors_headers))

    def _allows(self, origin: str) -> bool:
        return self.allow_any or origin in self.allow_origins

    def _origin_headers(self, origin: str) -> list[tuple[str, str]]:
        return [
            ("Access-Control-Allow-Origin", "*" if self.allow_any else origin),
            ("Vary", "Origin"),
        ]

    def _preflight(
        self, environ: WSGIEnvironment, start_response: StartResponse, origin: str
    ) -> Iterable[bytes]:
        if not self._allows(origin):
            error = ForbiddenError(f"origin {origin!r} is not allowed (see allow_origins)")
            return error_response(environ, start_response, error)
        requested_headers = environ.get("HTTP_ACCESS_CONTROL_REQUEST_HEADERS")
        headers = self._origin_headers(origin) + [
            ("Access-Control-Allow-Methods", ALLOW_METHODS),
            ("Access-Control-Allow-Headers", requested_headers or DEFAULT_ALLOW_HEADERS),
            ("Access-Control-Max-Age", MAX_AGE),
            ("Content-Length", "0"),
        ]
        start_response(STATUS_LINES[204], headers)
        return []
