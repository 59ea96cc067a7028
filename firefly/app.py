"""The firefly application: a Flask app whose functions are served on a fast path.

``Firefly`` is a :class:`flask.Flask`: user routes, blueprints and extensions
work as in any Flask app. Function calls do not go through Flask's dispatch:
:meth:`Firefly.wsgi_app` sends them to the :mod:`firefly.dispatch` endpoints,
and every other request (index, health checks, OpenAPI, docs, metrics, user
routes) to Flask. The middleware (request id, telemetry, CORS, token) is
assembled once, when the first request arrives or :meth:`Firefly.prepare` is
called; from then on the app is locked and adding functions raises an error.
"""

from __future__ import annotations

import dataclasses
import functools
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, overload

import flask
from flask.sansio.scaffold import setupmethod
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound, RequestEntityTooLarge
from werkzeug.sansio.response import Response

from . import health
from .accesslog import AccessLog, open_sink
from .auth import TokenAuthMiddleware
from .config import Config, parse_origins
from .cors import CorsMiddleware
from .dispatch import FunctionDispatcher, FunctionEndpoint
from .docspage import ASSETS_PREFIX, DOCS_PATH, docs_blueprint
from .encoding import FireflyJSONProvider
from .errors import ConfigError, ServiceUnavailableError, error_for_status
from .metrics import Metrics
from .openapi import openapi_document
from .protocol import JSON_CONTENT_TYPE, encode_error, too_large_error
from .registry import FunctionSpec, Registry
from .requestid import RequestIdMiddleware
from .telemetry import RequestObserver, TelemetryMiddleware
from .version import __version__

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

F = TypeVar("F", bound=Callable[..., Any])

OPENAPI_PATH = "/openapi.json"
METRICS_PATH = "/-/metrics"
RESERVED_PATHS = ("/", *health.PATHS, OPENAPI_PATH, DOCS_PATH, METRICS_PATH)


