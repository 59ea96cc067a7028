"""The docs feature: the OpenAPI document at ``GET /openapi.json`` and Swagger UI at ``GET /docs``.

The page and its assets come from the installed swagger-ui-py package, never
from a CDN, so the docs work on a machine with no internet. Only the files
the page needs are served (:data:`ASSETS`), with caching headers; the page
itself points Swagger UI at the app's ``/openapi.json``, which
:mod:`firefly.routes.openapi` builds from what the app serves.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
from collections.abc import Sequence
from typing import Any

import flask
from werkzeug.exceptions import NotFound

from ..config import Config
from ..errors import ConfigError
from ..features import Feature, Route, Service
from .openapi import openapi_document

OPENAPI_PATH = "/openapi.json"
DOCS_PATH = "/docs"
ASSETS_PREFIX = "/docs/static/"  # a browser fetches these without the token: keep them public
ASSETS = ("swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png", "favicon-16x16.png")
ASSET_MAX_AGE = 7 * 24 * 3600  # seconds; asset URLs carry the Swagger UI version
SWAGGER_UI_PACKAGE = "swagger-ui-py"

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title>
<link rel="stylesheet" href="{{ asset('swagger-ui.css') }}">
<link rel="icon" type="image/png" sizes="32x32" href="{{ asset('favicon-32x32.png') }}">
<link rel="icon" type="image/png" sizes="16x16" href="{{ asset('favicon-16x16.png') }}">
<style>body { margin: 0; }</style>
</head>
<body>
<div id="swagger-ui"></div>
<script src="{{ asset('swagger-ui-bundle.js') }}"></script>
<script>
const options = {{ options|tojson }};
window.ui = SwaggerUIBundle({
  ...options,
  dom_id: "#swagger-ui",
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
});
</script>
</body>
</html>
"""


class DocsFeature(Feature):
    """Serves the OpenAPI document, the docs page and the page's assets.

    The document and the page need the token only with ``token_for_docs``;
    the assets never do, since a browser fetches them without it.
    """

    def __init__(self, settings: Config):
        self.settings = settings
        self.static_folder = swagger_ui_static_folder()
        self.version = importlib.metadata.version(SWAGGER_UI_PACKAGE)
        self._service: Service | None = None
        self._document: dict[str, Any] | None = None

    def routes(self) -> Sequence[Route]:
        """``/openapi.json``, ``/docs`` and ``/docs/static/<asset>``."""
        public = not self.settings.token_for_docs
        return (
            Route(OPENAPI_PATH, "openapi", self.openapi, public=public),
            Route(DOCS_PATH, "docs", self.page, public=public),
            Route(f"{ASSETS_PREFIX}<path:filename>", "docs_asset", self.asset, public=True),
        )

    def start(self, service: Service) -> None:
        """Note what the app serves; the document is built on its first request."""
        self._service = service
        self._document = None

    def document(self) -> dict[str, Any]:
        """The OpenAPI document of what the app serves, built once."""
        if self._document is None:
            service = self._service
            if service is None:
                raise RuntimeError("the docs feature has not been started: prepare the app first")
            settings = self.settings
            info = {"title": settings.title, "version": settings.api_version}
            if settings.description:
                info["description"] = settings.description
            self._document = openapi_document(
                (function.spec for function in service.functions),
                service.routes,
                service.schemas,
                info,
                service.secured,
                service.fast_routes,
            )
        return self._document

    def openapi(self) -> flask.Response:
        """``GET /openapi.json``: the OpenAPI 3.1 document."""
        return flask.jsonify(self.document())

    def page(self) -> flask.Response:
        """``GET /docs``: the Swagger UI page."""
        html = flask.render_template_string(
            PAGE,
            title=f"{self.settings.title} - docs",
            asset=self.asset_url,
            options=swagger_ui_options(),
        )
        response = flask.Response(html, mimetype="text/html")
        response.headers["Cache-Control"] = "no-cache"
        return response

    def asset(self, filename: str) -> flask.Response:
        """``GET /docs/static/<filename>``: one of the page's :data:`ASSETS`, cached for a week."""
        if filename not in ASSETS:
            raise NotFound()
        return flask.send_from_directory(self.static_folder, filename, max_age=ASSET_MAX_AGE)

    def asset_url(self, filename: str) -> str:
        """The URL of an asset, versioned so that a new Swagger UI is fetched anew."""
        return flask.url_for("docs_asset", filename=filename, v=self.version)


def swagger_ui_options() -> dict[str, Any]:
    """The options of ``SwaggerUIBundle``: where the document is, and how the page behaves."""
    return {
        "url": flask.url_for("openapi"),
        "deepLinking": True,
        "tryItOutEnabled": True,  # the fields of an operation are editable as soon as it opens
        "displayRequestDuration": True,
        "defaultModelsExpandDepth": 0,  # the functions first; the schemas stay folded below
        "validatorUrl": None,  # Swagger UI would send the document to validator.swagger.io
    }


def swagger_ui_static_folder() -> str:
    """The folder of Swagger UI's files in the swagger-ui-py package (found, not imported)."""
    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or spec.origin is None:
        raise ConfigError(
            f"the /docs page needs the {SWAGGER_UI_PACKAGE} package:"
            f" pip install {SWAGGER_UI_PACKAGE}, or switch the docs off (docs: false)"
        )
    return os.path.join(os.path.dirname(spec.origin), "static")
