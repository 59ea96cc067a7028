"""The distributed backend: executions as RQ jobs on Redis, run by ``firefly worker``.

An execution is a job of one queue (``firefly``, or the URL's ``?queue=``)
whose id is the execution's, whose meta holds its function, arguments and
attempts, and whose function is :func:`firefly.executions.rqjob.run`. The
server only queues, reads and cancels; RQ workers run the jobs. A job's
status maps onto the execution statuses (:mod:`~firefly.executions.rqjobs`); RQ keeps it for
the retention once finished, and a sorted set of ids by creation time
(trimmed as jobs expire) lists them newest first.

A worker that dies leaves its job in RQ's started registry until its
heartbeat, which :class:`~firefly.executions.rqworker.FireflyWorker` renews
within the lease, runs out (:func:`~firefly.executions.rqjobs.recover`).
Every read here looks for such jobs first
(at most every :data:`RECOVER_EVERY` seconds), so no caller sees a lost
execution as ``running``.
"""

from __future__ import annotations

import datetime as dt
import math
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, cast

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq import Queue, Retry
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer

from ..config import Config
from .model import FAILED, QUEUED, RUNNING, Execution, NotQueuedError, QueueFullError, Run
from .rqjobs import connect, execution_of, ours, recover, text

#: What Redis down or unreachable raises.
UNAVAILABLE: tuple[type[Exception], ...] = (RedisConnectionError, RedisTimeoutError)

if TYPE_CHECKING:
    from .metrics import ExecutionMetrics

#: What RQ workers call, by name: the server need not import it.
JOB_FUNCTION = "firefly.executions.rqjob.run"
#: Seconds at most between two looks, by one process, for jobs whose worker was lost.
RECOVER_EVERY = 1.0
#: Seconds between two trims of the index of executions.
TRIM_EVERY = 60.0
#: Ids read from the index at a time while listing.
BATCH = 200


