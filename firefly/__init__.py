"""Firefly: serve Python functions and machine-learning models as web APIs.

The public surface: :class:`Firefly` builds an app in code, :class:`Client`
calls one, and every error is a :class:`FireflyError`.
"""

import logging

from .app import Firefly, create_app
from .client import Client, RemoteFunction
from .errors import (
    AuthenticationError,
    BadRequestError,
    ConfigError,
    ConnectError,
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
from .version import __version__

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = [
    "AuthenticationError",
    "BadRequestError",
    "Client",
    "ConfigError",
    "ConnectError",
    "Firefly",
    "FireflyError",
    "ForbiddenError",
    "HTTPError",
    "LoadError",
    "MethodNotAllowedError",
    "NotFoundError",
    "PayloadTooLargeError",
    "RemoteError",
    "RemoteFunction",
    "RequestTimeoutError",
    "ServiceUnavailableError",
    "ValidationError",
    "__version__",
    "create_app",
]
