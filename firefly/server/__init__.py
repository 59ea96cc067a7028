"""The servers the ``firefly`` command embeds: gunicorn (:mod:`~firefly.server.gunicorn`), the
default, and granian (:mod:`~firefly.server.granian`), an extra."""

from __future__ import annotations

from typing import Protocol

from ..config import Config
from ..errors import ConfigError
from .gunicorn import AppConfigError, FireflyApplication, build_app

__all__ = ["AppConfigError", "FireflyApplication", "Server", "build_app", "server_for"]

GRANIAN_MISSING = "--server granian needs granian: pip install firefly-python[granian]"


class Server(Protocol):
    """A server ready to serve an app: it runs until stopped."""

    def run(self) -> None:
        """Serve until stopped."""


def server_for(config: Config) -> Server:
    """The server ``config.server`` names, serving the app ``config`` describes.

    :raises FireflyError: the app cannot be built, or the server is not installed.
    """
    if config.server == "granian":
        try:
            from .granian import GranianServer
        except ModuleNotFoundError as err:
            if err.name != "granian" and not (err.name or "").startswith("granian."):
                raise
            raise ConfigError(GRANIAN_MISSING) from None
        return GranianServer(config)
    return FireflyApplication(config)
