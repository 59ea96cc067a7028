"""The embedded backend: executions in a database table, run by threads of the server's workers.

Each worker runs one dispatcher thread and a pool of ``execution_threads``
threads. The dispatcher takes queued executions, oldest first, as threads
come free (at once when this worker queued one, else at its next look, every
:data:`POLL` seconds), keeps the leases of those it runs alive, and now and
then finds the executions whose lease expired (their worker died): each is
queued again while attempts are left, else failed as "worker lost". It also
deletes the executions finished longer ago than the retention.
"""

from __future__ import annotations

import concurrent.futures
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError, SQLAlchemyError

from ..encoding import dumps
from ..server.deadline import CallInterrupted, Watchdog, receive_interruption
from .model import FAILED, QUEUED, SUCCEEDED, Execution, QueueFullError, Run
from .store import Claimed, ExecutionStore
from .table import MIGRATIONS

if TYPE_CHECKING:
    from .metrics import ExecutionMetrics

logger = logging.getLogger("firefly")

#: What a database that is down or unreachable raises.
UNAVAILABLE: tuple[type[Exception], ...] = (OperationalError, InterfaceError, DisconnectionError)
#: Seconds between two looks for executions queued by other workers.
POLL = 0.2
#: Seconds at most between two purges of executions past their retention (half the
#: retention when that is shorter).
PURGE_EVERY = 60.0
#: Seconds a graceful stop waits for the executions it runs before queueing them again.
STOP_WAIT = 5.0