class RQBackend:
    """Executions on the RQ queue of ``url``.

    :param settings: the queue's capacity, the retention, retries, lease and default timeout.
    :param timeouts: seconds each function may run, by name.
    :param metrics: told of each execution queued here, of those found lost, and the queue depth.
    """

    def __init__(
        self,
        url: str,
        settings: Config,
        timeouts: Mapping[str, float],
        metrics: ExecutionMetrics | None = None,
    ):
        self.url = url
        self.unavailable = UNAVAILABLE
        self.redis, self.queue_name = connect(url)
        self.queue = Queue(self.queue_name, connection=self.redis, serializer=JSONSerializer)
        self.capacity = settings.execution_queue
        self.retention = max(1, math.ceil(settings.execution_retention))
        self.retries = settings.execution_retries
        self.lease = settings.execution_lease
        self.timeouts = dict(timeouts)
        self.default_timeout = settings.execution_timeout
        self.metrics = metrics
        self.index = f"firefly:{self.queue_name}:executions"
        self.run: Run | None = None
        self._recover_at = 0.0
        self._trim_at = time.monotonic() + TRIM_EVERY

    def submit(
        self, function: str, arguments: Mapping[str, Any], idempotency_key: str | None
    ) -> Execution:
        """Queue a job; the execution an idempotency key gave before, while it is kept.

        :raises QueueFullError: the queue holds :attr:`capacity` jobs already.
        """
        depth = self.queue.count
        if depth >= self.capacity:
            raise QueueFullError(f"{depth} executions are queued")
        execution_id = uuid.uuid4().hex
        if idempotency_key is not None:
            key = f"firefly:{self.queue_name}:idempotency:{function}:{idempotency_key}"
            if not self.redis.set(key, execution_id, nx=True, ex=self.retention):
                earlier = self._earlier(key)
                if earlier is not None:
                    return earlier
                self.redis.set(key, execution_id, ex=self.retention)  # its execution is gone
        timeout = self.timeouts.get(function, self.default_timeout)
        job = self.queue.enqueue(
            JOB_FUNCTION,
            args=(function, dict(arguments)),
            job_id=execution_id,
            description=function,
            job_timeout=max(1, math.ceil(timeout)),
            result_ttl=self.retention,
            failure_ttl=self.retention,
            retry=Retry(max=self.retries) if self.retries else None,
            meta={
                "function": function,
                "arguments": dict(arguments),
                "attempts": 0,
                "timeout": timeout,
            },
        )
        assert job.created_at is not None
        self.redis.zadd(self.index, {job.id: _score(job.created_at)})
        if self.metrics is not None:
            self.metrics.counted(function, QUEUED)
            self.metrics.queue_depth(depth + 1)
        if time.monotonic() >= self._trim_at:
            self._trim()
        return execution_of(job)

    def _earlier(self, key: str) -> Execution | None:
        """The execution ``key`` names, waiting a little for the submit that set it to queue it."""
        deadline = time.monotonic() + 1.0
        while True:
            earlier = self.redis.get(key)
            found = self.get(text(earlier)) if earlier else None
            if found is not None or time.monotonic() >= deadline:
                return found
            time.sleep(0.02)

    def get(self, execution_id: str) -> Execution | None:
        """The execution ``execution_id``, or None (unknown, or expired after its retention)."""
        self._recover()
        job = self._fetch(execution_id)
        return None if job is None else execution_of(job)

    def _fetch(self, execution_id: str) -> Job | None:
        try:
            job = Job.fetch(execution_id, connection=self.redis, serializer=JSONSerializer)
        except NoSuchJobError:
            return None
        return job if ours(job, self.queue_name) else None

    def page(
        self, function: str | None, status: str | None, cursor: str | None, limit: int
    ) -> tuple[Sequence[Execution], str | None]:
        """A page of executions, newest first; the next page's cursor (``SCORE-ID``).

        :raises ValueError: a cursor that is not one this backend gave.
        """
        position = _position(cursor)
        self._recover()
        found: list[tuple[Execution, int]] = []
        gone: list[str] = []
        for ids in self._walk(position):
            jobs = Job.fetch_many(ids, connection=self.redis, serializer=JSONSerializer)
            for (execution_id, score), job in zip(ids.items(), jobs, strict=True):
                if job is None:
                    gone.append(execution_id)
                    continue
                if not ours(job, self.queue_name):
                    continue
                execution = execution_of(job)
                if (function is None or execution.function == function) and (
                    status is None or execution.status == status
                ):
                    found.append((execution, score))
            if len(found) > limit:
                break
        if gone:
            self.redis.zrem(self.index, *gone)
        following = None
        if len(found) > limit:
            last, score = found[limit - 1]
            following = f"{score}-{last.id}"
        return [execution for execution, _score in found[:limit]], following

    def _walk(self, position: tuple[int, str] | None) -> Iterator[dict[str, int]]:
        """Batches of ids (with their scores) after ``position``, newest first."""
        if position is None:
            top = cast(
                "list[tuple[bytes, float]]", self.redis.zrevrange(self.index, 0, 0, withscores=True)
            )
            if not top:
                return
            position = (int(top[0][1]), "~")  # above every hex id of the newest score
        score, after = position
        offset = 0
        while True:
            batch = cast(
                "list[tuple[bytes, float]]",
                self.redis.zrevrangebyscore(
                    self.index, score, "-inf", start=offset, num=BATCH, withscores=True
                ),
            )
            if not batch:
                return
            offset += len(batch)
            ids = {
                text(member): int(value)
                for member, value in batch
                if int(value) < score or text(member) < after
            }
            if ids:
                yield ids

    def cancel(self, execution_id: str) -> Execution | None:
        """Cancel a queued job: taken off the queue first, so that no worker can start it.

        :raises NotQueuedError: it is running or finished.
        """
        job = self._fetch(execution_id)
        if job is None:
            return None
        if self.queue.remove(execution_id):
            job.cancel()
            self.redis.expire(job.key, self.retention)
            if self.metrics is not None:
                self.metrics.queue_depth(self.queue.count)
            return self.get(execution_id)
        found = self.get(execution_id)
        if found is None:
            return None
        if found.status == QUEUED:  # off the queue yet not started: a worker is taking it
            found = replace(found, status=RUNNING)
        raise NotQueuedError(found)

    def start(self, run: Run) -> None:
        """Keep ``run``: ``firefly worker`` has its RQ workers call it. The server runs nothing."""
        self.run = run

    def stop(self) -> None:
        """Close the connections to Redis."""
        self.redis.close()

    def _recover(self) -> None:
        """Queue again, or fail as worker lost, the jobs whose worker stopped its heartbeat."""
        now = time.monotonic()
        if now < self._recover_at:
            return
        self._recover_at = now + min(RECOVER_EVERY, self.lease / 4)
        lost = recover(self.queue)
        if self.metrics is not None:
            for job in lost:
                if job.get_status(refresh=True) == JobStatus.FAILED:
                    self.metrics.finished(job.meta.get("function", ""), FAILED, 0.0)
            self.metrics.queue_depth(self.queue.count)

    def _trim(self) -> None:
        """Drop from the index the executions older than the retention that RQ has deleted."""
        self._trim_at = time.monotonic() + TRIM_EVERY
        horizon = _score(dt.datetime.now(dt.timezone.utc)) - self.retention * 1_000_000
        old = [
            text(member)
            for member in cast("list[bytes]", self.redis.zrangebyscore(self.index, 0, horizon))
        ]
        if old:
            with self.redis.pipeline(transaction=False) as pipeline:
                for execution_id in old:
                    pipeline.exists(Job.key_for(execution_id))
                kept = pipeline.execute()
            gone = [
                execution_id for execution_id, there in zip(old, kept, strict=True) if not there
            ]
            if gone:
                self.redis.zrem(self.index, *gone)


def _score(moment: dt.datetime) -> int:
    """A creation time as the index orders it: microseconds since the epoch."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return int(moment.timestamp() * 1_000_000)


def _position(cursor: str | None) -> tuple[int, str] | None:
    if cursor is None:
        return None
    score, _, execution_id = cursor.partition("-")
    if not score.isdigit() or not execution_id:
        raise ValueError(f"cursor: expected the next_cursor of a page, got {cursor!r}")
    return int(score), execution_id
