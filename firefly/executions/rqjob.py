"""What an RQ worker runs for an execution: its function, by name, in the app ``firefly worker``
loaded (:func:`serve`), as the embedded backend's threads run it.

The function's own error is what the execution says, as a sync 500 would
(``"ValueError: ..."``), and it is final: RQ retries a job only when its
worker was lost. RQ's timeout interrupts a function that runs too long.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from rq import get_current_job
from rq.job import Job
from rq.timeouts import JobTimeoutException

from ..encoding import dumps
from .model import Run

_run: Run | None = None


def serve(run: Run) -> None:
    """Have the RQ workers of this process (and of those it forks) run executions with ``run``."""
    global _run
    _run = run


def run(function: str, arguments: Mapping[str, Any]) -> Any:
    """Run one execution (the RQ job's function); its result as plain JSON values."""
    job = get_current_job()
    if job is None or _run is None:
        raise RuntimeError("executions run in the RQ workers of 'firefly worker'")
    job.meta["attempts"] = int(job.meta.get("attempts") or 0) + 1
    job.save_meta()
    try:
        result = _run(function, arguments)
        try:
            return orjson.loads(dumps(result))  # what RQ's JSON serializer can store
        except TypeError as error:
            raise EncodeError(f"{type(error).__name__}: {error}") from None
    except JobTimeoutException:
        _failed(job, f"timed out: ran past the {job.meta.get('timeout', job.timeout):g} s timeout")
        raise
    except EncodeError as error:
        _failed(job, f"cannot encode result: {error}")
        raise
    except Exception as error:
        _failed(job, f"{type(error).__name__}: {error}")
        raise


class EncodeError(Exception):
    """A result JSON cannot hold."""


def _failed(job: Job, error: str) -> None:
    """Record the error the execution ends with, and leave RQ no retry of it."""
    job.meta["error"] = error
    job.save_meta()
    job.retries_left = 0
