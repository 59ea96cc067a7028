"""The app for gunicorn and platforms like Heroku: ``gunicorn firefly.main:app``.

``app`` is built from the FIREFLY_* environment variables on first access,
not at import, so importing this module does nothing else.
"""

from __future__ import annotations

import os
from typing import Any

from gunicorn.errors import AppImportError

from .app import Firefly, create_app
from .config import load_config
from .errors import FireflyError


class AppConfigError(AppImportError, RuntimeError):
    """The environment does not describe an app; gunicorn prints it in one line and exits."""


def build_app() -> Firefly:
    """Build the app the FIREFLY_* environment variables describe."""
    try:
        return create_app(load_config({}, os.environ))
    except FireflyError as err:
        raise AppConfigError(f"firefly: {err}") from None


def __getattr__(name: str) -> Any:
    if name == "app":
        app = globals()["app"] = build_app()
        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