class EmbeddedBackend:
    """Executions in ``engine``'s ``firefly_executions`` table, run here.

    :param run: runs an execution's function (checked and called as a request would).
    :param threads: executions this worker runs at once.
    :param capacity: queued executions at most, over all workers; more are refused.
    :param lease: seconds a worker holds an execution without renewing it.
    :param max_attempts: attempts of an execution whose worker was lost (1 + retries).
    :param retention: seconds a finished execution stays readable.
    :param timeouts: seconds each function may run, by name; ``default_timeout`` for the others.
    :param metrics: told of each execution that ends here, and of the queue's depth.

    A SQLite file that does not exist yet is created by the first execution
    submitted, so that a server nobody asks for one leaves no file behind.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        threads: int,
        capacity: int,
        lease: float,
        max_attempts: int,
        retention: float,
        timeouts: Mapping[str, float],
        default_timeout: float,
        metrics: ExecutionMetrics | None = None,
    ):
        self.store = ExecutionStore(engine)
        self.engine = engine
        self.unavailable = UNAVAILABLE
        self.metrics = metrics
        self.threads = threads
        self.capacity = capacity
        self.lease = lease
        self.max_attempts = max_attempts
        self.retention = retention
        self.timeouts = dict(timeouts)
        self.default_timeout = default_timeout
        self.worker = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.queued = 0  # as of the dispatcher's last count, plus those queued here since
        self._prepared = False
        self._prepare_lock = threading.Lock()
        self._run: Run | None = None
        self._running: dict[str, float] = {}  # execution id: when it started here
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._dispatcher: threading.Thread | None = None
        self._watchdog = Watchdog(0.1)

    def submit(
        self, function: str, arguments: Mapping[str, Any], idempotency_key: str | None
    ) -> Execution:
        """Queue an execution; the same one again for a repeated idempotency key.

        :raises QueueFullError: :attr:`capacity` executions are queued already.
        """
        if self.queued >= self.capacity:
            raise QueueFullError(f"{self.queued} executions are queued")
        self._prepare()
        timeout = self.timeouts.get(function, self.default_timeout)
        created, new = self.store.insert(
            function, arguments, idempotency_key, timeout, self.max_attempts
        )
        if new:
            self.queued += 1
            self._wake.set()
            if self.metrics is not None:
                self.metrics.counted(function, QUEUED)
        return created

    def get(self, execution_id: str) -> Execution | None:
        """The execution ``execution_id``, or None."""
        return self.store.get(execution_id) if self._exists() else None

    def page(
        self, function: str | None, status: str | None, cursor: str | None, limit: int
    ) -> tuple[Sequence[Execution], str | None]:
        """A page of executions, newest first; the next page's cursor.

        :raises ValueError: a cursor that is not one this backend gave.
        """
        if cursor is not None and not cursor.isdigit():
            raise ValueError(f"cursor: expected the next_cursor of a page, got {cursor!r}")
        if not self._exists():
            return [], None
        found, following = self.store.page(function, status, int(cursor) if cursor else None, limit)
        return found, None if following is None else str(following)

    def cancel(self, execution_id: str) -> Execution | None:
        """Cancel a queued execution (:meth:`ExecutionStore.cancel`)."""
        return self.store.cancel(execution_id) if self._exists() else None

    def _exists(self) -> bool:
        """Whether the table is there (made ready when it is, or when its database is not a
        SQLite file still to create)."""
        if not self._prepared:
            database = self.engine.url.database
            if self.engine.dialect.name == "sqlite" and database and not Path(database).exists():
                return False
            self._prepare()
        return True

    def _prepare(self) -> None:
        with self._prepare_lock:
            if not self._prepared:
                MIGRATIONS.upgrade(self.engine)
                self._prepared = True

    def start(self, run: Run) -> None:
        """Run executions with ``run``, on this worker's threads."""
        self._run = run
        self._stopping.clear()
        self._pool = concurrent.futures.ThreadPoolExecutor(
            self.threads, thread_name_prefix="firefly-execution"
        )
        self._watchdog.start()
        self._dispatcher = threading.Thread(
            target=self._dispatch, name="firefly-executions", daemon=True
        )
        self._dispatcher.start()

    def stop(self) -> None:
        """Take no more executions; wait a little for those running, then queue them again."""
        self._stopping.set()
        self._wake.set()
        if self._dispatcher is not None:
            self._dispatcher.join()
        deadline = time.monotonic() + STOP_WAIT
        while self._running and time.monotonic() < deadline:
            time.sleep(0.05)
        left = list(self._running)
        if left:
            released = self._safely(lambda: self.store.release(self.worker, left), 0)
            logger.warning(
                "executions: %d were still running as the worker stopped; %d queued again",
                len(left),
                released,
            )
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        self._watchdog.stop()

    def _dispatch(self) -> None:
        renew_at = recover_at = count_at = time.monotonic()
        purge_every = min(PURGE_EVERY, max(self.retention / 2, POLL))
        purge_at = recover_at
        while not self._stopping.is_set():
            self._wake.wait(POLL)
            self._wake.clear()
            if self._stopping.is_set():
                return
            if not self._safely(self._exists, False):
                continue
            now = time.monotonic()
            if now >= recover_at:
                recover_at = now + self.lease / 2
                self._safely(self._recover, None)
            if now >= renew_at and self._running:
                renew_at = now + self.lease / 3
                self._safely(self._renew, None)
            if now >= purge_at:
                purge_at = now + purge_every
                self._safely(lambda: self.store.purge(self.retention), 0)
            if now >= count_at:  # at most once a poll: it costs more as the queue grows
                count_at = now + POLL
                self.queued = self._safely(self.store.count_queued, self.queued)
                if self.metrics is not None:
                    self.metrics.queue_depth(self.queued)
            if self.threads > len(self._running) and self.queued:
                claimed_now = self._safely(self._claim, [])
                self.queued = max(self.queued - len(claimed_now), 0) if claimed_now else 0
                for claimed in claimed_now:
                    self._running[claimed.id] = time.monotonic()
                    assert self._pool is not None
                    self._pool.submit(self._execute, claimed)

    def _renew(self) -> None:
        self.store.renew(self.worker, list(self._running), self.lease)

    def _claim(self) -> list[Claimed]:
        return self.store.claim(self.worker, self.threads - len(self._running), self.lease)

    def _recover(self) -> None:
        requeued, lost = self.store.recover()
        if requeued or lost:
            logger.warning(
                "executions: %d whose worker was lost queued again, %d failed as worker lost",
                len(requeued),
                len(lost),
            )
        if self.metrics is not None:
            for function in lost:
                self.metrics.finished(function, FAILED, 0.0)

    def _execute(self, claimed: Claimed) -> None:
        started = time.monotonic()
        status, result, error = self._call(claimed)
        try:
            self.store.finish(claimed.id, self.worker, status, result, error)
        except SQLAlchemyError:
            logger.exception("executions: cannot record the end of %s; its lease will", claimed.id)
        finally:
            self._running.pop(claimed.id, None)
            self._wake.set()  # a thread is free
        if self.metrics is not None:
            self.metrics.finished(claimed.function, status, time.monotonic() - started)

    def _call(self, claimed: Claimed) -> tuple[str, Any, str | None]:
        assert self._run is not None
        watch = self._watchdog.arm(claimed.timeout)
        try:
            try:
                result = self._run(claimed.function, claimed.arguments)
            finally:
                if self._watchdog.disarm(watch):
                    receive_interruption()
            dumps(result)  # an answer JSON cannot hold fails here, as a sync call's does
        except CallInterrupted:
            return FAILED, None, f"timed out: ran past the {claimed.timeout:g} s timeout"
        except Exception as error:  # the function's own, as a sync 500 says it
            logger.exception("execution %s of %s failed", claimed.id, claimed.function)
            return FAILED, None, f"{type(error).__name__}: {error}"
        return SUCCEEDED, result, None

    def _safely(self, action: Callable[[], Any], default: Any) -> Any:
        """``action()``, or ``default`` when the database fails (the next look retries)."""
        try:
            return action()
        except SQLAlchemyError as error:
            logger.error("executions: the database failed: %s", str(error).splitlines()[0])
            return default
