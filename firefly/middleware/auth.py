"""Token authorization: ``Authorization: Token <token>`` (or ``Bearer``) on every request.

Usage::

    app = TokenAuthMiddleware(app, "abcd1234", public_paths=("/-/alive",))
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from typing import TYPE_CHECKING

from ..errors import AuthenticationError, ForbiddenError
from ..responses import error_response

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

SCHEMES = ("token", "bearer")
CHALLENGE = [("WWW-Authenticate", 'Token realm="firefly"')]


def parse_token(header: str | None) -> str | None:
    """The token of an ``Authorization`` header, or None when it has no Token/Bearer one."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() not in SCHEMES:
        return None
    return token.strip() or None


class TokenAuthMiddleware:
    """Lets a request through only when it carries ``token``; 401 without one, 403 when wrong.

    Paths in ``public_paths``, and paths under one of ``public_prefixes``
    (the docs page's assets), need no token.
    """

    def __init__(
        self,
        app: WSGIApplication,
        token: str,
        public_paths: Iterable[str] = (),
        public_prefixes: Iterable[str] = (),
    ):
        self.app = app
        self.expected = token.encode()
        self.public_paths = frozenset(public_paths)
        self.public_prefixes = tuple(public_prefixes)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path in self.public_paths or (
            self.public_prefixes and path.startswith(self.public_prefixes)
        ):
            return self.app(environ, start_response)
        token = parse_token(environ.get("HTTP_AUTHORIZATION"))
        if token is None:
            error = AuthenticationError(
                "missing token: send the header 'Authorization: Token <token>'"
            )
            return error_response(environ, start_response, error, CHALLENGE)
        if not hmac.compare_digest(token.encode(), self.expected):
            return error_response(environ, start_response, ForbiddenError("invalid token"))
        return self.app(environ, start_response)
