"""Asynchronous executions as a feature: the 202 path of every function, and ``/-/executions``.

The backend is chosen by the ``executions`` URL: a database URL keeps them
in a table and runs them on threads of the server's workers
(:mod:`~firefly.executions.embedded`), a ``redis://`` URL hands them to RQ,
run by ``firefly worker`` (:mod:`~firefly.executions.rqbackend`). The HTTP
API is the same for both.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import flask

from ..config import Config
from ..dispatch import FunctionEndpoint
from ..errors import BadRequestError, ConflictError, NotFoundError
from ..features import Feature, Route, Service
from ..registry import CallSpec, FunctionSpec
from ..routes.errors import error_response
from ..routes.openapi import service_operation
from .endpoint import EXECUTIONS_PATH, RETRY_AFTER, AsyncEndpoint, unavailable
from .model import STATUSES, Backend, NotQueuedError

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

    from .metrics import ExecutionMetrics

logger = logging.getLogger("firefly")

#: The share of the server's ``timeout`` a ``?wait=`` lasts at most.
WAIT_SHARE_OF_TIMEOUT = 0.8
#: Seconds ``?wait=`` may ask for at most.
MAX_WAIT = 60.0
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
WHAT = "executions"
STATE_PHRASES = {
    "running": "is running",
    "succeeded": "has succeeded",
    "failed": "has failed",
    "cancelled": "is cancelled already",
}


def is_redis(url: str) -> bool:
    """Whether ``url`` names a Redis server (the RQ backend) rather than a database."""
    return url.split("://", 1)[0].lower() in ("redis", "rediss", "unix")


class ExecutionsFeature(Feature):
    """Runs calls in the background on request, and serves their executions."""

    def __init__(self, settings: Config):
        if settings.executions is None:
            raise ValueError("executions are off: leave the feature out")
        self.settings = settings
        self.url = settings.executions
        self.metrics: ExecutionMetrics | None = None
        self._backend: Backend | None = None
        self._timeouts: dict[str, float] = {}
        if not is_redis(self.url):
            from ..database import connect_database

            connect_database(self.url, WHAT).dispose()  # a bad URL fails now, in one line

    @property
    def backend(self) -> Backend:
        """This worker's backend; the feature must have started."""
        if self._backend is None:
            raise RuntimeError("executions have not been started: prepare the app first")
        return self._backend

    def routes(self) -> Sequence[Route]:
        """``GET /-/executions``, and ``GET`` and ``DELETE /-/executions/<id>``."""
        content = {"application/json": {"schema": {"type": "object"}}}
        listing = service_operation("executions", "List executions", content)
        one = service_operation("execution", "Read an execution", content)
        one["parameters"] = [
            {"name": "execution_id", "in": "path", "required": True, "schema": {"type": "string"}}
        ]
        return (
            Route(EXECUTIONS_PATH, "executions", self._guarded(self.list_view), operation=listing),
            Route(
                f"{EXECUTIONS_PATH}/<execution_id>",
                "execution",
                self._guarded(self.execution_view),
                ("GET", "DELETE"),
                operation=one,
            ),
        )

    def _guarded(self, view: Callable[..., flask.Response]) -> Callable[..., flask.Response]:
        """``view``, answering 503 with ``Retry-After`` while the backend cannot be reached."""

        @functools.wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> flask.Response:
            backend = self.backend
            try:
                return view(*args, **kwargs)
            except backend.unavailable as error:
                response = error_response(unavailable(error))
                response.headers["Retry-After"] = RETRY_AFTER
                return response

        return guarded

    def start(self, service: Service) -> None:
        """Open this worker's backend, and start running executions (the database backend)."""
        from ..telemetry.metrics import MetricsFeature

        endpoints = {function.spec.name: function for function in service.functions}
        timeouts = {
            name: endpoint.spec.options.execution_timeout
            for name, endpoint in endpoints.items()
            if endpoint.spec.options.execution_timeout is not None
        }
        metrics = next(
            (f.metrics for f in service.features if isinstance(f, MetricsFeature) and f.metrics),
            None,
        )
        if metrics is not None:
            from .metrics import ExecutionMetrics

            self.metrics = ExecutionMetrics(metrics.registry)
        self._backend = self._make_backend(timeouts)
        self._backend.start(lambda name, arguments: endpoints[name].run(dict(arguments)))

    def _make_backend(self, timeouts: Mapping[str, float]) -> Backend:
        settings = self.settings
        if is_redis(self.url):
            from .rqbackend import RQBackend

            return RQBackend(self.url, settings, timeouts, self.metrics)
        from ..database import connect_database
        from .embedded import EmbeddedBackend

        return EmbeddedBackend(
            connect_database(self.url, WHAT),
            threads=settings.execution_threads,
            capacity=settings.execution_queue,
            lease=settings.execution_lease,
            max_attempts=settings.execution_retries + 1,
            retention=settings.execution_retention,
            timeouts=timeouts,
            default_timeout=settings.execution_timeout,
            metrics=self.metrics,
        )

    def stop(self) -> None:
        """Stop taking executions; those running are queued again or found by their lease."""
        if self._backend is not None:
            self._backend.stop()

    def wrap_endpoint(
        self, specs: Sequence[CallSpec], endpoint: WSGIApplication
    ) -> WSGIApplication:
        """A function's endpoint that also queues the calls asking to run in the background."""
        if not isinstance(endpoint, FunctionEndpoint) or not isinstance(specs[0], FunctionSpec):
            return endpoint  # model methods answer at once
        async_only = bool(specs[0].options.async_only)
        return AsyncEndpoint(endpoint, lambda: self.backend, async_only)

    def execution_view(self, execution_id: str) -> flask.Response:
        """``GET /-/executions/<id>`` (``?wait=SECONDS``) and ``DELETE`` (cancel a queued one)."""
        backend = self.backend
        if flask.request.method == "DELETE":
            try:
                cancelled = backend.cancel(execution_id)
            except NotQueuedError as refused:
                status = refused.execution.status
                return error_response(
                    ConflictError(
                        f"execution {execution_id} {STATE_PHRASES[status]}: only a queued one"
                        " can be cancelled",
                        status=status,
                    )
                )
            if cancelled is None:
                return _unknown(execution_id)
            if self.metrics is not None:
                self.metrics.counted(cancelled.function, "cancelled")
            return flask.jsonify(cancelled.to_json())
        try:
            wait = _number(flask.request.args.get("wait"), "wait", 0.0, MAX_WAIT)
        except ValueError as error:
            return error_response(BadRequestError(str(error)))
        found = backend.get(execution_id)
        # the wait is a request: it must answer before the server's timeout cuts it (a 504,
        # and under gunicorn a restarted worker) and the caller asks again
        wait = min(wait or 0.0, self.settings.timeout * WAIT_SHARE_OF_TIMEOUT)
        deadline = time.monotonic() + wait
        pause = 0.01
        while found is not None and not found.finished and time.monotonic() < deadline:
            time.sleep(min(pause, max(deadline - time.monotonic(), 0)))
            pause = min(pause * 2, 0.2)
            found = backend.get(execution_id)
        if found is None:
            return _unknown(execution_id)
        return flask.jsonify(found.to_json())

    def list_view(self) -> flask.Response:
        """``GET /-/executions``: newest first, by function and status, a page at a time."""
        args = flask.request.args
        try:
            status = args.get("status") or None
            if status is not None and status not in STATUSES:
                raise ValueError(f"status: expected one of {', '.join(STATUSES)}, got {status!r}")
            limit = int(_number(args.get("limit"), "limit", 1, MAX_LIMIT) or DEFAULT_LIMIT)
            cursor = args.get("cursor") or None
            found, following = self.backend.page(
                args.get("function") or None, status, cursor, limit
            )
        except ValueError as error:
            return error_response(BadRequestError(str(error)))
        return flask.jsonify(
            {"executions": [item.to_json() for item in found], "next_cursor": following}
        )


def _unknown(execution_id: str) -> flask.Response:
    return error_response(NotFoundError(f"no execution {execution_id!r} (unknown, or purged)"))


def _number(value: str | None, name: str, minimum: float, maximum: float) -> float | None:
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"{name}: expected a number, got {value!r}") from None
    if not minimum <= number <= maximum:
        raise ValueError(
            f"{name}: expected a number from {minimum:g} to {maximum:g}, got {value!r}"
        )
    return number
