"""Health checks: ``GET /-/alive`` and ``GET /-/ready``.

``/-/alive`` answers 200 while the process serves. ``/-/ready`` answers 200
once every function is loaded and its warm-up call (if any) has run, and 503
before that and from the moment the worker is asked to shut down, so that a
load balancer sends requests elsewhere.
"""

from __future__ import annotations

import enum
import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

logger = logging.getLogger("firefly")

ALIVE_PATH = "/-/alive"
READY_PATH = "/-/ready"
PATHS = (ALIVE_PATH, READY_PATH)


class Status(enum.Enum):
    """Where a worker is in its life."""

    STARTING = "starting"
    READY = "ready"
    STOPPING = "stopping"


class Health:
    """The readiness of one worker process: starting, then ready, then stopping."""

    def __init__(self) -> None:
        self.status = Status.STARTING
        self._started = False
        self._lock = threading.Lock()

    @property
    def ready(self) -> bool:
        """Whether the worker should be sent requests."""
        return self.status is Status.READY

    def start(self, warmups: Iterable[tuple[str, Callable[[], Any]]]) -> None:
        """Run the warm-up calls in a background thread, then become ready (once per worker)."""
        with self._lock:
            if self._started:
                return
            self._started = True
        pending = list(warmups)
        if not pending:
            self._become_ready()
            return
        threading.Thread(target=self._warm_up, args=(pending,), name="firefly-warmup").start()

    def stop(self) -> None:
        """The worker is shutting down: not ready any more."""
        self.status = Status.STOPPING

    def _warm_up(self, warmups: list[tuple[str, Callable[[], Any]]]) -> None:
        for name, call in warmups:
            try:
                call()
            except Exception:
                logger.exception("warm-up call of %r failed; the worker stays not ready", name)
                return
        self._become_ready()

    def _become_ready(self) -> None:
        with self._lock:
            if self.status is Status.STARTING:
                self.status = Status.READY
