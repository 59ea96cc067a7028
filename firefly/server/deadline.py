"""The ``timeout`` of a call for servers that have none: a JSON 504 at the deadline.

granian gives a WSGI app no per-request timeout, and a Python thread cannot
be stopped from outside. :class:`DeadlineFeature` therefore runs each call on
a helper thread while the request's own thread waits for it, at most
``timeout`` seconds; past that the caller gets ``504`` with
``{"error": "square ran past the 3 s timeout", "timeout": 3}``
(:class:`~firefly.errors.CallTimeoutError`, as under gunicorn). The call itself
runs on to its end in its helper thread, whose result is then dropped. There
are as many helper threads as the worker has threads, so a worker whose
helpers are all stuck answers 504 to the calls that wait for one.
"""

from __future__ import annotations

import contextvars
import functools
import threading
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from ..errors import CallTimeoutError
from ..features import Feature, Invoke
from ..registry import FunctionSpec


class DeadlineFeature(Feature):
    """Answers 504 to a call that runs past ``seconds``, which runs on a helper thread.

    :param seconds: the longest a call may run (the ``timeout`` setting).
    :param threads: helper threads: the calls that can run at once (the ``threads`` setting).
    """

    def __init__(self, seconds: float, threads: int):
        self.seconds = seconds
        self.threads = threads
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def wrap(self, spec: FunctionSpec, invoke: Invoke) -> Invoke:
        """``invoke`` run on a helper thread, waited for ``seconds`` at most."""
        seconds, name = self.seconds, spec.name

        def invoke_with_deadline(**arguments: Any) -> Any:
            # The call sees the request's context (its request id in log lines).
            call = functools.partial(contextvars.copy_context().run, invoke, **arguments)
            future = self.pool().submit(call)
            try:
                return future.result(timeout=seconds)
            except FutureTimeout:
                future.cancel()  # not started yet: it never will be
                raise CallTimeoutError.for_call(name, seconds) from None

        return invoke_with_deadline

    def pool(self) -> ThreadPoolExecutor:
        """The helper threads, made on first use in the process that calls."""
        pool = self._pool
        if pool is None:
            with self._lock:
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(self.threads, "firefly-call")
                pool = self._pool
        return pool

    def stop(self) -> None:
        """Drop the calls not started; a call past its deadline is not waited for."""
        if self._pool is not None:
            # The server has answered every request before the worker stops: a call
            # still running is one past its deadline, already answered 504.
            self._pool.shutdown(wait=False, cancel_futures=True)
