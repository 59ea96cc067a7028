"""Health checks: ``GET /-/alive`` and ``GET /-/ready``.

``/-/alive`` answers 200 while the process serves. ``/-/ready`` answers 200
once every function is loaded and its warm-up call (if any) has run, and 503
before that, after a warm-up call failed (with its error), and from the
moment the worker is asked to shut down, so that a load balancer sends
requests elsewhere.
"""

from __future__ import annotations

import enum
import functools
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import flask

from ..config import Config
from ..errors import ServiceUnavailableError
from ..features import Feature, Route, Service
from ..version import __version__
from .errors import error_response
from .openapi import error_refs, json_content, schema_ref, service_operation

logger = logging.getLogger("firefly")

ALIVE_PATH = "/-/alive"
READY_PATH = "/-/ready"

HEALTH_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "The state of the worker that answered, and what it serves.",
    "properties": {
        "status": {"type": "string", "enum": ["alive", "starting", "ready", "failed", "stopping"]},
        "app": {"type": "string", "description": 'Always "firefly", as in GET /.'},
        "version": {"type": "string", "description": "The firefly version, as in GET /."},
        "title": {"type": "string", "description": "The API title."},
        "api_version": {"type": "string", "description": "The API version."},
        "functions": {"type": "array", "items": {"type": "string"}},
        "warmup_error": {"type": "string", "description": "Why the warm-up failed, if it did."},
        "models": {
            "type": "object",
            "description": "Each model served, with the state of each of its versions.",
            "additionalProperties": {"type": "object", "additionalProperties": {"type": "string"}},
        },
        "model_errors": {
            "type": "object",
            "description": "Why a model version could not be reloaded (the loaded one serves on).",
            "additionalProperties": {"type": "string"},
        },
    },
    "required": ["status", "app", "version", "title", "api_version", "functions"],
}

NOT_READY_SCHEMA: dict[str, Any] = {
    "description": "503 of the readiness check: an error that also tells the worker's state.",
    "allOf": [schema_ref("Error"), schema_ref("Health")],
}

Warmup = tuple[str, Callable[[], Any]]


class Status(enum.Enum):
    """Where a worker is in its life."""

    STARTING = "starting"
    READY = "ready"
    FAILED = "failed"  #: a warm-up call raised: the worker serves, but is not ready
    STOPPING = "stopping"


class Health:
    """The readiness of one worker process: starting, then ready (or failed), then stopping."""

    def __init__(self) -> None:
        self.status = Status.STARTING
        #: ``"<function>: <ExceptionType>: <message>"`` once a warm-up call has failed.
        self.warmup_error: str | None = None
        self._started = False
        self._lock = threading.Lock()

    @property
    def ready(self) -> bool:
        """Whether the worker should be sent requests."""
        return self.status is Status.READY

    def start(self, warmups: Sequence[Warmup]) -> None:
        """Run the warm-up calls in a background thread, then become ready (once per worker)."""
        with self._lock:
            if self._started:
                return
            self._started = True
        if not warmups:
            self._become(Status.READY)
            return
        threading.Thread(
            target=self._warm_up, args=(list(warmups),), name="firefly-warmup", daemon=True
        ).start()

    def stop(self) -> None:
        """The worker is shutting down: not ready any more."""
        self.status = Status.STOPPING

    def _warm_up(self, warmups: list[Warmup]) -> None:
        for name, call in warmups:
            try:
                call()
            except Exception as error:
                self.warmup_error = f"{name}: {type(error).__name__}: {error}"
                logger.exception("warm-up call of %r failed; the worker stays not ready", name)
                self._become(Status.FAILED)
                return
        self._become(Status.READY)

    def _become(self, status: Status) -> None:
        with self._lock:
            if self.status is Status.STARTING:
                self.status = status


class HealthFeature(Feature):
    """Serves the health checks and runs the warm-up calls when a worker starts."""

    schemas: ClassVar[Mapping[str, Any]] = {"Health": HEALTH_SCHEMA, "NotReady": NOT_READY_SCHEMA}

    def __init__(self, settings: Config, health: Health | None = None):
        self.settings = settings
        self.health = health or Health()
        self._function_names: list[str] = []
        self._features: tuple[Feature, ...] = ()

    def routes(self) -> Sequence[Route]:
        """``GET /-/alive`` and ``GET /-/ready``; public unless ``token_for_health``."""
        public = not self.settings.token_for_health
        ready = service_operation(
            "ready", "Whether this worker takes requests", json_content("Health")
        )
        ready["responses"].update(error_refs((503,)))
        alive = service_operation("alive", "Whether the process serves", json_content("Health"))
        return (
            Route(ALIVE_PATH, "alive", self.alive, public=public, operation=alive, immediate=True),
            Route(READY_PATH, "ready", self.ready, public=public, operation=ready, immediate=True),
        )

    def start(self, service: Service) -> None:
        """Start the warm-up: a call per function with ``warmup`` arguments, checked as requests."""
        self._function_names = [function.spec.name for function in service.functions]
        self._features = service.features
        warmups = []
        for function in service.functions:
            arguments = function.spec.options.warmup
            if arguments is not None:
                warmups.append((function.spec.name, functools.partial(function.call, arguments)))
        self.health.start(warmups)

    def alive(self) -> flask.Response:
        """``GET /-/alive``: 200 while the process serves."""
        return flask.jsonify({"status": "alive", **self.details()})

    def ready(self) -> flask.Response:
        """``GET /-/ready``: 200 once warmed up; 503 before, when warm-up failed, when stopping."""
        health = self.health
        status = health.status.value
        if health.ready:
            return flask.jsonify({"status": status, **self.details()})
        details = self.details()
        message = f"not ready: {status}"
        if health.warmup_error is not None:
            details["warmup_error"] = health.warmup_error
            message = f"not ready: the warm-up call of {health.warmup_error}"
        error = ServiceUnavailableError(message, status=status, **details)
        return error_response(error)

    def details(self) -> dict[str, Any]:
        """What both checks tell besides the status (``app`` and ``version`` as in ``GET /``)."""
        details = {
            "app": "firefly",
            "version": __version__,
            "title": self.settings.title,
            "api_version": self.settings.api_version,
            "functions": self._function_names,
        }
        for feature in self._features:
            details.update(feature.health_entries())
        return details
