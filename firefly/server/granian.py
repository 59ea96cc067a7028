"""Serving with granian embedded: ``firefly --server granian`` (extra: ``firefly-python[granian]``).

:class:`GranianServer` plays the part :class:`~firefly.server.gunicorn.FireflyApplication`
plays for gunicorn: it builds the app, runs granian's multi-process server
with the settings of a :class:`~firefly.config.Config`, and cleans up. Each
worker process (:class:`WorkerApp`) prepares the app as soon as it starts,
stops its features as it exits and forgets its in-progress metrics; on
SIGTERM the server first reports not ready for ``shutdown_delay`` seconds; on
SIGHUP the app's model files are read again before granian replaces the
workers one by one (:mod:`.reloading`).
granian has no per-request timeout for WSGI: :mod:`~firefly.server.deadline`
interrupts a call past the ``timeout`` and answers it 504.
"""

from __future__ import annotations

import ctypes
import gc
import multiprocessing
import multiprocessing.sharedctypes
import multiprocessing.util
import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

from granian.constants import Interfaces
from granian.http import HTTP1Settings
from granian.server import MPServer

from ..app import Firefly, create_app
from ..config import Config
from ..errors import FireflyError
from ..telemetry.metrics import (
    MULTIPROCESS_DIRECTORY_VARIABLE,
    prepare_multiprocess_directory,
    remove_multiprocess_directory,
    worker_exited,
)
from .deadline import DeadlineFeature
from .reloading import reload_app

#: granian's own log lines go to stderr, as gunicorn's do: stdout has only the base URL.
LOG_CONFIG = {
    "handlers": {
        "console": {"formatter": "generic", "class": "logging.StreamHandler", "stream": "ext://sys.stderr"},
        "access": {"formatter": "access", "class": "logging.StreamHandler", "stream": "ext://sys.stderr"},
    },
}  # fmt: skip
ANNOUNCE_POLL = 0.02  # seconds between two tries to connect, until the server listens


def with_deadline(app: Firefly, config: Config) -> Firefly:
    """``app`` answering 504 to a call that runs past ``config.timeout``."""
    app.add_feature(DeadlineFeature(config.timeout))
    return app


#: A flag in memory the server shares with its workers. Not a multiprocessing Event:
#: setting one waits for every process that waits on it, and a worker stopped by a
#: reload while waiting would hold the server's SIGTERM handler forever.
Flag = Any
#: Seconds between a worker's looks at the draining flag.
DRAIN_POLL = 0.1


def new_flag() -> Flag:
    """A shared flag, False until set: its ``value`` reads and writes take no lock."""
    return multiprocessing.sharedctypes.RawValue(ctypes.c_bool, False)


class WorkerApp:
    """What a granian worker serves: the app, prepared in the worker once it has started.

    It is granian's target loader, called in each worker process: the app
    built before the workers fork, or, with reload on (or when the workers
    are spawned rather than forked), one the worker builds itself.
    """

    def __init__(self, config: Config, app: Firefly | None, draining: Flag):
        self.config = config
        self.app = app
        self.draining = draining

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "app": None}  # a spawned worker builds its own app

    def __call__(self) -> Firefly:
        """In a new worker: prepare the app, stop it at exit, report not ready once draining."""
        try:
            app = self.app or with_deadline(create_app(self.config), self.config)
        except FireflyError as err:
            raise SystemExit(f"firefly: {err}") from None  # one line on stderr, no traceback
        app.prepare()
        # What is loaded by now lives as long as the worker: the garbage collector's full
        # passes skip it (they took tens of milliseconds, a p99 of 30 ms on square).
        gc.freeze()
        # granian's worker returns from its target when it stops; multiprocessing then runs
        # its finalizers (not atexit, which a forked child skips).
        multiprocessing.util.Finalize(app, stop_worker, (app,), exitpriority=10)
        threading.Thread(
            target=unready_when_set, args=(app, self.draining), name="firefly-drain", daemon=True
        ).start()
        return app


def stop_worker(app: Firefly) -> None:
    """The worker exits: stop the app's features (they flush), forget its in-progress metrics."""
    app.shutdown()
    worker_exited(os.getpid())


def unready_when_set(app: Firefly, draining: Flag) -> None:
    """Report not ready once the server starts draining (the flag is looked at, not waited on)."""
    while not draining.value:
        time.sleep(DRAIN_POLL)
    app.health.stop()


