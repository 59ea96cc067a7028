"""The interactive docs page: Swagger UI at ``GET /docs``, served from the swagger-ui-py package.

The page and its assets come from the installed package, never from a CDN,
so the docs work on a machine with no internet. Only the files the page
needs are served (:data:`ASSETS`), with caching headers; the page itself
points Swagger UI at the app's ``/openapi.json``.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
from typing import TYPE_CHECKING, Any, cast

import flask
from werkzeug.exceptions import NotFound

from .errors import ConfigError

if TYPE_CHECKING:
    from .app import Firefly

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


def docs_blueprint() -> flask.Blueprint:
    """The blueprint serving ``GET /docs`` and ``GET /docs/static/<asset>``.

    The app must have an ``openapi`` endpoint (``/openapi.json``).
    """
    static_folder = swagger_ui_static_folder()
    version = importlib.metadata.version(SWAGGER_UI_PACKAGE)
    blueprint = flask.Blueprint("docs", __name__)

    def asset_url(filename: str) -> str:
        return flask.url_for("docs.asset", filename=filename, v=version)

    @blueprint.get(DOCS_PATH)
    def page() -> flask.Response:
        app = cast("Firefly", flask.current_app)
        html = flask.render_template_string(
            PAGE, title=f"{app.title} - docs", asset=asset_url, options=swagger_ui_options()
        )
        response = flask.Response(html, mimetype="text/html")
        response.headers["Cache-Control"] = "no-cache"
        return response

    @blueprint.get(f"{ASSETS_PREFIX}<path:filename>")
    def asset(filename: str) -> flask.Response:
        if filename not in ASSETS:
            raise NotFound()
        return flask.send_from_directory(static_folder, filename, max_age=ASSET_MAX_AGE)

    return blueprint


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
