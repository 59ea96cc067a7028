"""What benchmarks/executions.py runs and checks: its backends, the queue of its own on Redis,
its two loads (wrk's submits, the callers'), and whether every execution submitted during a run
finished succeeded."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import cast

from models import Server
from run import (
    FUNCTIONS,
    HERE,
    LOAD_CORE,
    STOP_TIMEOUT,
    WRK_TIMEOUT,
    BenchmarkError,
    parse_wrk_output,
)

REDIS_ENV = "FIREFLY_TEST_REDIS_URL"
SQLITE, POSTGRESQL, REDIS = "sqlite", "postgresql", "redis"
EXECUTIONS_PATH = "/-/executions"
PAGE = 1000  # executions a page of /-/executions, the most it gives
DRAIN_POLL = 0.5  # seconds between two tallies while executions are left to run
SQUARE = FUNCTIONS["square"]
WRK_SCRIPT = HERE / "submit.lua"
CALLERS = HERE / "callers.py"


@dataclass(frozen=True)
class Setup:
    """A backend and its URL; ``workers``: the ``firefly worker`` processes it needs (Redis)."""

    backend: str
    url: str
    workers: int = 0

    @property
    def embedded(self) -> bool:
        """Whether the server's own threads run the executions."""
        return self.workers == 0


@contextlib.contextmanager
def redis_queue(server: str) -> Iterator[str]:
    """A ``redis://...?queue=NAME`` URL with a queue of its own on ``server``; its keys deleted
    after."""
    import redis

    queue = f"firefly-bench-{uuid.uuid4().hex[:12]}"
    connection = redis.Redis.from_url(server)
    try:
        yield f"{server}{'&' if '?' in server else '?'}queue={queue}"
    finally:
        index = f"firefly:{queue}:executions"
        ids = [member.decode() for member in cast("list[bytes]", connection.zrange(index, 0, -1))]
        keys = [f"rq:job:{i}" for i in ids] + [f"rq:results:{i}" for i in ids]
        keys += list(connection.scan_iter(f"*{queue}*", count=1000))
        for start in range(0, len(keys), 10_000):
            connection.delete(*keys[start : start + 10_000])
        connection.close()


def redis_unavailable(server: str | None) -> str | None:
    """Why the Redis rows are left out, or None when ``server`` answers."""
    if not server:
        return f"no Redis server: give --redis URL or set {REDIS_ENV}"
    try:
        import redis
        import rq  # noqa: F401  (firefly worker runs RQ)
    except ImportError as err:
        return f"the Redis backend needs rq and redis: {err}"
    connection = redis.Redis.from_url(server)
    try:
        connection.ping()
        return None
    except redis.RedisError as err:
        return f"Redis at {server!r} does not answer: {err}"
    finally:
        connection.close()


def submit_load(server: Server, connections: int, seconds: int) -> tuple[float, float, float, int]:
    """wrk's submissions to ``server``: per second, p50 and p99 ms, and the answers counted."""
    command = [
        "taskset", "-c", LOAD_CORE,
        "wrk", "--threads", "1", "--connections", str(connections),
        "--duration", f"{seconds}s", "--timeout", WRK_TIMEOUT, "--latency",
        "--script", str(WRK_SCRIPT), f"{server.url}/{SQUARE.name}",
    ]  # fmt: skip
    env = {**os.environ, "BENCH_BODY": SQUARE.body}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=seconds + 60)
    if done.returncode != 0:
        raise BenchmarkError(f"wrk failed ({done.returncode}): {done.stderr}{done.stdout}")
    measured = parse_wrk_output(done.stdout, 0.0)
    return measured.rps, measured.p50_ms, measured.p99_ms, measured.requests


def wait_load(server: Server, callers: int, seconds: int) -> tuple[float, float, float, int]:
    """benchmarks/callers.py on ``server``: executions finished per second, p50 and p99 ms of
    submit to result, and the executions."""
    command = ["taskset", "-c", LOAD_CORE, sys.executable, str(CALLERS), server.url, SQUARE.name]
    command += [SQUARE.body, json.dumps(SQUARE.expected), "--callers", str(callers)]
    command += ["--seconds", str(seconds)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 120)
    if done.returncode != 0:
        raise BenchmarkError(f"the callers failed ({done.returncode}): {done.stderr}")
    measured = json.loads(done.stdout)
    latencies = sorted(measured["latencies"])
    if measured["errors"] or not latencies:
        raise BenchmarkError(f"{server.target}: the callers failed: {measured['errors'][:5]}")
    percentiles = statistics.quantiles(latencies, n=100, method="inclusive")
    rate = len(latencies) / measured["seconds"]
    return rate, percentiles[49] * 1000, percentiles[98] * 1000, len(latencies)


def utcnow() -> dt.datetime:
    """Now in UTC without a zone, as the executions' ``created_at`` reads once parsed."""
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def moment(text: str) -> dt.datetime:
    """A time of an execution's JSON (ISO 8601, UTC, ``Z``)."""
    return dt.datetime.fromisoformat(text.removesuffix("Z"))


def created(execution: dict) -> dt.datetime:
    """When an execution (its JSON) was submitted."""
    return moment(execution["created_at"])


def read(server: Server, path: str) -> dict:
    """The JSON of ``GET path``; an error unless 200."""
    with urllib.request.urlopen(f"{server.url}{path}", timeout=STOP_TIMEOUT) as response:
        return json.loads(response.read())


def tally(server: Server, since: dt.datetime) -> tuple[Counter[str], dt.datetime]:
    """The executions submitted since ``since``, by status, and when the last of them finished:
    pages of ``/-/executions``, newest first, until one is older."""
    statuses: Counter[str] = Counter()
    last = since
    cursor = None
    while True:
        query = f"?limit={PAGE}" + (f"&cursor={cursor}" if cursor else "")
        page = read(server, EXECUTIONS_PATH + query)
        for execution in page["executions"]:
            if created(execution) < since:
                return statuses, last
            statuses[execution["status"]] += 1
            if execution["finished_at"]:
                last = max(last, moment(execution["finished_at"]))
        cursor = page["next_cursor"]
        if cursor is None:
            return statuses, last


@dataclass(frozen=True)
class Check:
    """What became of the executions submitted during one run."""

    statuses: dict[str, int]  # by status
    least: int  # the submits the load counted answered
    most: int  # and those still in flight when it stopped
    seconds: float  # from the start of the run until the last one finished

    @property
    def submitted(self) -> int:
        """The executions the run made."""
        return sum(self.statuses.values())

    @property
    def verified(self) -> bool:
        """Every execution submitted finished succeeded, and the load's count agrees."""
        return (
            self.statuses.get("succeeded", 0) == self.submitted
            and self.least <= self.submitted <= self.most
        )


def drain(server: Server, since: dt.datetime, least: int, most: int, timeout: float) -> Check:
    """Wait until every execution submitted since ``since`` has finished; what became of them."""
    deadline = time.monotonic() + timeout
    while True:
        statuses, last = tally(server, since)
        if not statuses["queued"] and not statuses["running"]:
            return Check(dict(statuses), least, most, (last - since).total_seconds())
        if time.monotonic() > deadline:
            raise BenchmarkError(
                f"{server.target}: executions were still queued or running {timeout:.0f}s after"
                f" the run: {dict(statuses)}\n{server.log_tail()}"
            )
        time.sleep(DRAIN_POLL)
