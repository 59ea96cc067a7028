"""Asynchronous executions on the distributed backend, end to end: a real firefly server queueing
on the real Redis (FIREFLY_TEST_REDIS_URL) and real ``firefly worker`` processes running them,
killed with SIGKILL and stopped with SIGTERM. Each test has a queue of its own, deleted after."""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from ..conftest import APPS, firefly_command, stop
from .test_executions import ASYNC, get, submit, wait_for

pytestmark = pytest.mark.timeout(90)
JOBS = ("jobs.double", "jobs.nap", "jobs.broken")


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A ``redis://...?queue=NAME`` URL with a queue of the test's own; its keys deleted after."""
    server = os.environ.get("FIREFLY_TEST_REDIS_URL")
    if not server:
        pytest.skip("set FIREFLY_TEST_REDIS_URL to run the tests of executions on Redis")
    redis = pytest.importorskip("redis", reason="the RQ backend needs rq and redis").Redis
    connection = redis.from_url(server)
    connection.ping()  # set but unreachable: fail
    queue = f"test-{uuid.uuid4().hex[:12]}"
    yield f"{server}?queue={queue}"
    index = f"firefly:{queue}:executions"
    ids = [member.decode() for member in connection.zrange(index, 0, -1)]
    keys = [f"rq:job:{i}" for i in ids] + [f"rq:results:{i}" for i in ids]
    keys += list(connection.scan_iter(f"*{queue}*", count=1000))
    if keys:
        connection.delete(*keys)
    connection.close()


