"""The feature interface: what an optional part of the app brings, declared in one place.

A feature (today the index, health checks, docs and OpenAPI, metrics and the
access log, models and the prediction log; next executions, batching) is one
:class:`Feature` object, made from the settings when the app is created. It
may bring any of:

- :meth:`Feature.routes`: Flask views, each with its OpenAPI operation and
  whether it is answered without the token (:class:`Route`);
- :meth:`Feature.endpoints`: WSGI endpoints answered on the fast path, ahead
  of Flask, as function calls are (the model methods);
- :meth:`Feature.wrap`: a wrapper of a function's (or model method's)
  ``invoke``, chosen per function when the app is assembled;
- :meth:`Feature.wrap_endpoint`: a WSGI wrapper of a function's (or model
  method's) endpoint, for what a feature needs of the HTTP exchange around a
  call (its headers, status and duration: the prediction log);
- :meth:`Feature.observer`: an observer of every finished request;
- :meth:`Feature.index_entries` and :meth:`Feature.health_entries`: entries it adds to
  ``GET /`` and to the health checks;
- :meth:`Feature.start` and :meth:`Feature.stop`: hooks run in each worker
  process, once the app is assembled (after the fork) and when it stops;
  :meth:`Feature.reload`, run where the workers are forked from when the
  server is asked to reload (SIGHUP).

:mod:`firefly.app` picks the enabled features from the settings and
assembles them; the reserved paths, the paths that need no token and the
service operations of the OpenAPI document are all derived from the routes
the features declare. docs/architecture.rst shows how to add one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from .registry import CallSpec, FunctionSpec

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

    from .telemetry.observer import RequestObserver

#: A function call without HTTP: the arguments by keyword in, the result out. The
#: innermost invoke is the served callable itself.
Invoke = Callable[..., Any]
#: What a feature asks for to build the call pipeline of its own callables.
BuildInvoke = Callable[[CallSpec], Invoke]


@dataclass(frozen=True)
class Route:
    """A Flask view a feature serves.

    :param rule: the Flask URL rule (``/-/ready``, ``/docs/static/<path:filename>``).
    :param endpoint: the Flask endpoint name (for ``url_for``).
    :param view: the view function.
    :param methods: the HTTP methods it answers.
    :param public: whether it is answered without the token when one is set.
    :param operation: its OpenAPI operation (for its first method); None leaves
        it out of the document.
    :param immediate: whether it answers at once, never waiting on anything, so
        that Firefly's worker may answer it from its event loop instead of
        queueing it behind calls (the health checks: a busy worker still
        answers them).
    """

    rule: str
    endpoint: str
    view: Callable[..., Any]
    methods: tuple[str, ...] = ("GET",)
    public: bool = False
    operation: dict[str, Any] | None = None
    immediate: bool = False

    @property
    def path(self) -> str:
        """The fixed part of the rule: the whole path, or what comes before its first variable."""
        return self.rule.split("<", 1)[0]

    @property
    def is_prefix(self) -> bool:
        """Whether the rule has variables, so that it covers every path under :attr:`path`."""
        return "<" in self.rule

    def covers(self, path: str) -> bool:
        """Whether a request for ``path`` would reach this route's rule."""
        return path.startswith(self.path) if self.is_prefix else path == self.rule


@dataclass(frozen=True)
class FastRoute:
    """A path a feature answers on the fast path, ahead of Flask, as function calls are.

    :param path: the exact path (``/churn/v2/predict``).
    :param app: the WSGI endpoint answering it.
    :param operation: its OpenAPI ``POST`` operation; None leaves it out of the document.
    :param specs: the callables it calls (one model method, or the methods of a V2
        infer endpoint), for the features wrapping endpoints.
    """

    path: str
    app: WSGIApplication
    operation: dict[str, Any] | None = None
    specs: tuple[CallSpec, ...] = ()


