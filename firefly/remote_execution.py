"""An asynchronous execution seen from the client: its status, its result, its cancellation.

::

    >>> job = client.square.submit(n=4)
    >>> job.status
    'queued'
    >>> job.result(timeout=30)
    16

:class:`~firefly.Client` makes them (``submit``, ``execution``, ``executions``);
this module knows only the ``/-/executions`` resource, so that it shares no
code with the server but :mod:`firefly.errors`.
"""

from __future__ import annotations

import time
from typing import Any, Protocol

from .errors import ExecutionCancelledError, HTTPError, RequestTimeoutError, error_from_body

EXECUTIONS_PATH = "/-/executions"
STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
FINISHED = frozenset({"succeeded", "failed", "cancelled"})
#: Seconds the server waits at most for one ``GET /-/executions/<id>?wait=``.
MAX_WAIT = 60.0
#: How a failed execution's error starts when it ran past its timeout (a sync call's 504).
TIMED_OUT = "timed out: "


class Server(Protocol):
    """What an execution needs of its :class:`~firefly.Client`."""

    def request_json(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | None = None,
        *,
        wait: float = 0.0,
    ) -> Any: ...


class RemoteExecution:
    """An execution of a function on the server, by its id.

    ``status`` and :meth:`info` ask the server each time until it has finished;
    :meth:`result` waits for it and returns the result, or raises what the same
    call made at once would have raised.
    """

    def __init__(self, client: Server, info: dict[str, Any]):
        self.client = client
        self.id: str = info["id"]
        self._info = dict(info)

    def __repr__(self) -> str:
        return f"<RemoteExecution {self.id!r} of {self.client!r}>"

    @property
    def path(self) -> str:
        return f"{EXECUTIONS_PATH}/{self.id}"

    @property
    def status(self) -> str:
        """``queued``, ``running``, ``succeeded``, ``failed`` or ``cancelled``, as of now."""
        return str(self.info()["status"])

    @property
    def finished(self) -> bool:
        """Whether it had finished when last read (it changes no more then)."""
        return self._info.get("status") in FINISHED

    @property
    def _settled(self) -> bool:
        """Finished, and read in full: a submit's answer has no result, even for an execution
        that an idempotency key found finished."""
        return self.finished and "function" in self._info

    def info(self) -> dict[str, Any]:
        """The server's JSON of the execution: status, function, arguments, times, attempts,
        and the result or the error (read again unless it had finished)."""
        if not self._settled:
            self._info = self.client.request_json("GET", self.path)
        return dict(self._info)

    def to_dict(self) -> dict[str, Any]:
        """Its JSON as last read, without asking the server (only ``id`` and ``status`` right
        after a submit)."""
        return dict(self._info)

    def wait(self, timeout: float | None = None) -> dict[str, Any]:
        """Wait until it finishes, at most ``timeout`` seconds (None: as long as it takes);
        return its JSON, finished or not."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._settled:
            left = MAX_WAIT if deadline is None else deadline - time.monotonic()
            wait = round(min(max(left, 0.0), MAX_WAIT), 3)
            params = {"wait": f"{wait:g}"} if wait else None
            self._info = self.client.request_json("GET", self.path, params, wait=wait)
            if deadline is not None and time.monotonic() >= deadline:
                break
        return dict(self._info)

    def result(self, timeout: float | None = None) -> Any:
        """Its result, once it has succeeded; waits at most ``timeout`` seconds.

        :raises RemoteError: the function raised (``remote_type`` names the exception), as
            the same call made at once raises it; also when the execution's worker was lost.
        :raises CallTimeoutError: it ran past its timeout on the server.
        :raises ExecutionCancelledError: it was cancelled.
        :raises RequestTimeoutError: it had not finished within ``timeout``.
        """
        info = self.wait(timeout)
        status = info["status"]
        if status == "succeeded":
            return info.get("result")
        if status == "failed":
            raise failure(str(info.get("error")))
        if status == "cancelled":
            raise ExecutionCancelledError(
                f"execution {self.id} of {info.get('function')!r} was cancelled"
            )
        raise RequestTimeoutError(
            f"execution {self.id} of {info.get('function')!r} did not finish within"
            f" {timeout:g} seconds: it is {status}"
        )

    def cancel(self) -> dict[str, Any]:
        """Cancel it while it is queued; return its JSON (``"status": "cancelled"``).

        :raises ConflictError: it is running or has finished.
        """
        self._info = self.client.request_json("DELETE", self.path)
        return dict(self._info)


def failure(error: str) -> HTTPError:
    """The exception a sync call raises for the error of a failed execution: ``"ValueError:
    bad"`` is the :class:`~firefly.RemoteError` of a ``500`` whose ``type`` is
    ``ValueError``, ``"timed out: ..."`` the :class:`~firefly.errors.CallTimeoutError` of a
    ``504``, anything else (``"worker lost: ..."``) a ``RemoteError`` without a type."""
    if error.startswith(TIMED_OUT):
        return error_from_body(504, {"error": error})
    kind, separator, _ = error.partition(": ")
    typed = separator and kind.isidentifier()
    return error_from_body(500, {"error": error, "type": kind} if typed else {"error": error})