class Firefly(flask.Flask):
    """A WSGI application serving Python functions at ``POST /<name>``.

    :param auth_token: token every request must carry (``Authorization: Token ...``).
    :param allowed_origins: origins allowed to call it from a browser (CORS);
        a comma-separated string or a list, ``"*"`` for any.
    :param max_content_length: largest request body accepted, in bytes.
    :param import_name: passed to :class:`flask.Flask`.
    :param settings: a :class:`~firefly.config.Config` to take the other
        settings from (validation, docs, metrics, access log, ...).
    :param options: settings by name, over those of ``settings``, e.g.
        ``Firefly(metrics=False, title="Iris")``.
    """

    json_provider_class = FireflyJSONProvider

    def __init__(
        self,
        auth_token: str | None = None,
        allowed_origins: str | Sequence[str] | None = None,
        *,
        max_content_length: int | None = None,
        import_name: str = "firefly",
        settings: Config | None = None,
        **options: Any,
    ):
        super().__init__(import_name)
        unknown = options.keys() - {field.name for field in dataclasses.fields(Config)}
        if unknown:
            raise TypeError(f"Firefly() got an unknown setting {sorted(unknown)[0]!r}")
        self.settings = dataclasses.replace(settings or Config(), **options)
        self.auth_token = auth_token if auth_token is not None else self.settings.token
        self.allowed_origins = (
            parse_origins(allowed_origins) if allowed_origins else self.settings.allow_origins
        )
        self.max_content_length = max_content_length or self.settings.max_content_length
        self.registry = Registry()
        self.health = health.Health()
        self.metrics: Metrics | None = None
        self._openapi: dict[str, Any] | None = None
        self._stack: WSGIApplication | None = None
        self._stack_lock = threading.Lock()
        self.add_url_rule("/", "index", self.index, methods=["GET"])
        self.add_url_rule(health.ALIVE_PATH, "alive", self.alive, methods=["GET"])
        self.add_url_rule(health.READY_PATH, "ready", self.ready, methods=["GET"])
        if self.settings.docs:
            self.add_url_rule(OPENAPI_PATH, "openapi", self.openapi, methods=["GET"])
            self.register_blueprint(docs_blueprint())
        if self.settings.metrics:
            self.add_url_rule(METRICS_PATH, "metrics", self.serve_metrics, methods=["GET"])
        self.register_error_handler(HTTPException, self.http_error)

    @property
    def title(self) -> str:
        """The API's title (OpenAPI, health checks)."""
        return self.settings.title

    @property
    def api_version(self) -> str:
        """The API's version (OpenAPI, health checks)."""
        return self.settings.api_version

    @property
    def description(self) -> str:
        """The API's description (OpenAPI)."""
        return self.settings.description

    @property
    def public_paths(self) -> frozenset[str]:
        """Paths that need no token even when one is set (health, docs, metrics: by settings)."""
        settings, paths = self.settings, set[str]()
        if not settings.token_for_health:
            paths.update(health.PATHS)
        if settings.docs and not settings.token_for_docs:
            paths.update((OPENAPI_PATH, DOCS_PATH))
        if settings.metrics and not settings.token_for_metrics:
            paths.add(METRICS_PATH)
        return frozenset(paths)

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
        """``GET /``: the app, its version and its functions (the Client reads this).

        A browser (which prefers HTML to JSON) is sent to the docs page instead.
        """
        if self.settings.docs and _prefers_html(flask.request):
            return flask.redirect(flask.request.script_root + DOCS_PATH)
        functions = {spec.name: spec.describe() for spec in self.registry}
        return self.json.response(
            {"app": "firefly", "version": __version__, "functions": functions}
        )

    def alive(self) -> Response:
        """``GET /-/alive``: 200 while the process serves."""
        return self.json.response({"status": "alive", **self._health_details()})

    def ready(self) -> Response:
        """``GET /-/ready``: 200 once warmed up, 503 before and while shutting down."""
        status = self.health.status.value
        if self.health.ready:
            return self.json.response({"status": status, **self._health_details()})
        error = ServiceUnavailableError(
            f"not ready: {status}", status=status, **self._health_details()
        )
        body = encode_error(flask.request.environ, error)
        return self.response_class(body, 503, mimetype=JSON_CONTENT_TYPE)

    def _health_details(self) -> dict[str, Any]:
        return {
            "app": self.title,
            "version": self.api_version,
            "firefly_version": __version__,
            "functions": [spec.name for spec in self.registry],
        }

    def openapi(self) -> Response:
        """``GET /openapi.json``: the OpenAPI 3.1 document, built once."""
        if self._openapi is None:
            self._openapi = openapi_document(self)
        return self.json.response(self._openapi)

    def serve_metrics(self) -> Response:
        """``GET /-/metrics``: Prometheus metrics."""
        assert self.metrics is not None  # made when the stack is assembled, before any request
        body, content_type = self.metrics.render(flask.request.headers.get("Accept"))
        return self.response_class(body, 200, content_type=content_type)

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
        stack = self._stack or self.prepare()
        return stack(environ, start_response)

    def prepare(self) -> WSGIApplication:
        """Assemble the middleware and start the warm-up, once per process; locks the app.

        Runs on the first request, or earlier when the server calls it (the
        ``firefly`` command does, in each worker), so warm-up starts at once.
        """
        with self._stack_lock:  # threads may race to the first request
            return self._stack or self._assemble()

    def _assemble(self) -> WSGIApplication:
        self._got_first_request = True
        settings = self.settings
        endpoints = {
            spec.path: FunctionEndpoint(
                spec, self.max_content_length, spec.options.get("validate", settings.validate)
            )
            for spec in self.registry
        }
        app: WSGIApplication = FunctionDispatcher(endpoints, super().wsgi_app)
        if self.auth_token:
            assets = ASSETS_PREFIX if settings.docs else None
            app = TokenAuthMiddleware(app, self.auth_token, self.public_paths, assets)
        if self.allowed_origins:
            app = CorsMiddleware(app, self.allowed_origins)
        observers = self._observers()
        if observers:
            app = TelemetryMiddleware(app, observers)
        app = RequestIdMiddleware(app)
        self._stack = app
        self.health.start(_warmups(endpoints.values()))
        return app

    def _observers(self) -> list[RequestObserver]:
        settings = self.settings
        observers: list[RequestObserver] = []
        if settings.access_log:
            sink = open_sink(
                settings.access_log, settings.access_log_max_bytes, settings.access_log_backups
            )
            observers.append(AccessLog(sink, json_lines=settings.access_log_format == "json"))
        if settings.metrics:
            self.metrics = Metrics(spec.name for spec in self.registry)
            observers.append(self.metrics)
        return observers


def _prefers_html(request: flask.Request) -> bool:
    return request.accept_mimetypes.best_match([JSON_CONTENT_TYPE, "text/html"]) == "text/html"


def _warmups(endpoints: Iterable[FunctionEndpoint]) -> list[tuple[str, Callable[[], Any]]]:
    """One call per function that has ``warmup`` arguments, validated like a request's."""
    return [
        (endpoint.name, functools.partial(endpoint.call, endpoint.spec.options["warmup"]))
        for endpoint in endpoints
        if endpoint.spec.options.get("warmup") is not None
    ]


def create_app(config: Config) -> Firefly:
    """Build the app a :class:`~firefly.config.Config` describes, importing its functions."""
    app = Firefly(settings=config)
    for function in config.functions:
        options = {
            name: value
            for name, value in (("validate", function.validate), ("warmup", function.warmup))
            if value is not None
        }
        app.add_function(
            FunctionSpec.load(function.function, name=function.name, path=function.path, **options)
        )
    return app
