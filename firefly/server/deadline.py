"""The ``timeout`` of a call under a server that has none (granian): a JSON 504.

granian gives a WSGI app no per-request timeout, and a WSGI request's thread
cannot answer while it runs the call. Running each call on a helper thread
would let the request's thread answer at the deadline, but handing a call
to another thread and back costs about 20 µs, more than granian's whole
request. :class:`DeadlineFeature` therefore runs the call on the request's
own thread and lets a watchdog thread interrupt it: at the deadline the
watchdog raises :class:`CallInterrupted` in that thread (CPython's
``PyThreadState_SetAsyncExc``), the call unwinds, and the caller gets
``504`` with ``{"error": "square ran past the 3 s timeout", "timeout": 3}``
(:class:`~firefly.errors.CallTimeoutError`, as under gunicorn).

The exception arrives at the call's next Python instruction: a call waiting
inside C code (``time.sleep``, a socket read, one long NumPy operation) is
interrupted, and answered, only once that returns. It derives from
``BaseException``, so that ``except Exception`` in the function does not
swallow it; a call that returns after its deadline anyway is answered 504 too.
"""

from __future__ import annotations

import ctypes
import sys
import threading
import time
from typing import Any

from ..errors import CallTimeoutError
from ..features import Feature, Invoke, Service
from ..registry import CallSpec

#: The longest the watchdog sleeps between two looks at the calls, in seconds.
LONGEST_TICK = 0.5
#: Python calls made to receive an interruption that is on its way (one is enough).
RECEIVE_TRIES = 1000


class CallInterrupted(BaseException):
    """Raised inside a call by the watchdog at its deadline; answered as a 504."""


class _Watch:
    """One call being watched: when it must end, and whether it was interrupted."""

    __slots__ = ("deadline", "interrupted")

    def __init__(self, deadline: float):
        self.deadline = deadline
        self.interrupted = False


class Watchdog:
    """Interrupts the calls that run past their deadline, looking every ``tick`` seconds."""

    def __init__(self, tick: float):
        self.tick = tick
        self._calls: dict[int, _Watch] = {}  # by thread: one call at a time on a thread
        self._lock = threading.Lock()  # between interrupting a call and its end
        self._stopping = threading.Event()

    def arm(self, seconds: float) -> _Watch:
        """Watch the call this thread starts now."""
        watch = self._calls[threading.get_ident()] = _Watch(time.monotonic() + seconds)
        return watch

    def disarm(self, watch: _Watch) -> bool:
        """The call has ended: stop watching it; whether it was interrupted."""
        with self._lock:
            self._calls.pop(threading.get_ident(), None)
        return watch.interrupted

    def start(self) -> None:
        """Start watching, on a thread of its own."""
        threading.Thread(target=self._run, name="firefly-deadline", daemon=True).start()

    def stop(self) -> None:
        """Stop watching."""
        self._stopping.set()

    def _run(self) -> None:
        while not self._stopping.wait(self.tick):
            now = time.monotonic()
            with self._lock:
                for thread, watch in list(self._calls.items()):
                    if watch.deadline <= now and not watch.interrupted:
                        watch.interrupted = True
                        interrupt(thread)


def interrupt(thread: int) -> None:
    """Raise :class:`CallInterrupted` in ``thread`` at its next Python instruction."""
    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread), ctypes.py_object(CallInterrupted)
    )


def receive_interruption() -> None:
    """Let an interruption on its way to this thread arrive, here (it raises)."""
    for _ in range(RECEIVE_TRIES):
        _instruction()


def _instruction() -> None:
    """A Python call: where a pending interruption is raised."""


class DeadlineFeature(Feature):
    """Answers 504 to a call that runs past ``seconds``, interrupting it.

    :param seconds: the longest a call may run (the ``timeout`` setting).
    """

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.watchdog = Watchdog(min(seconds / 20, LONGEST_TICK))

    def wrap(self, spec: CallSpec, invoke: Invoke) -> Invoke:
        """``invoke``, interrupted at its deadline and answered 504."""
        seconds, name, watchdog = self.seconds, spec.name, self.watchdog

        def invoke_with_deadline(**arguments: Any) -> Any:
            watch = watchdog.arm(seconds)
            try:
                try:
                    result = invoke(**arguments)
                finally:
                    interrupted = watchdog.disarm(watch)
                    if interrupted and not isinstance(sys.exc_info()[1], CallInterrupted):
                        receive_interruption()  # it was raised too late to stop the call
            except CallInterrupted:
                raise CallTimeoutError.for_call(name, seconds) from None
            if interrupted:  # the function swallowed the interruption
                raise CallTimeoutError.for_call(name, seconds)
            return result

        return invoke_with_deadline

    def start(self, service: Service) -> None:
        """Start the watchdog in this worker."""
        self.watchdog.start()

    def stop(self) -> None:
        """Stop the watchdog."""
        self.watchdog.stop()
