"""The app for gunicorn and platforms like Heroku: ``gunicorn firefly.main:app``.

``app`` is built from the FIREFLY_* environment variables on first access,
not at import, so importing this module does nothing else.
"""

from __future__ import annotations

import os
from typing import Any

from .app import Firefly
from .config import load_config
from .errors import FireflyError
from .logs import configure_logging
from .server import AppConfigError, build_app


def app_from_environment() -> Firefly:
    """Build the app the FIREFLY_* environment variables describe."""
    try:
        config = load_config({}, os.environ)
    except FireflyError as err:
        raise AppConfigError(f"firefly: {err}") from None
    configure_logging()
    return build_app(config)


def __getattr__(name: str) -> Any:
    if name == "app":
        app = globals()["app"] = app_from_environment()
        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