class ServedFunction(Protocol):
    """A function as the assembled app serves it (a :class:`~firefly.dispatch.FunctionEndpoint`)."""

    spec: FunctionSpec

    def call(self, arguments: dict[str, Any]) -> Any:
        """Call it as a request would: arguments checked, then invoked."""

    def run(self, arguments: dict[str, Any]) -> Any:
        """Call the function itself, arguments checked, without the features' wrappers."""


@dataclass(frozen=True)
class Service:
    """What an assembled app serves: handed to every feature's :meth:`Feature.start`."""

    functions: tuple[ServedFunction, ...]
    routes: tuple[Route, ...]
    #: OpenAPI component schemas the features' operations refer to.
    schemas: Mapping[str, Any]
    #: Whether a token is set, so that every route but the public ones needs it.
    secured: bool
    #: The paths the features answer on the fast path (model methods).
    fast_routes: tuple[FastRoute, ...] = ()
    #: The features switched on, for what they add to the index and health checks.
    features: tuple[Feature, ...] = ()


class Feature:
    """One optional part of the app; a subclass overrides only what its feature brings.

    Every method has a default that brings nothing, so that a feature that is
    off, or that does not step into function calls, costs nothing there.
    """

    #: The OpenAPI component schemas its routes' operations refer to
    #: (``#/components/schemas/<name>``).
    schemas: ClassVar[Mapping[str, Any]] = {}

    def routes(self) -> Sequence[Route]:
        """The Flask views it serves; asked once, when the app is created."""
        return ()

    def endpoints(self, build_invoke: BuildInvoke) -> Sequence[FastRoute]:
        """The endpoints it answers on the fast path; asked once per worker, at assembly.

        :param build_invoke: gives the call pipeline of a callable it serves, so
            that the features switched on wrap it as they wrap functions.
        """
        return ()

    def wrap(self, spec: CallSpec, invoke: Invoke) -> Invoke:
        """The ``invoke`` of ``spec``'s callable with this feature around it, or ``invoke`` itself.

        Asked once per function (or model method) when the app is assembled;
        the first feature's wrapper is the innermost.
        """
        return invoke

    def wrap_endpoint(
        self, specs: Sequence[CallSpec], endpoint: WSGIApplication
    ) -> WSGIApplication:
        """The WSGI endpoint calling ``specs`` with this feature around it, or ``endpoint`` itself.

        Asked once per path answered on the fast path when the app is
        assembled, after :meth:`start`; the first feature's wrapper is the innermost.
        """
        return endpoint

    def index_entries(self) -> Mapping[str, Any]:
        """Entries it adds to ``GET /`` (``{"models": ...}``); asked on each request."""
        return {}

    def health_entries(self) -> Mapping[str, Any]:
        """Entries it adds to the health checks; asked on each request."""
        return {}

    def observer(self) -> RequestObserver | None:
        """What it tells about every finished request; asked once, after :meth:`start`."""
        return None

    def start(self, service: Service) -> None:
        """In each worker process, once the app is assembled: start background work here."""

    def stop(self) -> None:
        """The worker is stopping: finish background work and flush what it holds."""

    def reload(self) -> None:
        """The server was asked to reload: read again what it serves from files.

        Runs in the process the workers are forked from, so that the workers
        started after it serve what it read.
        """


def build_invoke(spec: CallSpec, features: Iterable[Feature]) -> Invoke:
    """The call pipeline of one function or model method: its callable, wrapped by each
    feature in turn."""
    invoke: Invoke = spec.func
    for feature in features:
        invoke = feature.wrap(spec, invoke)
    return invoke


def wrap_endpoint(
    specs: Sequence[CallSpec], endpoint: WSGIApplication, features: Iterable[Feature]
) -> WSGIApplication:
    """The endpoint of ``specs``, wrapped by each feature in turn."""
    for feature in features:
        endpoint = feature.wrap_endpoint(specs, endpoint)
    return endpoint


def public_routes(routes: Iterable[Route]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The paths, and the path prefixes, that need no token: those of the public routes."""
    public = [route for route in routes if route.public]
    paths = tuple(route.path for route in public if not route.is_prefix)
    prefixes = tuple(route.path for route in public if route.is_prefix)
    return paths, prefixes