class FireflyGranian(MPServer):
    """granian's multi-process server, draining ``shutdown_delay`` seconds on SIGTERM.

    During the delay the workers answer ``/-/ready`` with 503 and go on
    serving; then granian stops them, each after the requests in hand.
    """

    def __init__(self, *args: Any, shutdown_delay: float, draining: Flag, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.shutdown_delay = shutdown_delay
        self.draining = draining

    def signal_handler_interrupt(self, *args: Any, **kwargs: Any) -> None:
        """SIGINT stops at once; SIGTERM first drains for ``shutdown_delay`` seconds."""
        if args and args[0] == signal.SIGTERM and self.shutdown_delay > 0:
            if not self.draining.value:
                self.draining.value = True
                stop = super().signal_handler_interrupt
                threading.Timer(self.shutdown_delay, stop).start()
            return
        self.draining.value = True
        super().signal_handler_interrupt(*args, **kwargs)


def python_files() -> Any:
    """The reloader's filter: only Python files, as gunicorn's reloader watches modules."""
    from watchfiles import PythonFilter  # granian[reload]: the extra installs it

    return PythonFilter


def address(bind: str) -> dict[str, Any]:
    """granian's ``address``/``port`` or ``uds`` arguments for ``HOST:PORT`` or ``unix:PATH``."""
    if bind.startswith("unix:"):
        return {"uds": Path(bind.removeprefix("unix:"))}
    host, _, port = bind.rpartition(":")
    return {"address": host.strip("[]"), "port": int(port)}


class GranianServer:
    """granian serving the app ``config`` describes (or ``app``), with firefly's worker life.

    With ``reload`` on, each worker builds the app itself, so that restarted
    workers import the changed code; otherwise the workers share ``app``,
    built once before they fork. With metrics on and no
    ``PROMETHEUS_MULTIPROC_DIR`` given, the metrics of all workers are kept in
    a temporary directory, removed when the server stops.
    """

    def __init__(self, config: Config, app: Firefly | None = None):
        """Build the app (unless ``app`` is given or reload is on); raises FireflyError."""
        self.config = config
        self.metrics_directory: str | None = None
        if config.metrics and not os.environ.get(MULTIPROCESS_DIRECTORY_VARIABLE):
            self.metrics_directory = prepare_multiprocess_directory()
        try:
            built = None if config.reload else with_deadline(app or create_app(config), config)
        except BaseException:
            self.remove_metrics_directory()
            raise
        self.draining = new_flag()
        self.worker_app = WorkerApp(config, built, self.draining)

    def run(self) -> None:
        """Serve until stopped; the metrics directory goes when the server does, even on failure."""
        config = self.config
        server = FireflyGranian(
            "firefly",
            **address(config.bind),
            interface=Interfaces.WSGI,
            workers=config.workers,
            blocking_threads=config.threads,
            http1_settings=HTTP1Settings(header_read_timeout=int(config.read_timeout * 1000)),
            log_dictconfig=LOG_CONFIG,
            reload=config.reload,
            reload_filter=python_files() if config.reload else None,
            shutdown_delay=config.shutdown_delay,
            draining=self.draining,
        )
        announcer = threading.Thread(
            target=announce_when_listening,
            args=(config.bind,),
            name="firefly-announce",
            daemon=True,
        )
        server.on_startup(announcer.start)
        # SIGHUP: granian calls its reload hooks, then forks each new worker from here
        server.on_reload(self.reload)
        try:
            server.serve(target_loader=self.worker_app, wrap_loader=False)
        finally:
            self.remove_metrics_directory()

    def reload(self) -> None:
        """SIGHUP: read the app's model files again, before granian starts the new workers."""
        reload_app(self.worker_app.app)

    def remove_metrics_directory(self) -> None:
        """Remove the metrics directory this server made, if any."""
        if self.metrics_directory:
            remove_multiprocess_directory(self.metrics_directory)
            self.metrics_directory = None


def announce_when_listening(bind: str) -> None:
    """Print the base URL once a worker accepts connections, as the gunicorn server does.

    On Linux each granian worker opens its own listening socket, after the
    server has started it: the URL is printed once a connection succeeds.
    """
    family, where = address_of(bind)
    while True:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            try:
                probe.connect(where)
                break
            except OSError:
                time.sleep(ANNOUNCE_POLL)
    url = bind if bind.startswith("unix:") else f"http://{bind}"
    print(f"{url}/", file=sys.stdout, flush=True)


def address_of(bind: str) -> tuple[socket.AddressFamily, Any]:
    """The socket family and address a client connects to for ``bind``."""
    if bind.startswith("unix:"):
        return socket.AF_UNIX, bind.removeprefix("unix:")
    host, _, port = bind.rpartition(":")
    host = host.strip("[]")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return family, (host, int(port))
