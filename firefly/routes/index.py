"""The function index: ``GET /`` lists the functions, as ``firefly.Client`` reads them.

``{"app": "firefly", "version": <firefly version>, "title": <API title>,
"api_version": <API version>, "functions": {name: {"path", "doc", "parameters"}}}``;
the health checks give ``app``, ``version``, ``title`` and ``api_version`` the
same meaning. A browser (which prefers HTML to JSON) is sent to the docs page
instead, when there is one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import flask

from ..config import Config
from ..features import Feature, Route, Service
from ..registry import FunctionSpec
from ..responses import JSON_CONTENT_TYPE
from ..version import __version__
from .docs import DOCS_PATH
from .openapi import json_content, service_operation

INDEX_PATH = "/"

INDEX_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "The app and its functions, as firefly.Client reads them.",
    "properties": {
        "app": {"type": "string", "description": 'Always "firefly".'},
        "version": {"type": "string", "description": "The firefly version."},
        "title": {"type": "string", "description": "The API title."},
        "api_version": {"type": "string", "description": "The API version."},
        "functions": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "properties": {
                    "path": {"type": "string"},
                    "doc": {"type": "string"},
                    "parameters": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "name": {"type": "string"},
                                "kind": {"type": "string"},
                                "default": {},
                            },
                            "required": ["name", "kind"],
                        },
                    },
                },
                "required": ["path", "doc", "parameters"],
            },
        },
    },
    "required": ["app", "version", "functions"],
}


class IndexFeature(Feature):
    """Serves ``GET /``."""

    schemas: ClassVar[Mapping[str, Any]] = {"Index": INDEX_SCHEMA}

    def __init__(self, settings: Config):
        self.settings = settings
        self._functions: tuple[FunctionSpec, ...] = ()
        self._features: tuple[Feature, ...] = ()

    def routes(self) -> Sequence[Route]:
        """``GET /``: it needs the token when one is set, as the original firefly's did."""
        operation = service_operation("index", "List the functions", json_content("Index"))
        return (Route(INDEX_PATH, "index", self.index, operation=operation),)

    def start(self, service: Service) -> None:
        """Note the functions served, and the features that add to the index."""
        self._functions = tuple(function.spec for function in service.functions)
        self._features = service.features

    def index(self) -> flask.Response:
        """``GET /``: the app, its version and its functions; a browser goes to the docs page."""
        request = flask.request
        if self.settings.docs and _prefers_html(request):
            return flask.redirect(request.script_root + DOCS_PATH)  # type: ignore[return-value]
        body = {
            "app": "firefly",
            "version": __version__,
            "title": self.settings.title,
            "api_version": self.settings.api_version,
            "functions": {spec.name: spec.describe() for spec in self._functions},
        }
        for feature in self._features:
            body.update(feature.index_entries())
        return flask.jsonify(body)


def _prefers_html(request: flask.Request) -> bool:
    return request.accept_mimetypes.best_match([JSON_CONTENT_TYPE, "text/html"]) == "text/html"
