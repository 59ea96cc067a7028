"""Firefly: serve Python functions and machine-learning models as web APIs.

The public surface: :class:`Firefly` builds an app in code, :class:`Client`
calls one, and every error is a :class:`FireflyError`. ``Firefly`` and
``create_app`` are imported on first use, so that ``import firefly`` for the
client loads neither Flask nor gunicorn.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from .client import Client, RemoteFunction, RemoteModel
from .errors import (
    AuthenticationError,
    BadRequestError,
    CallTimeoutError,
    ConfigError,
    ConflictError,
    ConnectError,
    ExecutionCancelledError,
    FireflyError,
    ForbiddenError,
    HTTPError,
    LoadError,
    MethodNotAllowedError,
    NotFoundError,
    PayloadTooLargeError,
    RemoteError,
    RequestTimeoutError,
    ServiceUnavailableError,
    ValidationError,
)
from .remote_execution import RemoteExecution
from .version import __version__

if TYPE_CHECKING:
    from .app import Firefly, create_app

logging.getLogger(__name__).addHandler(logging.NullHandler())

_LAZY = {"Firefly", "create_app"}  # from firefly.app, which imports Flask


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from . import app

        value = globals()[name] = getattr(app, name)
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "AuthenticationError",
    "BadRequestError",
    "CallTimeoutError",
    "Client",
    "ConfigError",
    "ConflictError",
    "ConnectError",
    "ExecutionCancelledError",
    "Firefly",
    "FireflyError",
    "ForbiddenError",
    "HTTPError",
    "LoadError",
    "MethodNotAllowedError",
    "NotFoundError",
    "PayloadTooLargeError",
    "RemoteError",
    "RemoteExecution",
    "RemoteFunction",
    "RemoteModel",
    "RequestTimeoutError",
    "ServiceUnavailableError",
    "ValidationError",
    "__version__",
    "create_app",
]
