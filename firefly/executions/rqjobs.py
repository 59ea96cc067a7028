"""RQ's jobs as executions: the Redis URL, what a job's status and error say, and the
clean-up that finds the jobs whose worker was lost.

A worker that dies leaves its job in RQ's started registry until the job's
heartbeat runs out; RQ's clean-up of that registry then queues the job again
while retries are left (``Retry(max=execution_retries)``), else fails it.
Servers and workers both run it (:func:`recover`), under one lock, since two
clean-ups at once would both queue a lost job again.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from redis import Redis
from rq import Queue
from rq.job import Job, JobStatus
from rq.registry import StartedJobRegistry
from rq.serializers import JSONSerializer

from .model import CANCELLED, FAILED, QUEUED, RUNNING, SUCCEEDED, Execution
from .store import WORKER_LOST

logger = logging.getLogger("firefly")

#: The queue executions go to, unless the URL says ``?queue=NAME``.
QUEUE = "firefly"
#: Seconds the lock of a clean-up holds at most, should its process die in it.
LOCK_TIMEOUT = 10
STATUSES = {
    JobStatus.CREATED: QUEUED,
    JobStatus.QUEUED: QUEUED,
    JobStatus.DEFERRED: QUEUED,
    JobStatus.SCHEDULED: QUEUED,
    JobStatus.STARTED: RUNNING,
    JobStatus.FINISHED: SUCCEEDED,
    JobStatus.FAILED: FAILED,
    JobStatus.STOPPED: FAILED,
    JobStatus.CANCELED: CANCELLED,
}
#: What RQ writes of a job whose worker died: its heartbeat ran out, or its work horse was killed.
LOST_MARKS = ("AbandonedJobError", "Work-horse terminated unexpectedly")


def status_of(status: JobStatus | str | None) -> str | None:
    """The execution status of an RQ job status; None for a job that is gone."""
    return None if status is None else STATUSES.get(JobStatus(status), QUEUED)


def error_of(recorded: str | None, exc_text: str | None) -> str:
    """A failed job's error: the one its function raised (recorded by the job), "worker lost"
    when RQ found its worker dead, else the last line of RQ's traceback."""
    if recorded:
        return recorded
    text = (exc_text or "").strip()
    if not text or any(mark in text for mark in LOST_MARKS):
        return WORKER_LOST
    return text.splitlines()[-1]


def naive(moment: dt.datetime | None) -> dt.datetime | None:
    """An RQ time (UTC, maybe with its zone) as the naive UTC time executions carry."""
    if moment is None or moment.tzinfo is None:
        return moment
    return moment.astimezone(dt.timezone.utc).replace(tzinfo=None)


def execution_of(job: Job) -> Execution:
    """A job as the execution it runs."""
    meta = job.meta
    status = status_of(job.get_status(refresh=False)) or QUEUED
    started = finished = None
    result: Any = None
    error = None
    if status != QUEUED:
        started = naive(job.started_at)
    if status in (SUCCEEDED, FAILED, CANCELLED):
        finished = naive(job.ended_at) or started
    if status == SUCCEEDED:
        result = job.return_value()
    elif status == FAILED:
        error = error_of(meta.get("error"), job.exc_info)
    created = naive(job.created_at)
    assert created is not None
    return Execution(
        id=job.id,
        function=meta["function"],
        arguments=meta.get("arguments") or {},
        status=status,
        attempts=int(meta.get("attempts") or 0),
        created_at=created,
        started_at=started,
        finished_at=finished,
        result=result,
        error=error,
    )


def connect(url: str) -> tuple[Redis, str]:
    """The Redis client of ``url`` and the queue name it gives (``?queue=``, else ``firefly``)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    queue = next((value for key, value in query if key == "queue"), "") or QUEUE
    rest = urlencode([(key, value) for key, value in query if key != "queue"])
    return Redis.from_url(urlunsplit(parts._replace(query=rest))), queue


def redacted(url: str) -> str:
    """``url`` without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def text(value: Any) -> str:
    """A Redis reply (bytes) as text."""
    return value.decode() if isinstance(value, bytes) else str(value)


def recover(queue: Queue) -> list[Job]:
    """Run RQ's clean-up of ``queue``'s started jobs whose heartbeat ran out (each queued again
    while retries are left, else failed), one process at a time; the jobs it found lost."""
    registry = StartedJobRegistry(queue=queue)
    expired = registry.get_expired_job_ids()
    if not expired:
        return []
    with recovering(queue) as mine:
        if not mine:
            return []  # another process is at it
        jobs = Job.fetch_many(expired, connection=queue.connection, serializer=JSONSerializer)
        lost = [job for job in jobs if job is not None and job.get_status() == JobStatus.STARTED]
        registry.cleanup()
    for job in lost:
        logger.warning(
            "executions: the worker running %s was lost; it is %s",
            job.id,
            "queued again" if job.get_status(refresh=True) == JobStatus.QUEUED else "failed",
        )
    return lost


@contextlib.contextmanager
def recovering(queue: Queue) -> Iterator[bool]:
    """Whether this process holds the lock of looking for ``queue``'s lost jobs, while it does:
    two clean-ups at once would both queue a lost job again."""
    key = f"firefly:{queue.name}:recovering"
    mine = bool(queue.connection.set(key, 1, nx=True, ex=LOCK_TIMEOUT))
    try:
        yield mine
    finally:
        if mine:
            queue.connection.delete(key)


def ours(job: Job, queue_name: str) -> bool:
    """Whether ``job`` is an execution of this queue (not another app's job on the same Redis)."""
    return job.origin == queue_name and "function" in job.meta
