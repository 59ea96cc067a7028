"""Serving with gunicorn embedded: the ``firefly`` command's server.

Besides running gunicorn with the settings of a :class:`~firefly.config.Config`,
it does what a worker's life needs: a shared directory for prometheus-client's
multiprocess metrics, Firefly's worker class (:mod:`firefly.server.worker`:
each worker prepared as it starts, slow clients, overload, timeouts and the
graceful drain on SIGTERM), the features stopped as the worker exits, and
on SIGHUP the app's model files read again before the new workers fork
(:mod:`.reloading`).
"""

from __future__ import annotations

import math
import os
from typing import Any

from gunicorn.app.base import BaseApplication
from gunicorn.errors import AppImportError

from ..app import Firefly, create_app
from ..config import Config
from ..errors import FireflyError
from ..telemetry.metrics import (
    MULTIPROCESS_DIRECTORY_VARIABLE,
    prepare_multiprocess_directory,
    remove_multiprocess_directory,
    worker_exited,
)
from .reloading import reload_app

#: Firefly's worker: requests are read in full by an event loop before a thread runs them
WORKER_CLASS = "firefly.server.worker.FireflyWorker"


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
    once before they fork. With metrics on and no ``PROMETHEUS_MULTIPROC_DIR``
    given, the metrics of all workers are kept in a temporary directory,
    removed when the server stops.
    """

    def __init__(self, config: Config, app: Firefly | None = None):
        """Build the app (unless ``app`` is given or reload is on); raises FireflyError."""
        self.firefly_config = config
        self.metrics_directory: str | None = None
        if config.metrics and not os.environ.get(MULTIPROCESS_DIRECTORY_VARIABLE):
            self.metrics_directory = prepare_multiprocess_directory()
        try:
            self.application = None if config.reload else app or create_app(config)
        except BaseException:
            self.remove_metrics_directory()
            raise
        super().__init__()

    def load_config(self) -> None:
        config = self.firefly_config
        settings: dict[str, Any] = {
            "bind": [config.bind],
            "workers": config.workers,
            "threads": config.threads,
            "worker_class": WORKER_CLASS,
            "timeout": config.timeout,
            "graceful_timeout": config.timeout + math.ceil(config.shutdown_delay),
            "reload": config.reload,
            "when_ready": announce,
            "worker_exit": self.worker_stopped,
            "child_exit": lambda server, worker: worker_exited(worker.pid),
        }
        if "control_socket_disable" in self.cfg.settings:  # gunicorn >= 25
            settings["control_socket_disable"] = True  # one per user would clash between servers
        for name, value in settings.items():
            self.cfg.set(name, value)

    def load(self) -> Firefly:
        return self.application or build_app(self.firefly_config)

    def reload(self) -> None:
        """SIGHUP: read the settings again (gunicorn), then the app's model files.

        gunicorn's arbiter calls this before it forks the new workers, which
        serve what was read; then it stops the old workers gracefully. With
        ``reload`` on there is no app here: each new worker builds its own.
        """
        super().reload()
        reload_app(self.application)

    def run(self) -> None:
        """Serve until stopped; the metrics directory goes when the server does, even on failure."""
        server_pid = os.getpid()
        try:
            super().run()
        finally:
            if os.getpid() == server_pid:  # workers, forked inside run(), unwind through here too
                self.remove_metrics_directory()

    def worker_stopped(self, server: Any, worker: Any) -> None:
        """A worker exits: stop its app's features, so that they flush what they hold."""
        app = getattr(worker, "wsgi", None)
        if isinstance(app, Firefly):
            app.shutdown()

    def remove_metrics_directory(self) -> None:
        """Remove the metrics directory this server made, if any."""
        if self.metrics_directory:
            remove_multiprocess_directory(self.metrics_directory)
            self.metrics_directory = None


def announce(server: Any) -> None:
    """Print the base URL of each listener once gunicorn is ready to serve."""
    for listener in server.LISTENERS:
        print(f"{listener}/", flush=True)
