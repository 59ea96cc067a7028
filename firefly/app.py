"""The firefly application: a Flask app whose functions are served on a fast path.

``Firefly`` is a :class:`flask.Flask`: user routes, blueprints and extensions
work as in any Flask app. Function calls do not go through Flask's dispatch:
:meth:`Firefly.wsgi_app` sends them to the :mod:`firefly.dispatch` endpoints,
and every other request to Flask. The middleware (request id, CORS, token) is
assembled once, when the first request arrives; from then on the app is
locked and adding functions raises an error.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, overload

import flask
from flask.sansio.scaffold import setupmethod
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound, RequestEntityTooLarge
from werkzeug.sansio.response import Response

from .auth import TokenAuthMiddleware
from .config import Config, parse_origins
from .cors import CorsMiddleware
from .dispatch import FunctionDispatcher, FunctionEndpoint
from .encoding import FireflyJSONProvider
from .errors import ConfigError, error_for_status
from .protocol import JSON_CONTENT_TYPE, encode_error, too_large_error
from .registry import FunctionSpec, Registry
from .requestid import RequestIdMiddleware
from .version import __version__

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

F = TypeVar("F", bound=Callable[..., Any])

RESERVED_PATHS = ("/",)
DEFAULT_MAX_CONTENT_LENGTH = Config.max_content_length


class Firefly(flask.Flask):
    """A WSGI application serving Python functions at ``POST /<name>``.

    :param auth_token: token every request must carry (``Authorization: Token ...``).
    :param allowed_origins: origins allowed to call it from a browser (CORS);
        a comma-separated string or a list, ``"*"`` for any.
    :param max_content_length: largest request body accepted, in bytes.
    :param import_name: passed to :class:`flask.Flask`.
    """

    json_provider_class = FireflyJSONProvider

    def __init__(
        self,
        auth_token: str | None = None,
        allowed_origins: str | Sequence[str] | None = None,
        *,
        max_content_length: int = DEFAULT_MAX_CONTENT_LENGTH,
        import_name: str = "firefly",
    ):
        super().__init__(import_name)
        self.auth_token = auth_token
        self.allowed_origins = parse_origins(allowed_origins) if allowed_origins else ()
        self.max_content_length = max_content_length
        self.registry = Registry()
        self._stack: WSGIApplication | None = None
        self._stack_lock = threading.Lock()
        self.add_url_rule("/", "index", self.index, methods=["GET"])
        self.register_error_handler(HTTPException, self.http_error)

    @property
    def max_content_length(self) -> int:
        """Largest request body accepted, in bytes: Flask's ``MAX_CONTENT_LENGTH``."""
        return int(self.config["MAX_CONTENT_LENGTH"])

    @max_content_length.setter
    def max_content_length(self, value: int) -> None:
        self.config["MAX_CONTENT_LENGTH"] = value

    @overload
    def function(self, func: F) -> F: ...

    @overload
    def function(
        self, *, name: str | None = None, path: str | None = None, **options: Any
    ) -> Callable[[F], F]: ...

    def function(
        self,
        func: F | None = None,
        *,
        name: str | None = None,
        path: str | None = None,
        **options: Any,
    ) -> F | Callable[[F], F]:
        """Serve the decorated function: ``@app.function`` or ``@app.function(name=, path=)``."""

        def register(func: F) -> F:
            self.add_route(path, func, name, **options)
            return func

        return register(func) if func is not None else register

    @setupmethod
    def add_route(
        self,
        path: str | None,
        function: Callable[..., Any],
        name: str | None = None,
        **options: Any,
    ) -> None:
        """Serve ``function`` at ``path`` (default ``/<name>``) as ``name`` (its ``__name__``)."""
        self.add_function(FunctionSpec.create(function, name=name, path=path, **options))

    @setupmethod
    def add_function(self, spec: FunctionSpec) -> None:
        """Serve a function already described by a :class:`FunctionSpec`."""
        if spec.path in RESERVED_PATHS:
            raise ConfigError(f"path {spec.path!r} of function {spec.name!r} is reserved")
        self.registry.add(spec)

    def index(self) -> Response:
        """``GET /``: the app, its version and its functions (the Client reads this)."""
        functions = {spec.name: spec.describe() for spec in self.registry}
        return self.json.response(
            {"app": "firefly", "version": __version__, "functions": functions}
        )

    def http_error(self, error: HTTPException) -> Response:
        """Answer Flask's HTTP errors in firefly's JSON error format."""
        request = flask.request
        status = error.code or 500
        if isinstance(error, NotFound):
            firefly_error = error_for_status(status, f"no function or route at {request.path!r}")
        elif isinstance(error, MethodNotAllowed):
            message = f"method {request.method} is not allowed for {request.path!r}"
            firefly_error = error_for_status(status, message)
        elif isinstance(error, RequestEntityTooLarge):
            firefly_error = too_large_error(self.max_content_length)
        else:
            firefly_error = error_for_status(status, error.description or error.name)
        response = self.response_class(
            encode_error(request.environ, firefly_error), status, mimetype=JSON_CONTENT_TYPE
        )
        for header, value in error.get_headers():
            if header.lower() != "content-type":
                response.headers[header] = value
        return response

    def wsgi_app(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """Send function calls to their endpoints and everything else to Flask."""
        stack = self._stack or self._build_stack()
        return stack(environ, start_response)

    def _build_stack(self) -> WSGIApplication:
        """Assemble the middleware once (threads may race to it); the app is locked from here on."""
        with self._stack_lock:
            return self._stack or self._assemble()

    def _assemble(self) -> WSGIApplication:
        self._got_first_request = True
        endpoints = {
            spec.path: FunctionEndpoint(spec, self.max_content_length) for spec in self.registry
        }
        app: WSGIApplication = FunctionDispatcher(endpoints, super().wsgi_app)
        if self.auth_token:
            app = TokenAuthMiddleware(app, self.auth_token)
        if self.allowed_origins:
            app = CorsMiddleware(app, self.allowed_origins)
        app = RequestIdMiddleware(app)
        self._stack = app
        return app


def create_app(config: Config) -> Firefly:
    """Build the app a :class:`~firefly.config.Config` describes, importing its functions."""
    app = Firefly(
        auth_token=config.token,
        allowed_origins=config.allow_origins,
        max_content_length=config.max_content_length,
    )
    for function in config.functions:
        app.add_function(
            FunctionSpec.load(function.function, name=function.name, path=function.path)
        )
    return app
