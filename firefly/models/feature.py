"""The models feature: serves the model versions a config names, describes and reports them.

- ``POST /<name>/<method>`` (the default version) and ``POST
  /<name>/<version>/<method>``: :class:`~firefly.models.endpoint.ModelEndpoint`,
  on the fast path;
- ``GET /<name>`` and ``GET /<name>/<version>``: what is served;
- a 404 naming the versions (or methods) there are for any other path under ``/<name>/``;
- the models in ``GET /``, in the OpenAPI document, and each version in the health checks.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import flask

from ..config import Config
from ..config.options import MODEL_METHODS
from ..errors import MethodNotAllowedError, NotFoundError
from ..features import BuildInvoke, FastRoute, Feature, Route
from ..registry import ModelSpec
from ..routes.errors import error_response
from .endpoint import ModelEndpoint
from .openapi import SCHEMAS, describe_operation, method_operation
from .served import Models, ServedModel


class ModelsFeature(Feature):
    """Serves the models of ``settings.models``, loaded when the feature is made.

    Models load when the app is created, so that the ``firefly`` command loads
    them once, before its workers fork, and the workers share their memory.

    :raises ConfigError: a model cannot be found or loaded (one line naming it).
    """

    schemas: ClassVar[Mapping[str, Any]] = SCHEMAS

    def __init__(self, settings: Config, models: Models | None = None):
        self.settings = settings
        self.models = models if models is not None else Models.load(settings.models)

    @property
    def logs_calls(self) -> bool:
        """Whether a version served asks for the prediction log (``log: true``)."""
        return any(
            version.source.options.log
            for served in self.models
            for version in served.versions.values()
        )

    def routes(self) -> Sequence[Route]:
        """``GET /<name>``, ``GET /<name>/<version>``, and the 404 of any other path under them."""
        routes: list[Route] = []
        for served in self.models:
            name = served.name
            routes += [
                Route(
                    f"/{name}",
                    f"model:{name}",
                    functools.partial(self.describe_model, name),
                    operation=describe_operation(f"{name}.describe", "Model", f"Model {name}"),
                ),
                Route(
                    f"/{name}/<version>",
                    f"model:{name}:version",
                    functools.partial(self.describe_version, name),
                    methods=("GET", "POST"),
                ),
                Route(
                    f"/{name}/<version>/<method>",
                    f"model:{name}:method",
                    functools.partial(self.no_method, name),
                    methods=("GET", "POST"),
                ),
            ]
        return routes

    def endpoints(self, build_invoke: BuildInvoke) -> Sequence[FastRoute]:
        """Each method of each version at ``/<name>/<version>/<method>``, the default's also at
        ``/<name>/<method>``."""
        routes = []
        limit = self.settings.max_content_length
        for served in self.models:
            for version in served.versions.values():
                default = version.version == served.default_version
                for method in version.methods:
                    path = f"/{served.name}/{version.version}/{method}"
                    spec = ModelSpec(
                        served.name,
                        version.version,
                        method,
                        path,
                        version.method(method),
                        version.source.options.log,
                    )
                    endpoint = ModelEndpoint(version, method, build_invoke(spec), limit)
                    routes.append(
                        FastRoute(path, endpoint, method_operation(version, method, False), (spec,))
                    )
                    if default:
                        routes.append(
                            FastRoute(
                                f"/{served.name}/{method}",
                                endpoint,
                                method_operation(version, method, True),
                                (spec,),
                            )
                        )
        return routes

    def index_entries(self) -> Mapping[str, Any]:
        """``"models"`` in ``GET /``: each model's path, versions, default version and methods."""
        return {
            "models": {
                served.name: {
                    "path": f"/{served.name}",
                    "versions": list(served.versions),
                    "default_version": served.default_version,
                    "methods": list(served.default.methods),
                }
                for served in self.models
            }
        }

    def health_entries(self) -> Mapping[str, Any]:
        """``"models"``: each model's versions and their state; ``"model_errors"`` after a
        reload that could not load something."""
        entries: dict[str, Any] = {
            "models": {
                served.name: {version: "loaded" for version in served.versions}
                for served in self.models
            }
        }
        if self.models.errors:
            entries["model_errors"] = dict(self.models.errors)
        return entries

    def reload(self) -> None:
        """Look at the model files again (SIGHUP): new and replaced versions are served."""
        self.models.reload()

    def describe_model(self, name: str) -> flask.Response:
        """``GET /<name>``."""
        return flask.jsonify(self.models.models[name].describe())

    def describe_version(self, name: str, version: str) -> flask.Response:
        """``GET /<name>/<version>``; any other method, or an unknown version, is an error."""
        served = self.models.models[name]
        loaded = served.versions.get(version)
        if loaded is None:
            if version in MODEL_METHODS:  # /<name>/<method> of a method the model does not serve
                return self.no_method(name, served.default_version, version)
            return error_response(unknown_version(served, version))
        if flask.request.method != "GET":
            return error_response(_wrong_method(f"model {name!r} version {version!r}", "GET"))
        return flask.jsonify(loaded.describe())

    def no_method(self, name: str, version: str, method: str) -> flask.Response:
        """Any path ``/<name>/<version>/<method>`` no endpoint answers: a 404 saying why."""
        served = self.models.models[name]
        loaded = served.versions.get(version)
        if loaded is None:
            return error_response(unknown_version(served, version))
        return error_response(
            NotFoundError(
                f"model {name!r} version {version!r} has no method {method!r};"
                f" methods: {', '.join(loaded.methods)}"
            )
        )


def unknown_version(served: ServedModel, version: str) -> NotFoundError:
    """The 404 of a version ``served`` does not have, naming those it has."""
    return NotFoundError(
        f"Trained model version {version!r} of model {served.name!r} was not found;"
        f" versions: {', '.join(served.versions)}",
        versions=list(served.versions),
    )


def _wrong_method(what: str, allowed: str) -> MethodNotAllowedError:
    return MethodNotAllowedError(
        f"method {flask.request.method} is not allowed for {what}: use {allowed}"
    )
