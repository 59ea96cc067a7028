"""The RQ backend's mapping of RQ's jobs onto executions: statuses, errors, the URL's queue."""

from __future__ import annotations

import pytest

pytest.importorskip("rq", reason="the RQ backend needs rq")

from rq.job import JobStatus

from firefly.executions.rqjobs import connect, error_of, redacted, status_of
from firefly.executions.store import WORKER_LOST


@pytest.mark.parametrize(
    ("rq", "ours"),
    [
        (JobStatus.CREATED, "queued"),
        (JobStatus.QUEUED, "queued"),
        (JobStatus.DEFERRED, "queued"),
        (JobStatus.SCHEDULED, "queued"),
        (JobStatus.STARTED, "running"),
        (JobStatus.FINISHED, "succeeded"),
        (JobStatus.FAILED, "failed"),
        (JobStatus.STOPPED, "failed"),
        (JobStatus.CANCELED, "cancelled"),
        ("started", "running"),
        (None, None),
    ],
)
def test_rq_statuses_are_the_execution_statuses(rq, ours):
    assert status_of(rq) == ours


def test_the_error_is_the_function_s_then_worker_lost_then_rq_s_last_line():
    assert error_of("ValueError: bad", "Traceback ...\nValueError: bad") == "ValueError: bad"
    abandoned = "Moved to FailedJobRegistry, due to AbandonedJobError, at 2026-01-01"
    assert error_of(None, abandoned) == WORKER_LOST
    killed = "Work-horse terminated unexpectedly; waitpid returned 9 (signal 9); "
    assert error_of(None, killed) == WORKER_LOST
    assert error_of(None, "Traceback (most recent call last):\n  ...\nKeyError: 'x'\n") == (
        "KeyError: 'x'"
    )


def test_the_url_names_the_queue_and_messages_hide_the_password():
    redis, queue = connect("redis://127.0.0.1:6379/3?queue=reports")
    assert queue == "reports"
    assert redis.connection_pool.connection_kwargs["db"] == 3
    assert connect("redis://127.0.0.1:6379/0")[1] == "firefly"
    assert redacted("redis://user:secret@host:6379/0") == "redis://user:***@host:6379/0"
    assert redacted("redis://host:6379/0") == "redis://host:6379/0"