@contextlib.contextmanager
def worker(url: str, *args: str, log: Path) -> Iterator[subprocess.Popen[str]]:
    """A ``firefly worker`` process on ``url``'s queue; stopped (SIGTERM) after."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIREFLY_")}
    with open(log, "w") as out:
        process = subprocess.Popen(
            firefly_command("worker", "--executions", url, *args),
            cwd=APPS,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
    try:
        yield process
    finally:
        stop(process)


def job_worker(url: str, execution_id: str) -> str | None:
    """The name of the RQ worker that ran an execution, as RQ recorded it."""
    from redis import Redis

    connection = Redis.from_url(url.partition("?")[0])
    name = connection.hget(f"rq:job:{execution_id}", "worker_name")
    connection.close()
    return name.decode() if name else None


@pytest.mark.timeout(120)
def test_executions_across_two_workers_all_succeed(firefly_server, redis_url, tmp_path):
    with (
        firefly_server("--workers", "2", "--executions", redis_url, *JOBS) as server,
        worker(redis_url, *JOBS, log=tmp_path / "a.log"),
        worker(redis_url, *JOBS, log=tmp_path / "b.log"),
    ):
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            ids = list(pool.map(lambda n: submit(server.url, "double", n=n), range(200)))
            finished = list(pool.map(lambda i: get(server.url, i, wait=30), ids))
        assert [item["status"] for item in finished] == ["succeeded"] * 200
        assert [item["result"] for item in finished] == [2 * n for n in range(200)]
        assert all(item["attempts"] == 1 for item in finished)
        assert len({job_worker(redis_url, i) for i in ids}) == 2  # both workers ran some
        listed = requests.get(server.url + "-/executions?limit=150", timeout=10).json()
        rest = requests.get(
            server.url + "-/executions",
            params={"limit": 150, "cursor": listed["next_cursor"]},
            timeout=10,
        ).json()
        assert rest["next_cursor"] is None
        pages = listed["executions"] + rest["executions"]
        assert sorted(item["id"] for item in pages) == sorted(ids)  # each once
        created = [item["created_at"] for item in pages]
        assert created == sorted(created, reverse=True)  # newest first


def test_wait_failures_timeouts_idempotency_and_cancel(firefly_server, redis_url, tmp_path):
    config = tmp_path / "config.yml"
    config.write_text(
        "functions:\n"
        "  nap: {function: jobs.nap, execution_timeout: 1}\n"
        "  broken: {function: jobs.broken}\n"
        "  double: {function: jobs.double}\n"
    )
    with firefly_server("-c", str(config), "--executions", redis_url) as server:
        with worker(redis_url, "-c", str(config), log=tmp_path / "worker.log") as process:
            napping = submit(server.url, "nap", seconds=0.3)
            done = get(server.url, napping, wait=10)
            assert (done["status"], done["result"], done["arguments"]) == (
                "succeeded",
                "slept 0.3",
                {"seconds": 0.3},
            )
            assert done["created_at"] <= done["started_at"] <= done["finished_at"]
            failed = get(server.url, submit(server.url, "broken", message="bad input"), wait=10)
            assert (failed["status"], failed["error"], failed["attempts"]) == (
                "failed",
                "ValueError: bad input",
                1,  # a function's own error is final: no retry
            )
            late = get(server.url, submit(server.url, "nap", seconds=5), wait=10)
            assert (late["status"], late["error"]) == (
                "failed",
                "timed out: ran past the 1 s timeout",
            )
            key = {"Idempotency-Key": "order-7"}
            first = submit(server.url, "double", key, n=3)
            assert submit(server.url, "double", key, n=9) == first
            assert get(server.url, first, wait=10)["result"] == 6
            again = requests.post(
                server.url + "double", json={"n": 9}, headers={**ASYNC, **key}, timeout=10
            )
            assert again.json() == {"id": first, "status": "succeeded"}  # finished, still kept

            blocker = submit(server.url, "nap", seconds=0.8)
            wait_for(server.url, blocker, {"running"})
            queued = submit(server.url, "nap", seconds=0)
            cancelled = requests.delete(f"{server.url}-/executions/{queued}", timeout=10)
            assert (cancelled.status_code, cancelled.json()["status"]) == (200, "cancelled")
            running = requests.delete(f"{server.url}-/executions/{blocker}", timeout=10)
            assert running.status_code == 409
            assert running.json()["error"].endswith(
                "is running: only a queued one can be cancelled"
            )
            assert get(server.url, blocker, wait=10)["status"] == "succeeded"
            finished = requests.delete(f"{server.url}-/executions/{blocker}", timeout=10)
            assert finished.status_code == 409
            assert get(server.url, queued)["status"] == "cancelled"  # never ran
            assert requests.delete(server.url + "-/executions/nope", timeout=10).status_code == 404
            only_cancelled = requests.get(
                server.url + "-/executions?status=cancelled", timeout=10
            ).json()
            assert [item["id"] for item in only_cancelled["executions"]] == [queued]
            naps = requests.get(server.url + "-/executions?function=broken", timeout=10).json()
            assert [item["error"] for item in naps["executions"]] == ["ValueError: bad input"]
            process.send_signal(signal.SIGTERM)  # graceful: it finishes its execution first
            last = submit(server.url, "nap", seconds=0)
            assert process.wait(timeout=15) == 0
        assert get(server.url, last)["status"] == "queued"  # no worker left
        unknown = requests.get(server.url + "-/executions/nope", timeout=10)
        assert unknown.status_code == 404


@pytest.mark.parametrize(("retries", "expected"), [("1", "succeeded"), ("0", "failed")])
def test_a_killed_worker_s_execution_is_retried_or_failed_as_lost(
    firefly_server, redis_url, tmp_path, retries, expected
):
    lease = ("--execution-lease", "2")
    args = ("--executions", redis_url, *lease, "--execution-retries", retries, *JOBS)
    with firefly_server(*args) as server:
        with worker(redis_url, *lease, *JOBS, log=tmp_path / "killed.log") as killed:
            execution_id = submit(server.url, "nap", seconds=3)
            wait_for(server.url, execution_id, {"running"})
            killed.send_signal(signal.SIGKILL)
            stopped_at = time.monotonic()
            killed.wait(timeout=5)
        found = wait_for(server.url, execution_id, {"queued", "failed"}, timeout=15)
        assert time.monotonic() - stopped_at < 2 * 2 + 2  # within about the lease
        if expected == "failed":
            assert (found["error"], found["attempts"]) == (
                "worker lost: the worker running it stopped before it finished",
                1,
            )
            return
        with worker(redis_url, *lease, *JOBS, log=tmp_path / "next.log"):
            found = get(server.url, execution_id, wait=20)
        assert (found["status"], found["attempts"], found["result"]) == (
            "succeeded",
            2,
            "slept 3.0",
        )


def test_finished_executions_are_purged_after_their_retention(firefly_server, redis_url, tmp_path):
    args = ("--executions", redis_url, "--execution-retention", "1", *JOBS)
    with firefly_server(*args) as server, worker(redis_url, *JOBS, log=tmp_path / "w.log"):
        execution_id = submit(server.url, "double", n=1)
        assert get(server.url, execution_id, wait=10)["result"] == 2
        deadline = time.monotonic() + 10
        while (
            requests.get(f"{server.url}-/executions/{execution_id}", timeout=10).status_code != 404
        ):
            assert time.monotonic() < deadline, "not purged"
            time.sleep(0.2)
        listed = requests.get(server.url + "-/executions", timeout=10).json()
        assert listed == {"executions": [], "next_cursor": None}


def test_a_burst_of_two_worker_processes_runs_the_queue_then_exits(
    firefly_server, redis_url, tmp_path
):
    with firefly_server("--executions", redis_url, *JOBS) as server:
        ids = [submit(server.url, "double", n=n) for n in range(10)]
        with worker(redis_url, "--workers", "2", "--burst", *JOBS, log=tmp_path / "b.log") as pool:
            assert pool.wait(timeout=30) == 0
        assert [get(server.url, i)["result"] for i in ids] == [2 * n for n in range(10)]


def test_the_worker_says_what_is_missing_in_one_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIREFLY_")}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        command = firefly_command("worker", *args)
        return subprocess.run(command, cwd=APPS, env=env, capture_output=True, text=True)

    no_url = run("jobs.double")
    assert no_url.returncode == 1
    assert no_url.stderr.startswith("Error: firefly worker needs --executions redis://")
    down = run("--executions", "redis://127.0.0.1:1/0", "jobs.double")
    assert down.stderr.startswith("Error: cannot reach Redis at redis://127.0.0.1:1/0: ")
    assert len(down.stderr.strip().splitlines()) == 1
    bad = run("--executions", "redis://127.0.0.1:1/0")
    assert bad.stderr.startswith("Error: no functions to serve")
