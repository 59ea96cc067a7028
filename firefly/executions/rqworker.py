"""The RQ workers of ``firefly worker``: RQ's forking worker, held to the execution lease.

RQ renews a running job's entry in its started registry on each heartbeat,
and finds the job abandoned once the entry expires. Out of the box that is
a minute past the last heartbeat at best; here the heartbeat comes every
third of the lease and the entry lasts the lease, so a dead worker's job is
found within about the lease. The work horse (the forked process running
the job) dies with its worker, so that a job found abandoned is not also
still running, and the clean-up runs under the lock the server's takes
(:func:`~firefly.executions.rqbackend.recovering`).
"""

from __future__ import annotations

import ctypes
import math
import signal
from typing import Any

from redis import Redis
from rq import Queue, Worker
from rq.job import Job
from rq.serializers import JSONSerializer
from rq.utils import now
from rq.worker_pool import WorkerPool

from .rqjobs import recovering

#: prctl(2)'s option asking for a signal when the parent process dies (Linux).
PR_SET_PDEATHSIG = 1


class FireflyWorker(Worker):
    """An RQ worker whose heartbeat keeps a job for :attr:`lease` seconds (set by
    :func:`worker_class`)."""

    lease: float = 30.0

    def __init__(self, *args: Any, **kwargs: Any):
        kwargs["serializer"] = JSONSerializer
        kwargs.setdefault("job_monitoring_interval", monitoring_interval(self.lease))
        kwargs.setdefault("maintenance_interval", max(1, math.ceil(self.lease)))
        super().__init__(*args, **kwargs)

    def get_heartbeat_ttl(self, job: Job, working_time: float = 0.0) -> int:
        """Seconds a job stays in the started registry past a heartbeat: the lease, and at
        least two heartbeats, so that a late one does not lose a live job."""
        return max(math.ceil(self.lease), 2 * int(self.job_monitoring_interval) + 1)

    def main_work_horse(self, job: Job, queue: Queue) -> None:
        """Run ``job`` in the forked work horse, which dies if its worker does."""
        die_with_parent()
        super().main_work_horse(job, queue)

    def clean_registries(self) -> None:
        """RQ's clean-up of the queue, one process at a time with the servers' (the one that
        holds the lock is at it)."""
        with recovering(self.queues[0]) as mine:
            if mine:
                super().clean_registries()
                return
        self.last_cleaned_at = now()  # type: ignore[assignment]


def monitoring_interval(lease: float) -> int:
    """Whole seconds between two heartbeats (RQ times them with alarm(2)): a third of the lease."""
    return max(1, int(lease / 3))


def worker_class(lease: float) -> type[FireflyWorker]:
    """:class:`FireflyWorker` held to ``lease``; a class, as RQ's worker pool wants one."""
    return type("FireflyWorker", (FireflyWorker,), {"lease": lease})


def die_with_parent() -> None:
    """Have the kernel kill this process when its parent dies (Linux; elsewhere nothing)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # no prctl: a lost worker's horse may finish its job
        pass


def run_workers(
    redis: Redis, queue: str, *, lease: float, workers: int, burst: bool, logging_level: str
) -> None:
    """Run ``workers`` RQ workers on ``queue`` until stopped (SIGTERM or SIGINT: each finishes
    its job first) or, with ``burst``, until the queue is empty."""
    cls = worker_class(lease)
    if workers == 1:
        cls([queue], connection=redis).work(
            burst=burst, logging_level=logging_level, with_scheduler=False
        )
        return
    pool = WorkerPool([queue], connection=redis, num_workers=workers, worker_class=cls)
    pool.start(burst=burst, logging_level=logging_level)
