"""Asynchronous executions on the embedded backend, end to end: real firefly and gunicorn processes
keeping executions in a real SQLite file or PostgreSQL database, stopped, restarted and killed."""

from __future__ import annotations

import concurrent.futures
import os
import re
import signal
import time

import pytest
import requests
import sqlalchemy
from sqlalchemy.engine import make_url

from firefly.executions.table import executions

from ..conftest import free_port, stop
from .tcpproxy import TcpProxy

pytestmark = pytest.mark.timeout(120)
ASYNC = {"Prefer": "respond-async"}


def submit(url: str, function: str, headers: dict | None = None, **arguments) -> str:
    response = requests.post(
        url + function, json=arguments, headers={**ASYNC, **(headers or {})}, timeout=10
    )
    assert response.status_code == 202, response.text
    assert response.headers["Location"] == f"/-/executions/{response.json()['id']}"
    assert response.json()["status"] == "queued"
    return response.json()["id"]


def get(url: str, execution_id: str, wait: float = 0) -> dict:
    params = {"wait": wait} if wait else {}
    response = requests.get(f"{url}-/executions/{execution_id}", params=params, timeout=70)
    assert response.status_code == 200, response.text
    return response.json()


def wait_for(url: str, execution_id: str, statuses: set[str], timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        found = get(url, execution_id)
        if found["status"] in statuses:
            return found
        assert time.monotonic() < deadline, found
        time.sleep(0.05)


def rows(url: str) -> list[dict]:
    driver = "sqlite" if url.startswith("sqlite") else "postgresql+psycopg"
    engine = sqlalchemy.create_engine(make_url(url).set(drivername=driver))
    try:
        with engine.connect() as connection:
            query = sqlalchemy.select(executions).order_by(executions.c.seq)
            return [dict(row) for row in connection.execute(query).mappings()]
    finally:
        engine.dispose()


@pytest.mark.timeout(180)
def test_executions_across_two_workers_all_succeed(firefly_server, database_url):
    args = ("--workers", "2", "--executions", database_url, "jobs.double")
    with firefly_server(*args) as server:
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            ids = list(pool.map(lambda n: submit(server.url, "double", n=n), range(200)))
            finished = list(pool.map(lambda i: get(server.url, i, wait=30), ids))
        assert [item["status"] for item in finished] == ["succeeded"] * 200
        assert [item["result"] for item in finished] == [2 * n for n in range(200)]
        assert all(item["attempts"] == 1 for item in finished)
        stop(server.process)
    workers = {row["worker"] for row in rows(database_url)}
    assert len({worker.split(":")[1] for worker in workers}) == 2  # both worker processes ran some


def test_wait_failures_timeouts_and_the_access_log(firefly_server, sqlite_url, tmp_path):
    config = tmp_path / "config.yml"
    config.write_text(
        "functions:\n"
        "  nap: {function: jobs.nap, execution_timeout: 0.5}\n"
        "  broken: {function: jobs.broken}\n"
        "  double: {function: jobs.double, async_only: true}\n"
    )
    with firefly_server("-c", str(config), "--executions", sqlite_url) as server:
        napping = submit(server.url, "nap", seconds=0.3)
        assert get(server.url, napping)["status"] in ("queued", "running")
        done = get(server.url, napping, wait=10)
        assert (done["status"], done["result"], done["arguments"]) == (
            "succeeded",
            "slept 0.3",
            {"seconds": 0.3},
        )
        assert done["created_at"] <= done["started_at"] <= done["finished_at"]
        failed = get(server.url, submit(server.url, "broken", message="bad input"), wait=10)
        assert (failed["status"], failed["error"]) == ("failed", "ValueError: bad input")
        assert "result" not in failed
        late = get(server.url, submit(server.url, "nap", seconds=5), wait=10)
        assert (late["status"], late["error"]) == (
            "failed",
            "timed out: ran past the 0.5 s timeout",
        )
        only = requests.post(server.url + "double", json={"n": 2}, timeout=10)  # no Prefer
        assert only.status_code == 202
        assert get(server.url, only.json()["id"], wait=10)["result"] == 4
        query = requests.post(server.url + "nap?async=true", json={"seconds": 0}, timeout=10)
        assert query.status_code == 202
        sync = requests.post(server.url + "nap", json={"seconds": 0}, timeout=10)
        assert (sync.status_code, sync.json()) == (200, "slept 0.0")
        invalid = requests.post(
            server.url + "nap", json={"seconds": "x"}, headers=ASYNC, timeout=10
        )
        assert invalid.status_code == 422  # checked before it is queued
        unknown = requests.get(server.url + "-/executions/nope", timeout=10)
        assert (unknown.status_code, unknown.json()["error"]) == (
            404,
            "no execution 'nope' (unknown, or purged)",
        )
        bad_wait = requests.get(f"{server.url}-/executions/{napping}?wait=61", timeout=10)
        assert bad_wait.status_code == 400
        stop(server.process)
    assert re.search(rf'"POST /nap" 202 .* exec={napping}', server.log())


def test_a_token_guards_the_executions_too(firefly_server, sqlite_url):
    with firefly_server("--token", "abc", "--executions", sqlite_url, "jobs.double") as server:
        refused = requests.post(server.url + "double", json={"n": 1}, headers=ASYNC, timeout=10)
        assert refused.status_code == 401  # never a 202 for a call that cannot run
        token = {"Authorization": "Token abc"}
        execution_id = submit(server.url, "double", headers=token, n=1)
        assert (
            requests.get(f"{server.url}-/executions/{execution_id}", timeout=10).status_code == 401
        )
        found = requests.get(
            f"{server.url}-/executions/{execution_id}?wait=5", headers=token, timeout=10
        )
        assert found.json()["result"] == 2
        stop(server.process)


def test_cancel_list_idempotency_and_a_full_queue(firefly_server, sqlite_url):
    args = ("--executions", sqlite_url, "--execution-threads", "1", "--execution-queue", "3")
    with firefly_server(*args, "jobs.nap") as server:
        blocker = submit(server.url, "nap", seconds=2)
        wait_for(server.url, blocker, {"running"})
        queued = submit(server.url, "nap", seconds=0, tag="-a")
        again = submit(server.url, "nap", {"Idempotency-Key": "order-7"}, seconds=0, tag="-b")
        assert submit(server.url, "nap", {"Idempotency-Key": "order-7"}, seconds=9) == again
        submit(server.url, "nap", seconds=0, tag="-c")
        time.sleep(0.5)  # the dispatcher counts the queue
        full = requests.post(server.url + "nap", json={"seconds": 0}, headers=ASYNC, timeout=10)
        assert full.status_code == 503 and full.headers["Retry-After"] == "1"
        assert "the execution queue is full" in full.json()["error"]
        cancelled = requests.delete(f"{server.url}-/executions/{queued}", timeout=10)
        assert (cancelled.status_code, cancelled.json()["status"]) == (200, "cancelled")
        running = requests.delete(f"{server.url}-/executions/{blocker}", timeout=10)
        assert running.status_code == 409
        assert running.json()["error"].endswith("is running: only a queued one can be cancelled")
        assert requests.delete(server.url + "-/executions/nope", timeout=10).status_code == 404
        assert get(server.url, again, wait=10)["result"] == "slept 0.0-b"
        page = requests.get(server.url + "-/executions?limit=2", timeout=10).json()
        second = requests.get(
            server.url + "-/executions",
            params={"limit": 2, "cursor": page["next_cursor"]},
            timeout=10,
        ).json()
        listed = [item["id"] for item in page["executions"] + second["executions"]]
        assert listed[-1] == blocker and len(listed) == 4  # newest first, each once
        cancelled_only = requests.get(
            server.url + "-/executions?status=cancelled", timeout=10
        ).json()
        assert [item["id"] for item in cancelled_only["executions"]] == [queued]
        stop(server.process)


def test_queued_executions_survive_a_restart(firefly_server, sqlite_url):
    args = ("--executions", sqlite_url, "--execution-threads", "1", "jobs.nap")
    with firefly_server(*args) as server:
        ids = [submit(server.url, "nap", seconds=0.3, tag=f"-{n}") for n in range(6)]
        wait_for(server.url, ids[0], {"running", "succeeded"})
        stop(server.process)  # graceful: the running one is queued again, the others wait
    statuses = {row["id"]: row["status"] for row in rows(sqlite_url)}
    assert "queued" in statuses.values() and "running" not in statuses.values()
    with firefly_server(*args) as server:
        done = [get(server.url, execution_id, wait=30) for execution_id in ids]
        assert [item["result"] for item in done] == [f"slept 0.3-{n}" for n in range(6)]
        stop(server.process)


def worker_pid(url: str, execution_id: str) -> int:
    [row] = [row for row in rows(url) if row["id"] == execution_id]
    return int(row["worker"].split(":")[1])


@pytest.mark.parametrize(("retries", "expected"), [("1", "succeeded"), ("0", "failed")])
def test_a_killed_worker_s_execution_is_retried_or_failed_as_lost(
    firefly_server, sqlite_url, retries, expected
):
    args = ("--executions", sqlite_url, "--execution-lease", "2", "--execution-retries", retries)
    with firefly_server(*args, "jobs.nap") as server:
        execution_id = submit(server.url, "nap", seconds=3)
        wait_for(server.url, execution_id, {"running"})
        killed = time.monotonic()
        os.kill(worker_pid(sqlite_url, execution_id), signal.SIGKILL)  # gunicorn starts another
        deadline = time.monotonic() + 15
        found = get(server.url, execution_id)
        while found["status"] == "running" and found["attempts"] == 1:  # the lost attempt
            assert time.monotonic() < deadline, found
            time.sleep(0.05)
            found = get(server.url, execution_id)
        assert time.monotonic() - killed < 2 * 2 + 2  # found within about the lease
        if expected == "failed":
            assert found["error"].startswith("worker lost:")
        else:
            found = get(server.url, execution_id, wait=20)
            assert (found["status"], found["attempts"]) == ("succeeded", 2)
        stop(server.process)


def test_executions_of_a_killed_server_are_recovered_by_the_next(firefly_server, sqlite_url):
    args = ("--executions", sqlite_url, "--execution-lease", "1", "jobs.nap")
    with firefly_server(*args) as server:
        execution_id = submit(server.url, "nap", seconds=2)
        wait_for(server.url, execution_id, {"running"})
        os.kill(worker_pid(sqlite_url, execution_id), signal.SIGKILL)
        server.process.send_signal(signal.SIGKILL)
        server.process.wait(timeout=10)
    time.sleep(1.5)
    with firefly_server(*args) as server:
        found = get(server.url, execution_id, wait=20)
        assert (found["status"], found["attempts"]) == ("succeeded", 2)
        stop(server.process)


def test_finished_executions_are_purged_after_their_retention(firefly_server, sqlite_url):
    args = ("--executions", sqlite_url, "--execution-retention", "1", "jobs.double")
    with firefly_server(*args) as server:
        execution_id = submit(server.url, "double", n=1)
        assert get(server.url, execution_id, wait=10)["result"] == 2
        for _ in range(5):  # read as often as wanted while it is kept
            assert get(server.url, execution_id)["status"] == "succeeded"
        deadline = time.monotonic() + 10
        while (
            requests.get(f"{server.url}-/executions/{execution_id}", timeout=10).status_code != 404
        ):
            assert time.monotonic() < deadline, "not purged"
            time.sleep(0.2)
        stop(server.process)
    assert rows(sqlite_url) == []


def test_a_backend_that_cannot_be_reached_is_503_and_back(firefly_server, postgres_url):
    server_url = make_url(postgres_url)
    port = free_port()
    proxied = server_url.set(host="127.0.0.1", port=port).render_as_string(hide_password=False)
    with TcpProxy((server_url.host or "127.0.0.1", server_url.port or 5432), port) as proxy:
        with firefly_server("--executions", proxied, "jobs.double") as server:
            first = submit(server.url, "double", n=1)
            assert get(server.url, first, wait=10)["result"] == 2
            proxy.cut()
            refused = requests.post(server.url + "double", json={"n": 2}, headers=ASYNC, timeout=30)
            assert refused.status_code == 503 and refused.headers["Retry-After"] == "1"
            assert refused.json()["error"].startswith("the executions' backend is unavailable: ")
            reading = requests.get(f"{server.url}-/executions/{first}", timeout=30)
            assert reading.status_code == 503
            sync = requests.post(server.url + "double", json={"n": 2}, timeout=10)
            assert (sync.status_code, sync.json()) == (200, 4)  # sync calls go on meanwhile
            proxy.restore()
            assert get(server.url, submit(server.url, "double", n=3), wait=20)["result"] == 6
            stop(server.process)


def test_redis_that_cannot_be_reached_is_503(firefly_server):
    down = f"redis://127.0.0.1:{free_port()}/0"
    with firefly_server("--executions", down, "jobs.double") as server:
        refused = requests.post(server.url + "double", json={"n": 2}, headers=ASYNC, timeout=30)
        assert refused.status_code == 503 and refused.headers["Retry-After"] == "1"
        assert "the executions' backend is unavailable" in refused.json()["error"]
        listing = requests.get(server.url + "-/executions", timeout=30)
        assert listing.status_code == 503
        stop(server.process)


def test_a_wait_ends_before_the_server_s_timeout(firefly_server, sqlite_url):
    with firefly_server("--executions", sqlite_url, "--timeout", "2", "jobs.nap") as server:
        execution_id = submit(server.url, "nap", seconds=4)
        started = time.monotonic()
        found = get(server.url, execution_id, wait=60)  # asks more than the 2 s timeout
        assert 1.4 < time.monotonic() - started < 2.0 and found["status"] == "running"
        finished = get(server.url, execution_id, wait=60)  # asked again: the same execution
        if finished["status"] != "succeeded":
            finished = get(server.url, execution_id, wait=60)
        assert (finished["status"], finished["attempts"]) == ("succeeded", 1)
        stop(server.process)
