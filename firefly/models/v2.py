"""The Open Inference Protocol (V2, KServe's and Triton's REST API) for the models served.

Routes, beside the models' own (``GET /v2`` and the health checks answer
even when no model is served by name):

- ``GET /v2/health/live`` and ``GET /v2/health/ready``: as ``/-/alive`` and
  ``/-/ready`` (public unless ``token_for_health``); ready once the worker is:
  every model version is loaded before it serves;
- ``GET /v2``: the server's name, version and extensions (``binary_tensor_data``);
- ``GET /v2/models/<name>[/versions/<version>]``: the model's metadata:
  versions, platform, and inputs (one per feature) and outputs (one per
  method) as tensor metadata;
- ``GET /v2/models/<name>[/versions/<version>]/ready``;
- ``POST /v2/models/<name>[/versions/<version>]/infer``:
  :class:`~firefly.models.v2infer.V2InferEndpoint`, on the fast path as the
  model methods are, each output through the method's call pipeline.

A version unknown is a 404 naming the versions, as ``POST /<name>/<version>/<method>``.
Each model has its metadata, ready and infer routes in the OpenAPI document
(tag ``v2``); the routes of a named version are left out of it, as they are
one route for every version (the document lists fixed paths).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import flask

from ..config import Config
from ..errors import HTTPError, NotFoundError, ServiceUnavailableError
from ..features import BuildInvoke, FastRoute, Feature, Route, Service
from ..registry import ModelSpec
from ..routes.errors import error_response
from ..routes.health import Health, HealthFeature
from ..version import __version__
from .feature import unknown_version
from .served import LoadedVersion, Models, ServedModel
from .v2infer import V2InferEndpoint
from .v2metadata import model_metadata
from .v2openapi import (
    V2_SCHEMAS,
    health_operation,
    infer_operation,
    metadata_operation,
    ready_operation,
    server_operation,
)

PREFIX = "/v2"
#: The extensions of the protocol served, as ``GET /v2`` lists them.
EXTENSIONS = ("binary_tensor_data",)


class V2Feature(Feature):
    """Serves the models of a :class:`~firefly.models.served.Models` with the V2 protocol.

    :param settings: the app's settings (the body limit, ``token_for_health``).
    :param models: the models the :class:`~firefly.models.feature.ModelsFeature` serves.
    """

    schemas: ClassVar[Mapping[str, Any]] = V2_SCHEMAS

    def __init__(self, settings: Config, models: Models):
        self.settings = settings
        self.models = models
        self.health: Health | None = None

    def routes(self) -> Sequence[Route]:
        """The health checks, server and model metadata, readiness, and a 404 for unknown models."""
        public = not self.settings.token_for_health
        routes = [
            Route(PREFIX, "v2", self.server_metadata, operation=server_operation()),
            Route(
                f"{PREFIX}/health/live",
                "v2:live",
                self.live,
                public=public,
                operation=health_operation("live", "Whether the server is live"),
                immediate=True,
            ),
            Route(
                f"{PREFIX}/health/ready",
                "v2:ready",
                self.ready,
                public=public,
                operation=health_operation("ready", "Whether the server is ready"),
                immediate=True,
            ),
        ]
        for served in self.models:
            name = served.name
            routes += [
                Route(
                    f"{PREFIX}/models/{name}",
                    f"v2:model:{name}",
                    functools.partial(self.model_metadata, name),
                    operation=metadata_operation(name),
                ),
                Route(
                    f"{PREFIX}/models/{name}/ready",
                    f"v2:model:{name}:ready",
                    functools.partial(self.model_ready, name),
                    operation=ready_operation(name),
                ),
            ]
        return routes + [
            Route(f"{PREFIX}/models/<name>", "v2:model", self.model_metadata),
            Route(f"{PREFIX}/models/<name>/ready", "v2:model:ready", self.model_ready),
            Route(f"{PREFIX}/models/<name>/versions/<version>", "v2:version", self.model_metadata),
            Route(
                f"{PREFIX}/models/<name>/versions/<version>/ready",
                "v2:version:ready",
                self.model_ready,
            ),
            Route(
                f"{PREFIX}/models/<name>/infer",
                "v2:infer",
                self.not_served,
                methods=("GET", "POST"),
            ),
            Route(
                f"{PREFIX}/models/<name>/versions/<version>/infer",
                "v2:version:infer",
                self.not_served,
                methods=("GET", "POST"),
            ),
        ]

    def endpoints(self, build_invoke: BuildInvoke) -> Sequence[FastRoute]:
        """``.../versions/<version>/infer`` for each version, the default's also at ``.../infer``.

        Each method's call pipeline is built for a :class:`~firefly.registry.ModelSpec`
        of the same name as the REST endpoint's (``<name>/<version>/<method>``), so that
        the features wrapping model calls see both alike.
        """
        routes = []
        limit = self.settings.max_content_length
        for served in self.models:
            for version in served.versions.values():
                path = f"{PREFIX}/models/{served.name}/versions/{version.version}/infer"
                specs = tuple(
                    ModelSpec(
                        served.name,
                        version.version,
                        method,
                        path,
                        version.method(method),
                        version.source.options.log,
                    )
                    for method in version.methods
                )
                invokes = {spec.method: build_invoke(spec) for spec in specs}
                endpoint = V2InferEndpoint(version, invokes, limit)
                routes.append(FastRoute(path, endpoint, infer_operation(version, False), specs))
                if version.version == served.default_version:
                    routes.append(
                        FastRoute(
                            f"{PREFIX}/models/{served.name}/infer",
                            endpoint,
                            infer_operation(version, True),
                            specs,
                        )
                    )
        return routes

    def start(self, service: Service) -> None:
        """Find the worker's health, which the readiness checks answer with."""
        for feature in service.features:
            if isinstance(feature, HealthFeature):
                self.health = feature.health

    def server_metadata(self) -> flask.Response:
        """``GET /v2``."""
        return flask.jsonify(
            {"name": "firefly", "version": __version__, "extensions": list(EXTENSIONS)}
        )

    def live(self) -> flask.Response:
        """``GET /v2/health/live``: 200 while the process serves."""
        return flask.jsonify({"live": True})

    def ready(self) -> flask.Response:
        """``GET /v2/health/ready``: 200 when the worker is ready, else 503 (as ``/-/ready``)."""
        not_ready = self._not_ready()
        if not_ready is not None:
            return error_response(not_ready)
        return flask.jsonify({"ready": True})

    def model_metadata(self, name: str, version: str | None = None) -> flask.Response:
        """``GET /v2/models/<name>[/versions/<version>]``."""
        try:
            served, loaded = self._find(name, version)
        except HTTPError as error:
            return error_response(error)
        return flask.jsonify(model_metadata(served, loaded))

    def model_ready(self, name: str, version: str | None = None) -> flask.Response:
        """``GET /v2/models/<name>[/versions/<version>]/ready``: 200 when the version is loaded
        and the worker ready; 404 for an unknown one, 503 before the worker is ready."""
        try:
            served, loaded = self._find(name, version)
        except HTTPError as error:
            return error_response(error)
        not_ready = self._not_ready(name=served.name, version=loaded.version)
        if not_ready is not None:
            return error_response(not_ready)
        return flask.jsonify({"name": served.name, "version": loaded.version, "ready": True})

    def not_served(self, name: str, version: str | None = None) -> flask.Response:
        """``.../infer`` of a model or version no endpoint answers: a 404 for an unknown one,
        a 503 for one loaded after this worker started."""
        try:
            served, loaded = self._find(name, version)
        except HTTPError as error:
            return error_response(error)
        # Loaded after this worker assembled its endpoints (a reload in this very process).
        return error_response(
            ServiceUnavailableError(
                f"model {served.name!r} version {loaded.version!r} was loaded after this worker"
                " started: the workers started from now on serve it"
            )
        )

    def _find(self, name: str, version: str | None) -> tuple[ServedModel, LoadedVersion]:
        served = self.models.models.get(name)
        if served is None:
            raise NotFoundError(
                f"model {name!r} was not found; models: {', '.join(self.models.models)}"
            )
        loaded = served.default if version is None else served.versions.get(version)
        if loaded is None:
            raise unknown_version(served, str(version))
        return served, loaded

    def _not_ready(self, **details: Any) -> ServiceUnavailableError | None:
        health = self.health
        if health is None or health.ready:
            return None
        message = f"not ready: {health.status.value}"
        if health.warmup_error is not None:
            message = f"not ready: the warm-up call of {health.warmup_error}"
        return ServiceUnavailableError(message, ready=False, **details)
