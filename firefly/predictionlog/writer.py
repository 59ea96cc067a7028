"""The thread that writes a worker's logged calls to the database, in batches, off the request path.

A call only appends its row to :attr:`Writer.rows` (:meth:`Writer.put`); the
writer's thread inserts what has gathered every :attr:`Writer.interval`
seconds, up to :attr:`Writer.batch_size` rows in one transaction. While the
database is slow or down, rows wait and the batch is retried, at growing
intervals up to :attr:`Writer.max_backoff`; the calls are served meanwhile. A
row that finds :attr:`Writer.capacity` rows waiting is dropped and counted
(``firefly_prediction_log_dropped_total``), with one log line when dropping
starts and one when it stops. :meth:`Writer.stop` writes what waits before it
returns, for up to ``drain_timeout`` seconds; what it cannot write then is
counted as dropped and logged.
"""

from __future__ import annotations

import collections
import itertools
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.exc import (
    DisconnectionError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    SQLAlchemyError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from ..encoding import loads
from .inserts import BatchInsert

#: What a database that is down, unreachable or busy raises: the rows wait and are retried.
UNAVAILABLE = (OperationalError, InterfaceError, DisconnectionError, PoolTimeoutError)

logger = logging.getLogger("firefly")


@dataclass
class WriterCounts:
    """What a writer has done since it started: the metrics' counters read these."""

    written: int = 0
    #: Rows dropped, by reason: ``queue_full``, ``duplicate`` (an observation id the
    #: database already holds), ``stopped`` (the database was down when the worker
    #: stopped), ``unwritable`` (a row the database refuses, as too long a value).
    dropped: collections.Counter[str] = field(default_factory=collections.Counter)
    #: Batches the database refused (each retried later).
    failed: int = 0


class Writer:
    """Writes the rows put on its queue to ``engine``'s predictions table, in batches.

    :param engine: the database.
    :param capacity: rows waiting at most; more are dropped and counted.
    :param report: called on the writer's thread after each batch, with the counts
        (the metrics).
    :param prepare: creates or migrates the table; called before the first batch, and
        again before the next one for as long as it fails (the database was down at start).
    """

    #: Seconds between two batches while the database answers: long enough that a batch
    #: holds many rows (one transaction each), short enough that a reader soon sees a call.
    interval: float = 0.2
    #: Rows in one insert.
    batch_size: int = 1000
    #: Seconds at most between two attempts while the database is down.
    max_backoff: float = 5.0
    #: Seconds :meth:`stop` keeps trying to write what waits.
    drain_timeout: float = 10.0

    def __init__(
        self,
        engine: Engine,
        capacity: int,
        report: Callable[[WriterCounts, int], None] | None = None,
        prepare: Callable[[], None] | None = None,
    ):
        self.engine = engine
        self.capacity = capacity
        self.report = report
        self._prepare = prepare
        self._insert_batch: BatchInsert | None = None  # made at the first batch: the driver loads
        self.rows: collections.deque[dict[str, Any]] = collections.deque()
        #: ``(function, observation_id)`` of the rows not yet written, for the 409 check.
        self.pending: set[tuple[str, str]] = set()
        self.counts = WriterCounts()
        self._overflowed = itertools.count()  # next() is atomic: request threads count drops
        self._overflow_ticks_seen = 0  # the counter's ticks added to counts, _report's own too
        self._dropping = False
        self._batch: list[dict[str, Any]] = []  # taken from rows, not yet written
        self._database_down_since: float | None = None
        self._stopping = threading.Event()
        self._written = threading.Condition()
        self._thread: threading.Thread | None = None
        reference = weakref.ref(self)
        os.register_at_fork(after_in_child=lambda: _forked(reference))

    @property
    def available(self) -> bool:
        """Whether the last attempt to write succeeded (the database is up, as far as known)."""
        return self._database_down_since is None

    @property
    def depth(self) -> int:
        """Rows waiting to be written."""
        return len(self.rows) + len(self._batch)

    def put(self, row: dict[str, Any]) -> bool:
        """Queue ``row``; False when the queue is full and it was dropped (and counted)."""
        if len(self.rows) + len(self._batch) >= self.capacity:
            next(self._overflowed)
            return False
        self.rows.append(row)
        observation = row["observation_id"]
        if observation is not None:
            self.pending.add((row["function"], observation))
        return True

    def start(self) -> None:
        """Start the writing thread (in the worker process, after the fork)."""
        if self._thread is None:
            self._stopping.clear()
            self._thread = threading.Thread(
                target=self._run, name="firefly-prediction-log", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        """Write what waits (for up to :attr:`drain_timeout` seconds), then stop the thread."""
        self._stopping.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()
        self._thread = None
        self._drain()

    def wait_written(self, timeout: float) -> bool:
        """Wait until every row queued before the call is written; False on timeout."""
        deadline = time.monotonic() + timeout
        target = self.counts.written + sum(self.counts.dropped.values()) + self.depth
        with self._written:
            while self.counts.written + sum(self.counts.dropped.values()) < target:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._thread is None:
                    return False
                self._written.wait(remaining)
        return True

    def _run(self) -> None:
        delay = self.interval
        while not self._stopping.wait(delay):
            delay = self.interval if self._write_waiting() else self._backoff(delay)

    def _backoff(self, delay: float) -> float:
        return min(max(delay * 2, 0.25), self.max_backoff)

    def _drain(self) -> None:
        deadline = time.monotonic() + self.drain_timeout
        delay = self.interval
        while self.depth and not self._write_waiting():
            if time.monotonic() + delay > deadline:
                lost = self.depth
                self.rows.clear()
                self._batch = []
                self.counts.dropped["stopped"] += lost
                logger.error(
                    "prediction log: %d rows could not be written before the worker stopped"
                    " (the database is unavailable); they are lost and counted as dropped",
                    lost,
                )
                break
            time.sleep(delay)
            delay = self._backoff(delay)
        self._report()

    def _write_waiting(self) -> bool:
        """Write every row waiting, a batch at a time; False when the database failed."""
        try:
            if self._prepare is not None:
                self._prepare()
                self._prepare = None
            while True:
                if not self._batch:
                    rows = self.rows
                    count = min(len(rows), self.batch_size)
                    self._batch = [as_record(rows.popleft()) for _ in range(count)]
                if not self._batch:
                    return True
                self._write(self._batch)
                self._batch = []
                self._database_up()
                self._report()
        except UNAVAILABLE as error:
            self.counts.failed += 1
            self._database_down(error)
            self._report()
            return False

    def _write(self, batch: Sequence[dict[str, Any]]) -> None:
        try:
            self._insert(batch)
        except UNAVAILABLE:
            raise
        except SQLAlchemyError:  # a row the database refuses: write the others, one at a time
            for row in batch:
                try:
                    self._insert([row])
                except UNAVAILABLE:
                    raise
                except SQLAlchemyError as error:
                    self._refused(row, error)
                else:
                    self.counts.written += 1
        else:
            self.counts.written += len(batch)
        pending = self.pending
        for row in batch:
            if row["observation_id"] is not None:
                pending.discard((row["function"], row["observation_id"]))

    def _refused(self, row: dict[str, Any], error: SQLAlchemyError) -> None:
        if isinstance(error, IntegrityError) and row["observation_id"] is not None:
            self.counts.dropped["duplicate"] += 1
            logger.warning(
                "prediction log: observation id %r of %s was logged before; this call"
                " (prediction %s) is dropped and counted",
                row["observation_id"],
                row["function"],
                row["prediction_id"],
            )
            return
        self.counts.dropped["unwritable"] += 1
        logger.error(
            "prediction log: the database refused the row of prediction %s of %s (%s); it is"
            " dropped and counted",
            row["prediction_id"],
            row["function"],
            str(error).splitlines()[0],
        )

    def _insert(self, rows: Sequence[dict[str, Any]]) -> None:
        if self._insert_batch is None:
            self._insert_batch = BatchInsert(self.engine)
        self._insert_batch(rows)

    def _database_down(self, error: Exception) -> None:
        if self._database_down_since is None:
            self._database_down_since = time.monotonic()
            logger.error(
                "prediction log: cannot write to the database (%s); %d rows wait and are retried",
                str(error).splitlines()[0],
                self.depth,
            )

    def _database_up(self) -> None:
        if self._database_down_since is not None:
            logger.warning(
                "prediction log: the database is back after %.1f s; writing the rows that waited",
                time.monotonic() - self._database_down_since,
            )
            self._database_down_since = None

    def _report(self) -> None:
        ticks = next(self._overflowed)
        overflowed = ticks - self._overflow_ticks_seen
        self._overflow_ticks_seen = ticks + 1
        if overflowed:
            self.counts.dropped["queue_full"] += overflowed
            if not self._dropping:
                self._dropping = True
                logger.error(
                    "prediction log: the queue is full (%d rows wait); dropping rows, counted in"
                    " firefly_prediction_log_dropped_total",
                    self.capacity,
                )
        elif self._dropping and self.depth < self.capacity:
            self._dropping = False
            logger.warning(
                "prediction log: the queue has room again; %d rows were dropped in all",
                self.counts.dropped["queue_full"],
            )
        if self.report is not None:
            self.report(self.counts, self.depth)
        with self._written:
            self._written.notify_all()

    def _after_fork(self) -> None:
        """In a forked child: the parent's rows are the parent's, and its thread is gone."""
        self.rows.clear()
        self.pending.clear()
        self._batch = []
        self._thread = None
        self._written = threading.Condition()


def as_record(row: dict[str, Any]) -> dict[str, Any]:
    """A queued row as the table takes it: a failed call's error its message.

    Left to the writer's thread so that a call only builds a dict.
    """
    error = row["error"]
    if error is not None and not isinstance(error, str):
        row["error"] = error_message(error)
    return row


def error_message(body: Any) -> str | None:
    """The message of an error answer's body (``{"error": ...}``); None if it has none."""
    if not isinstance(body, (list, tuple)):
        return None  # streamed: not read twice
    try:
        return str(loads(b"".join(body))["error"])
    except (ValueError, TypeError, KeyError):
        return None


def _forked(reference: weakref.ref[Writer]) -> None:
    writer = reference()
    if writer is not None:
        writer._after_fork()
