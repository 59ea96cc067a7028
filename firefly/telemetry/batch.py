"""Work on finished requests done off the request thread, in batches.

The access log and the metrics each own a :class:`Batcher`: the request's
thread only appends the request's record to a queue (one ``deque.append``),
and a thread of the batcher's own hands what has gathered to the observer
every :attr:`Batcher.interval` seconds. Formatting and writing a hundred log
lines, or adding a hundred requests to the metrics, at once costs much less
than a hundred times one: one ``write`` per 4 KiB of lines, one locked
update of each metric value.

The queue is bounded: an item that finds :attr:`Batcher.limit` items waiting
makes its own thread handle the batch. :meth:`Batcher.stop` hands over what
is left before it returns, so nothing is lost when a worker stops gracefully;
a worker killed outright loses at most one interval of items. The thread
starts with the first item, in the process that adds it.
"""

from __future__ import annotations

import collections
import logging
import os
import threading
import weakref
from collections.abc import Callable
from typing import ClassVar, Generic, TypeVar

__all__ = ["Batcher"]

logger = logging.getLogger(__name__)

T = TypeVar("T")


class Batcher(Generic[T]):
    """Gathers items from any thread and hands them to ``handle`` in batches, in order.

    :param handle: called with each batch (a non-empty list), one batch at a time.
    :param name: the name of the batcher's thread.
    """

    #: Seconds between two batches.
    interval: ClassVar[float] = 0.05
    #: Items waiting at most: the next one hands the batch over on its own thread.
    limit: ClassVar[int] = 10_000

    def __init__(self, handle: Callable[[list[T]], None], name: str):
        self._handle = handle
        self._name = name
        self._items: collections.deque[T] = collections.deque()
        self._lock = threading.Lock()  # one batch at a time, so that they stay in order
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None  # started by the first item
        reference = weakref.ref(self)
        os.register_at_fork(after_in_child=lambda: _forked(reference))

    def add(self, item: T) -> None:
        """Queue ``item`` for the next batch."""
        items = self._items
        items.append(item)
        if self._thread is None:
            self._start()
        elif len(items) >= self.limit:
            self.flush()

    def flush(self) -> None:
        """Hand every item waiting to ``handle`` now, on this thread."""
        with self._lock:
            items = self._items
            batch = [items.popleft() for _ in range(len(items))]
            if batch:
                self._handle(batch)

    def stop(self) -> None:
        """Stop the thread after a last batch: every item added before is handled."""
        self._stopping.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()
        self.flush()

    def _start(self) -> None:
        with self._lock:
            if self._thread is None and not self._stopping.is_set():
                thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                thread.start()
                self._thread = thread

    def _run(self) -> None:
        while not self._stopping.wait(self.interval):
            try:
                self.flush()
            except Exception:  # the next batch may fare better; the thread must go on
                logger.exception("firefly: %s failed", self._name)

    def _after_fork(self) -> None:
        """In a forked child: the parent's items are the parent's, and its thread is gone."""
        self._items.clear()
        self._lock = threading.Lock()
        self._thread = None


def _forked(reference: weakref.ref[Batcher[T]]) -> None:
    batcher = reference()
    if batcher is not None:
        batcher._after_fork()
