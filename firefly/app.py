"""The firefly application: a Flask app whose functions are served on a fast path.

``Firefly`` is a :class:`flask.Flask`: user routes, blueprints and extensions
work as in any Flask app. Function calls do not go through Flask's dispatch:
:meth:`Firefly.wsgi_app` sends them to the :mod:`firefly.dispatch` endpoints,
and every other request (index, health checks, OpenAPI, docs, metrics, user
routes) to Flask.

This module is where the features (:mod:`firefly.features`), chosen from the
settings by :mod:`firefly.enabled`, are assembled, once, when the first request arrives or
:meth:`Firefly.prepare` is called: each function's call pipeline, the
middleware (request id, telemetry, CORS, token), the features' start hooks.
From then on the app is locked and adding functions raises an error.
"""

from __future__ import annotations

import atexit
import threading
import weakref
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, overload

import flask
from werkzeug.exceptions import HTTPException
from werkzeug.sansio.response import Response

from .config import Config, FunctionOptions, with_settings
from .dispatch import FunctionDispatcher, FunctionEndpoint
from .enabled import enabled_features
from .encoding import FireflyJSONProvider
from .errors import ConfigError
from .features import (
    FastRoute,
    Feature,
    Route,
    Service,
    build_invoke,
    public_routes,
    wrap_endpoint,
)
from .logs import ensure_firefly_handler
from .middleware.auth import TokenAuthMiddleware
from .middleware.cors import CorsMiddleware
from .middleware.requestid import RequestIdMiddleware
from .predictionlog import PredictionLogFeature
from .registry import FunctionSpec, Registry
from .responses import server_error_response
from .routes.errors import http_error_response
from .routes.health import Health, HealthFeature
from .telemetry.metrics import Metrics, MetricsFeature
from .telemetry.observer import RequestObserver, TelemetryMiddleware

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

F = TypeVar("F", bound=Callable[..., Any])


