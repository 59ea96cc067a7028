"""What an execution is, whichever backend keeps it: its statuses, its record and its JSON.

An execution is ``queued`` until a worker takes it, ``running`` while it
runs, then ``succeeded`` (with its result), ``failed`` (with its error,
``"ValueError: ..."`` as a sync 500 would say, or ``"worker lost: ..."``
when its worker died and no attempt is left) or ``cancelled`` (while still
queued).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED = (
    "queued",
    "running",
    "succeeded",
    "failed",
    "cancelled",
)
STATUSES = (QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED)
FINISHED = frozenset({SUCCEEDED, FAILED, CANCELLED})


@dataclass(frozen=True)
class Execution:
    """One execution, as ``GET /-/executions/<id>`` answers it."""

    id: str
    function: str
    arguments: Mapping[str, Any]
    status: str
    attempts: int
    created_at: dt.datetime
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    result: Any = None
    error: str | None = None

    @property
    def finished(self) -> bool:
        """Whether it will change no more."""
        return self.status in FINISHED

    def to_json(self) -> dict[str, Any]:
        """Its JSON: the result only once succeeded, the error only once failed."""
        answer: dict[str, Any] = {
            "id": self.id,
            "status": self.status,
            "function": self.function,
            "arguments": dict(self.arguments),
            "created_at": iso(self.created_at),
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at),
            "attempts": self.attempts,
        }
        if self.status == SUCCEEDED:
            answer["result"] = self.result
        elif self.status == FAILED:
            answer["error"] = self.error
        return answer


def iso(moment: dt.datetime | None) -> str | None:
    """A UTC time (naive, as stored) as ISO 8601 with ``Z``."""
    return None if moment is None else moment.isoformat(timespec="microseconds") + "Z"


def utcnow() -> dt.datetime:
    """Now, in UTC without a zone: how times are stored."""
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


class QueueFullError(Exception):
    """The backend holds as many queued executions as it may: the caller should retry later."""


class NotQueuedError(Exception):
    """An execution that cannot be cancelled: it is running or finished."""

    def __init__(self, execution: Execution):
        super().__init__(execution.status)
        self.execution = execution


#: Runs one execution: the function's name and its arguments in, its result out.
Run = Callable[[str, Mapping[str, Any]], Any]


class Backend(Protocol):
    """Where executions are kept and run: the embedded one, or RQ on Redis."""

    #: What its methods raise while its database or Redis cannot be reached: answered 503.
    unavailable: tuple[type[Exception], ...]

    def submit(
        self, function: str, arguments: Mapping[str, Any], idempotency_key: str | None
    ) -> Execution:
        """Queue an execution of ``function`` (its arguments already checked); with an
        idempotency key a second submit gives back the first execution.

        :raises QueueFullError: the queue holds as many executions as it may.
        """

    def get(self, execution_id: str) -> Execution | None:
        """The execution ``execution_id``; None when unknown or purged."""

    def page(
        self, function: str | None, status: str | None, cursor: str | None, limit: int
    ) -> tuple[Sequence[Execution], str | None]:
        """Executions, newest first, filtered; and the cursor of the next page."""

    def cancel(self, execution_id: str) -> Execution | None:
        """Cancel a queued execution; None when unknown.

        :raises NotQueuedError: it is running or finished.
        """

    def start(self, run: Run) -> None:
        """Start what runs the executions in this worker, with ``run`` (the embedded backend's
        threads; nothing for RQ, whose own workers run them)."""

    def stop(self) -> None:
        """Stop them; executions still running are found by their lease and retried."""
