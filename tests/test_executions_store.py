"""The embedded backend's table operations on a real SQLite file and a real PostgreSQL database,
and how a request asks to run in the background."""

from __future__ import annotations

import time

import pytest

from firefly.database import connect_database
from firefly.executions.endpoint import wants_async
from firefly.executions.model import NotQueuedError
from firefly.executions.store import WORKER_LOST, ExecutionStore
from firefly.executions.table import MIGRATIONS


@pytest.fixture
def store(database_url):
    engine = connect_database(database_url, "executions")
    MIGRATIONS.upgrade(engine)
    yield ExecutionStore(engine)
    engine.dispose()


def queue(store: ExecutionStore, n: int, key: str | None = None, max_attempts: int = 2):
    return store.insert("double", {"n": n}, key, timeout=10.0, max_attempts=max_attempts)[0]


def test_workers_take_the_oldest_first_and_each_once(store):
    ids = [queue(store, n).id for n in range(5)]
    first = store.claim("a", 2, lease=30)
    second = store.claim("b", 10, lease=30)
    assert [claimed.id for claimed in first] == ids[:2]
    assert [claimed.id for claimed in second] == ids[2:]
    assert store.claim("c", 10, lease=30) == []
    assert first[0].arguments == {"n": 0} and first[0].timeout == 10.0
    running = store.get(ids[0])
    assert (running.status, running.attempts) == ("running", 1)
    assert running.started_at is not None


def test_only_the_worker_holding_an_execution_records_its_end(store):
    execution = queue(store, 1)
    store.claim("a", 1, lease=30)
    assert not store.finish(execution.id, "b", "succeeded", 2, None)
    assert store.finish(execution.id, "a", "succeeded", 2, None)
    done = store.get(execution.id)
    assert (done.status, done.result, done.to_json()["result"]) == ("succeeded", 2, 2)
    assert "error" not in done.to_json()


def test_an_expired_lease_is_retried_then_failed_as_worker_lost(store):
    execution = queue(store, 1, max_attempts=2)
    store.claim("a", 1, lease=0.1)
    time.sleep(0.3)
    assert store.recover() == (["double"], [])
    assert store.get(execution.id).status == "queued"
    assert not store.finish(execution.id, "a", "succeeded", 2, None)  # too late: not its own
    store.claim("b", 1, lease=0.1)
    time.sleep(0.3)
    assert store.recover() == ([], ["double"])
    lost = store.get(execution.id)
    assert (lost.status, lost.error, lost.attempts) == ("failed", WORKER_LOST, 2)
    assert lost.to_json()["error"] == WORKER_LOST


def test_renewed_leases_do_not_expire(store):
    execution = queue(store, 1)
    store.claim("a", 1, lease=0.3)
    for _ in range(3):
        time.sleep(0.15)
        store.renew("a", [execution.id], lease=0.3)
        assert store.recover() == ([], [])
    assert store.get(execution.id).status == "running"


def test_a_released_execution_waits_again_its_attempt_not_counted(store):
    execution = queue(store, 1)
    store.claim("a", 1, lease=30)
    assert store.release("a", [execution.id]) == 1
    again = store.get(execution.id)
    assert (again.status, again.attempts, again.started_at) == ("queued", 0, None)


def test_an_idempotency_key_gives_back_the_first_execution(store):
    first, new = store.insert("double", {"n": 1}, "k", 10.0, 2)
    again, repeated = store.insert("double", {"n": 2}, "k", 10.0, 2)
    other, other_new = store.insert("square", {"n": 2}, "k", 10.0, 2)  # keys are per function
    assert (new, repeated, other_new) == (True, False, True)
    assert again.id == first.id and again.arguments == {"n": 1} and other.id != first.id


def test_cancel_only_what_is_queued(store):
    waiting, running = queue(store, 1), queue(store, 2)
    store.claim("a", 1, lease=30)  # the oldest: waiting
    with pytest.raises(NotQueuedError) as refused:
        store.cancel(waiting.id)
    assert refused.value.execution.status == "running"
    cancelled = store.cancel(running.id)
    assert (cancelled.status, cancelled.finished_at is not None) == ("cancelled", True)
    assert store.cancel("unknown") is None


def test_pages_newest_first_with_filters(store):
    ids = [queue(store, n).id for n in range(5)]
    page, cursor = store.page(None, None, None, 2)
    rest, end = store.page(None, None, cursor, 10)
    assert [item.id for item in page + rest] == ids[::-1] and end is None
    store.cancel(ids[1])
    assert [item.id for item in store.page(None, "cancelled", None, 10)[0]] == [ids[1]]
    assert store.page("square", None, None, 10) == ([], None)
    assert store.count_queued() == 4


def test_the_purge_deletes_only_what_finished_before_the_retention(store):
    old, recent = queue(store, 1), queue(store, 2)
    store.cancel(old.id)
    time.sleep(0.3)
    assert store.purge(0.2) == 1
    assert store.get(old.id) is None and store.get(recent.id) is not None


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"HTTP_PREFER": "respond-async"}, True),
        ({"HTTP_PREFER": "wait=10, Respond-Async"}, True),
        ({"HTTP_PREFER": "return=minimal"}, False),
        ({"QUERY_STRING": "async=true"}, True),
        ({"QUERY_STRING": "async=1&x=2"}, True),
        ({"QUERY_STRING": "async=false"}, False),
        ({"QUERY_STRING": "asynchronous=true"}, False),
        ({}, False),
    ],
)
def test_how_a_request_asks_to_run_in_the_background(environ, expected):
    assert wants_async(environ) is expected