class Firefly(flask.Flask):
    """A WSGI application serving Python functions at ``POST /<name>``.

    :param auth_token: token every request must carry (``Authorization: Token ...``);
        the ``token`` setting under the name the original firefly gave it.
    :param allowed_origins: origins allowed to call it from a browser (CORS),
        a comma-separated string or a list, ``"*"`` for any; the ``allow_origins`` setting.
    :param max_content_length: largest request body accepted, in bytes.
    :param import_name: passed to :class:`flask.Flask`.
    :param settings: a :class:`~firefly.config.Config` to take the other
        settings from (validation, docs, metrics, access log, ...).
    :param options: settings by name, over those of ``settings``, e.g.
        ``Firefly(metrics=False, title="Iris")``; each is checked by the same
        parser as in a config file.
    :raises TypeError: an unknown setting.
    :raises ConfigError: a value the setting does not accept.
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
        for keyword, name, value in (
            ("auth_token", "token", auth_token),
            ("allowed_origins", "allow_origins", allowed_origins),
        ):
            if value is not None:
                if options.get(name) is not None:
                    raise TypeError(f"Firefly() got both {keyword!r} and {name!r}: give one")
                options[name] = value
        if max_content_length is not None:
            options["max_content_length"] = max_content_length
        self.settings = with_settings(settings or Config(), options, "Firefly()")
        self.config["MAX_CONTENT_LENGTH"] = self.settings.max_content_length
        self.config["MAX_FORM_PARTS"] = self.settings.max_form_parts
        self.config["MAX_FORM_MEMORY_SIZE"] = self.settings.max_content_length
        self.registry = Registry()
        self.features: tuple[Feature, ...] = ()
        self.routes: tuple[Route, ...] = ()
        self._stack: WSGIApplication | None = None
        self._stack_lock = threading.Lock()
        self._stopped = False
        for feature in enabled_features(self.settings):
            self.add_feature(feature)
        self.register_error_handler(HTTPException, self.http_error)

    @property
    def auth_token(self) -> str | None:
        """The token every request must carry (the ``token`` setting)."""
        return self.settings.token

    @property
    def allowed_origins(self) -> tuple[str, ...]:
        """The origins allowed to call from a browser (the ``allow_origins`` setting)."""
        return self.settings.allow_origins

    @property
    def max_content_length(self) -> int:
        """Largest request body accepted, in bytes (the ``max_content_length`` setting)."""
        return self.settings.max_content_length

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
    def health(self) -> Health:
        """The readiness of this worker (``/-/ready``)."""
        return next(f.health for f in self.features if isinstance(f, HealthFeature))

    @property
    def immediate_paths(self) -> frozenset[str]:
        """Paths whose GET answers at once (the health checks): a server may skip its queue."""
        return frozenset(route.rule for route in self.routes if route.immediate)

    @property
    def metrics(self) -> Metrics | None:
        """The request metrics, once the app is assembled with metrics on; else None."""
        feature = next((f for f in self.features if isinstance(f, MetricsFeature)), None)
        return feature.metrics if feature is not None else None

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
        """Serve the decorated function: ``@app.function`` or ``@app.function(name=, path=, ...)``.

        ``options`` are the per-function options of
        :class:`~firefly.config.FunctionOptions` (``validate``, ``warmup``).
        """

        def register(func: F) -> F:
            self.add_route(path, func, name, **options)
            return func

        return register(func) if func is not None else register

    def add_route(
        self,
        path: str | None,
        function: Callable[..., Any],
        name: str | None = None,
        **options: Any,
    ) -> None:
        """Serve ``function`` at ``path`` (default ``/<name>``) as ``name`` (its ``__name__``)."""
        where = f"function {name or getattr(function, '__name__', function)!r}"
        spec = FunctionSpec.create(
            function, name=name, path=path, options=FunctionOptions.parse(options, where)
        )
        self.add_function(spec)

    def add_feature(self, feature: Feature) -> None:
        """Switch on a :class:`~firefly.features.Feature` besides those the settings choose.

        Its routes are added at once; its wrapper, observer and hooks take
        effect when the app is assembled. Features added later wrap outside
        the earlier ones.
        """
        self._check_setup("add_feature", type(feature).__name__)
        routes = tuple(feature.routes())
        for route in routes:
            taken = next((r for r in self.routes if r.rule == route.rule), None)
            if taken is not None:
                raise ConfigError(
                    f"route {route.rule!r} is served twice: by {taken.endpoint!r}"
                    f" and {route.endpoint!r}"
                )
            for spec in self.registry:
                if route.covers(spec.path):
                    raise ConfigError(f"route {route.rule!r} would hide function {spec.name!r}")
            self.add_url_rule(route.rule, route.endpoint, route.view, methods=list(route.methods))
        self.features += (feature,)
        self.routes += routes

    def add_function(self, spec: FunctionSpec) -> None:
        """Serve a function already described by a :class:`FunctionSpec`."""
        self._check_setup("add_function", repr(spec.name))
        for route in self.routes:
            if route.covers(spec.path):
                raise ConfigError(
                    f"path {spec.path!r} of function {spec.name!r} is reserved for {route.rule!r}"
                )
        self.registry.add(spec)
        if spec.options.log and not any(isinstance(f, PredictionLogFeature) for f in self.features):
            self.add_feature(PredictionLogFeature(self.settings))

    def _check_setup(self, method: str, what: str) -> None:
        """Refuse to change what is served once serving, as Flask's setup methods do."""
        if self._stack is not None:
            raise AssertionError(
                f"The setup method {method!r} can no longer be called on the application:"
                f" it is already serving, so {what} would never take effect."
                " Set the app up before its first request."
            )

    def http_error(self, error: HTTPException) -> Response:
        """Answer Flask's HTTP errors in firefly's JSON error format."""
        settings = self.settings
        return http_error_response(error, settings.max_content_length, settings.max_form_parts)

    def wsgi_app(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """Send function calls to their endpoints and everything else to Flask."""
        stack = self._stack or self.prepare()
        return stack(environ, start_response)

    def prepare(self) -> WSGIApplication:
        """Assemble the app and start its features, once per process; locks the app.

        Runs on the first request, or earlier when the server calls it (the
        ``firefly`` command does, in each worker), so warm-up starts at once.
        """
        with self._stack_lock:  # threads may race to the first request
            return self._stack or self._assemble()

    def shutdown(self) -> None:
        """Stop the features (flush what they hold), once; the server calls it as a worker exits."""
        with self._stack_lock:
            if self._stack is None or self._stopped:
                return
            self._stopped = True
        for feature in reversed(self.features):
            feature.stop()

    def reload(self) -> None:
        """Have the features read again what they serve from files (the server got SIGHUP).

        Runs where the workers are forked from; the workers started after it
        serve what was read.
        """
        for feature in self.features:
            feature.reload()

    def _assemble(self) -> WSGIApplication:
        settings = self.settings
        endpoints = {
            spec.path: FunctionEndpoint(
                spec,
                settings.max_content_length,
                settings.validate if spec.options.validate is None else spec.options.validate,
                build_invoke(spec, self.features),
                max_form_parts=settings.max_form_parts,
            )
            for spec in self.registry
        }
        fast_routes = self._fast_routes()
        service = Service(
            functions=tuple(endpoints.values()),
            routes=self.routes,
            schemas={name: s for feature in self.features for name, s in feature.schemas.items()},
            secured=bool(settings.token),
            fast_routes=fast_routes,
            features=self.features,
        )
        ensure_firefly_handler()
        for feature in self.features:
            feature.start(service)
        observers = [
            observer for feature in self.features if (observer := feature.observer()) is not None
        ]
        self._server_errors = self._outer_middleware(server_error_response, observers)
        features = self.features
        paths = {
            path: wrap_endpoint((endpoint.spec,), endpoint, features)
            for path, endpoint in endpoints.items()
        }
        paths.update((r.path, wrap_endpoint(r.specs, r.app, features)) for r in fast_routes)
        self._stack = self._middleware(FunctionDispatcher(paths, super().wsgi_app), observers)
        _shutdown_at_exit(self)
        return self._stack

    def _fast_routes(self) -> tuple[FastRoute, ...]:
        """The features' fast-path endpoints, each call pipeline built as a function's is."""
        features = self.features
        routes = tuple(
            route
            for feature in features
            for route in feature.endpoints(lambda spec: build_invoke(spec, features))
        )
        paths = {spec.path: spec for spec in self.registry}
        for route in routes:
            if route.path in paths:
                raise ConfigError(
                    f"path {route.path!r} of function {paths[route.path].name!r} is also a"
                    " model's: rename one of them"
                )
        return routes

    def server_error_app(
        self, environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]:
        """Answer an error the server met outside the app: a malformed or slow request, a timeout.

        The server puts ``(error, headers)`` in ``environ["firefly.server_error"]``;
        the answer is JSON with the request id, as the app's own errors are,
        and the access log and metrics record it. Token and CORS checks do
        not apply: the request never reached the app.
        """
        self.prepare()
        return self._server_errors(environ, start_response)

    def _middleware(
        self, app: WSGIApplication, observers: Sequence[RequestObserver]
    ) -> WSGIApplication:
        """``app`` inside the middleware the settings switch on, the request id outermost."""
        settings = self.settings
        if settings.token:
            public_paths, public_prefixes = public_routes(self.routes)
            app = TokenAuthMiddleware(app, settings.token, public_paths, public_prefixes)
        if settings.allow_origins:
            app = CorsMiddleware(app, settings.allow_origins)
        return self._outer_middleware(app, observers)

    @staticmethod
    def _outer_middleware(
        app: WSGIApplication, observers: Sequence[RequestObserver]
    ) -> WSGIApplication:
        """``app`` timed and reported to ``observers``, inside the request id middleware."""
        if observers:
            app = TelemetryMiddleware(app, observers)
        return RequestIdMiddleware(app)


def _shutdown_at_exit(app: Firefly) -> None:
    """Stop ``app``'s features when the process exits, unless the app is gone by then."""
    reference = weakref.ref(app)

    def shutdown() -> None:
        alive = reference()
        if alive is not None:
            alive.shutdown()

    atexit.register(shutdown)


def create_app(config: Config) -> Firefly:
    """Build the app a :class:`~firefly.config.Config` describes, importing its functions."""
    app = Firefly(settings=config)
    for function in config.functions:
        app.add_function(
            FunctionSpec.load(
                function.function, name=function.name, path=function.path, options=function.options
            )
        )
    return app
