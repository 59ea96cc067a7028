"""Serving with gunicorn embedded: the ``firefly`` command's server."""

from __future__ import annotations

from typing import Any

from gunicorn.app.base import BaseApplication
from gunicorn.errors import AppImportError

from .app import Firefly, create_app
from .config import Config
from .errors import FireflyError


class AppConfigError(AppImportError, RuntimeError):
    """The app cannot be built; gunicorn prints this one line and exits non-zero.

    gunicorn reports an AppImportError from a worker, and a RuntimeError from
    the arbiter (``--preload``), as their message alone, without a traceback.
    """


def build_app(config: Config) -> Firefly:
    """The app ``config`` describes, with errors in the form gunicorn reports cleanly."""
    try:
        return create_app(config)
    except FireflyError as err:
        raise AppConfigError(f"firefly: {err}") from None


class FireflyApplication(BaseApplication):
    """A gunicorn application serving ``app``, or the app ``config`` describes.

    With ``reload`` on, each worker builds the app itself so that restarted
    workers import the changed code; otherwise workers share ``app``, built
    once before they fork.
    """

    def __init__(self, config: Config, app: Firefly | None = None):
        self.firefly_config = config
        self.application = None if config.reload else app
        super().__init__()

    def load_config(self) -> None:
        config = self.firefly_config
        settings: dict[str, Any] = {
            "bind": [config.bind],
            "workers": config.workers,
            "threads": config.threads,
            "timeout": config.timeout,
            "reload": config.reload,
            "when_ready": announce,
        }
        if "control_socket_disable" in self.cfg.settings:  # gunicorn >= 25
            settings["control_socket_disable"] = True  # one per user would clash between servers
        for name, value in settings.items():
            self.cfg.set(name, value)

    def load(self) -> Firefly:
        return self.application or build_app(self.firefly_config)


def announce(server: Any) -> None:
    """Print the base URL of each listener once gunicorn is ready to serve."""
    for listener in server.LISTENERS:
        print(f"{listener}/", flush=True)
