#!/usr/bin/env python
"""Asynchronous executions under load: submissions per second, and the time from submit to result.

Each backend gets a ``firefly`` server of its own (one worker, ``--threads 16``: a thread for
each waiting caller; the command's default features) serving ``square``
(benchmarks/targets/funcs.py):

- ``sqlite``: the embedded backend on a SQLite file, its executions run by the server's
  threads (``execution_threads``, 4);
- ``postgresql``: the same on a fresh database of ``--postgres URL`` or
  FIREFLY_TEST_POSTGRES_URL, dropped after;
- ``redis``: a queue of its own on ``--redis URL`` or FIREFLY_TEST_REDIS_URL (its keys deleted
  after), run by two ``firefly worker`` processes.

Two measures, each at 1 and 16 clients:

- ``submit``: wrk posts ``{"n": 4}`` with ``Prefer: respond-async`` (benchmarks/submit.lua),
  every answer a 202: submissions per second and their latency; ``run/s`` is how fast the
  backend ran them meanwhile (the executions over the time from the start of the run to the
  last one's end);
- ``wait``: callers (benchmarks/callers.py) submit, then ``GET /-/executions/<id>?wait=60``
  until done: executions finished per second and the time from submit to result.

The server is pinned to core 0, wrk and the callers to core 1 as in run.py; the database,
Redis and the workers are not pinned. The runs follow one another, every other repetition
backwards, and the table shows medians. After each run every execution it submitted is read
back through ``GET /-/executions``: all must have succeeded, as many as the load counted
(wrk's answers, and at most one in flight per connection). The goal: the embedded backend
takes at least 1,000 submissions per second at 16 connections.

    python benchmarks/executions.py           # about 13 minutes with Redis, most of it its
                                              # workers running the submits; 3 without
    python benchmarks/executions.py --quick   # a smoke run: about 15 s (35 s with Redis)
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

from executioncases import (
    POSTGRESQL,
    REDIS,
    REDIS_ENV,
    SQLITE,
    Check,
    Setup,
    drain,
    redis_queue,
    redis_unavailable,
    submit_load,
    utcnow,
    wait_load,
)
from logcases import POSTGRES_ENV, postgres_database, postgres_unavailable
from models import Server
from report import free_port, positive_int, progress, simple_table, stop_group
from run import (
    LOAD_CORE,
    MULTIPROCESS_DIRECTORY_VARIABLE,
    SERVER_CORE,
    START_TIMEOUT,
    STOP_TIMEOUT,
    TARGETS_DIR,
    BenchmarkError,
    cpu_model,
    run_benchmark,
    verdict,
    wait_until_listening,
)

DEFAULT_DURATION, DEFAULT_REPETITIONS = 5, 3
QUICK_DURATION, QUICK_REPETITIONS = 1, 1
WARMUP_SECONDS = 2
CLIENTS = (1, 16)
DEFAULT_THREADS = 16  # the server's: every waiting caller holds one
WORKERS = 2  # firefly worker processes on Redis
QUEUE = 1_000_000  # execution_queue: never full during a run, so every submit is a 202
SUBMIT, WAIT = "submit", "wait"
GOAL = 1000.0  # least submissions per second of the embedded backend at 16 connections
GOAL_CLIENTS = 16
DRAIN_TIMEOUT = 300.0  # seconds for the executions of a run to finish after it


@dataclass(frozen=True)
class Result:
    """One run: its rate, latencies, and what became of its executions."""

    rate: float  # submits answered (submit) or executions finished (wait) per second
    p50_ms: float
    p99_ms: float
    check: Check

    @property
    def ran(self) -> float:
        """Executions run per second, from the start of the run until the last one finished."""
        return self.check.submitted / self.check.seconds if self.check.seconds else 0.0


Results = dict[tuple[str, str, int], list[Result]]  # by backend, measure and clients


def start_server(setup: Setup, threads: int, work_dir: Path) -> Server:
    """Start the firefly command on ``setup``'s backend pinned to SERVER_CORE, in a process
    group of its own."""
    port = free_port()
    command = ["taskset", "-c", SERVER_CORE, sys.executable, "-m", "firefly"]
    command += ["--bind", f"127.0.0.1:{port}", "--threads", str(threads), "funcs.square"]
    env = clean_environment()
    env["FIREFLY_EXECUTIONS"] = setup.url  # not on the command line: it may hold a password
    env["FIREFLY_EXECUTION_QUEUE"] = str(QUEUE)
    return spawn(command, env, work_dir / f"{setup.backend}.log", setup.backend, port)


def start_worker(setup: Setup, number: int, work_dir: Path) -> Server:
    """Start a ``firefly worker`` process on ``setup``'s queue (not pinned)."""
    command = [sys.executable, "-m", "firefly", "worker", "funcs.square"]
    env = {**clean_environment(), "FIREFLY_EXECUTIONS": setup.url}
    return spawn(command, env, work_dir / f"worker-{number}.log", f"worker {number}", 0)


def clean_environment() -> dict[str, str]:
    """This process's environment without the FIREFLY_* settings of whoever runs it."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("FIREFLY_")}
    env.pop(MULTIPROCESS_DIRECTORY_VARIABLE, None)
    return env


def spawn(command: list[str], env: dict[str, str], log_path: Path, name: str, port: int) -> Server:
    """Run ``command`` in TARGETS_DIR in a process group of its own, its output to a file."""
    with open(log_path, "wb") as log:  # a file, not a pipe: the access log writes a line a request
        process = subprocess.Popen(
            command,
            cwd=TARGETS_DIR,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches us only; we stop the group ourselves
        )
    return Server(name, port, process, log_path)


def measure_once(server: Server, measure: str, clients: int, seconds: int) -> Result:
    """One run, then every execution it submitted read back once all have finished."""
    since = utcnow()
    if measure == SUBMIT:
        rate, p50, p99, answered = submit_load(server, clients, seconds)
        least, most = answered, answered + clients  # one in flight per connection at the end
    else:
        rate, p50, p99, answered = wait_load(server, clients, seconds)
        least = most = answered  # each caller waits for its last execution
    return Result(rate, p50, p99, drain(server, since, least, most, DRAIN_TIMEOUT))


Runs = list[tuple[Setup, Server, str, int]]


def measure(runs: Runs, duration: int, repetitions: int, warmup: int) -> Results:
    """Warm each server up (``warmup`` seconds of submits; none with 0), then make every run in
    turn ``repetitions`` times, every other repetition backwards."""
    results: Results = {}
    if warmup:
        progress(f"warming up: {warmup}s of submits per backend")
    for setup, server in {setup: server for setup, server, _, _ in runs}.items() if warmup else ():
        result = measure_once(server, SUBMIT, GOAL_CLIENTS, warmup)
        results[setup.backend, "warm-up", GOAL_CLIENTS] = [result]
    for repetition in range(1, repetitions + 1):
        progress(f"repetition {repetition}/{repetitions}")
        for setup, server, kind, clients in runs if repetition % 2 else reversed(runs):
            result = measure_once(server, kind, clients, duration)
            results.setdefault((setup.backend, kind, clients), []).append(result)
            progress(
                f"  {setup.backend:<10} {kind:<6} x{clients:<2} {result.rate:>7.0f}/s"
                f"  p50 {result.p50_ms:7.2f} ms  p99 {result.p99_ms:7.2f} ms"
                f"  {result.check.submitted} executions, run at {result.ran:.0f}/s"
                + ("" if result.check.verified else f"  NOT VERIFIED: {result.check.statuses}")
            )
    return results


def format_table(results: Results) -> str:
    """A row per backend, measure and clients: the medians, the executions, their check."""
    header = (
        "backend", "measure", "clients", "per s", "p50 ms", "p99 ms", "run/s", "executions",
        "verified",
    )  # fmt: skip
    cells = []
    for (backend, kind, clients), runs in results.items():
        if kind not in (SUBMIT, WAIT):
            continue
        cells.append(
            (
                backend,
                kind,
                str(clients),
                f"{statistics.median(run.rate for run in runs):.0f}",
                f"{statistics.median(run.p50_ms for run in runs):.2f}",
                f"{statistics.median(run.p99_ms for run in runs):.2f}",
                f"{statistics.median(run.ran for run in runs):.0f}" if kind == SUBMIT else "-",
                str(sum(run.check.submitted for run in runs)),
                "yes" if all(run.check.verified for run in runs) else "NO",
            )
        )
    return simple_table(header, cells, names=2)


def format_goals(results: Results) -> str:
    """The goal's line for each embedded backend, and the check of every backend's executions."""
    lines = []
    for backend in (SQLITE, POSTGRESQL):
        runs = results.get((backend, SUBMIT, GOAL_CLIENTS))
        if runs:
            rate = statistics.median(run.rate for run in runs)
            lines.append(
                f"embedded submit at {GOAL_CLIENTS} connections ({backend}): {rate:.0f}/s"
                f" (goal >= {GOAL:.0f}/s: {verdict(rate >= GOAL)})"
            )
    backends = dict.fromkeys(backend for backend, _, _ in results)
    for backend in backends:
        checks = [run.check for (b, _, _), runs in results.items() if b == backend for run in runs]
        submitted = sum(check.submitted for check in checks)
        succeeded = sum(check.statuses.get("succeeded", 0) for check in checks)
        verified = all(check.verified for check in checks)
        lines.append(
            f"{backend}: {submitted} executions submitted over {len(checks)} runs,"
            f" {succeeded} succeeded, each run's count within the load's:"
            f" {'verified' if verified else 'NOT VERIFIED'}"
        )
    return "\n".join(lines)


def describe_settings(duration: int, repetitions: int, threads: int) -> str:
    """The settings and software of this run, printed above the table."""
    packages = ("firefly-python", "gunicorn", "SQLAlchemy", "psycopg", "redis", "rq")
    wrk = subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout
    software = [f"Python {sys.version.split()[0]}"]
    software += [f"{name} {installed(name)}" for name in packages]
    software.append(wrk.split(" Copyright")[0].strip())
    return (
        f"{duration}s per run, {repetitions} repetitions (medians); servers (the firefly"
        f" command, one worker, --threads {threads}, its default features and"
        f" execution_threads) on core {SERVER_CORE}, wrk (1 thread) and the callers on core"
        f" {LOAD_CORE}; PostgreSQL, Redis and {WORKERS} firefly worker processes unpinned\n"
        f"CPU: {cpu_model()}\n" + ", ".join(software)
    )


def installed(name: str) -> str:
    """The version of an installed package, or ``-``."""
    try:
        return version(name)
    except Exception:  # PackageNotFoundError: an optional backend's
        return "-"


def run(
    duration: int,
    repetitions: int,
    warmup: int,
    threads: int,
    postgres: str | None,
    redis: str | None,
) -> None:
    """Start a server per backend (and Redis's workers), load them, read back every execution,
    print the table; stops every process and drops the database and queue whatever happens."""
    notes = {POSTGRESQL: postgres_unavailable(postgres), REDIS: redis_unavailable(redis)}
    with ExitStack() as stack:
        work_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="firefly-exec-")))
        setups = [Setup(SQLITE, f"sqlite:///{work_dir / 'executions.db'}")]
        if notes[POSTGRESQL] is None:
            assert postgres is not None
            name = f"firefly_bench_executions_{os.getpid()}"
            setups.append(Setup(POSTGRESQL, stack.enter_context(postgres_database(postgres, name))))
        if notes[REDIS] is None:
            assert redis is not None
            setups.append(Setup(REDIS, stack.enter_context(redis_queue(redis)), WORKERS))
        servers = {}
        for setup in setups:
            server = start_server(setup, threads, work_dir)
            stack.callback(stop_group, server.process, STOP_TIMEOUT)
            servers[setup] = server
            for number in range(1, setup.workers + 1):
                worker = start_worker(setup, number, work_dir)
                stack.callback(stop_group, worker.process, STOP_TIMEOUT)
        progress(f"starting {', '.join(setup.backend for setup in setups)}")
        deadline = time.monotonic() + START_TIMEOUT
        for setup, server in servers.items():
            wait_until_listening(server, setup.backend, deadline)
        runs = [
            (setup, servers[setup], kind, clients)
            for setup in setups
            for kind in (SUBMIT, WAIT)
            for clients in CLIENTS
        ]
        results = measure(runs, duration, repetitions, warmup)
    print(describe_settings(duration, repetitions, threads), end="\n\n")
    print(format_table(results), end="\n\n")
    print(format_goals(results))
    for backend, note in notes.items():
        if note is not None:
            print(f"note: the {backend} rows are left out: {note}")
    if not all(run.check.verified for runs in results.values() for run in runs):
        raise BenchmarkError("an execution submitted did not succeed, or the counts disagree")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--duration",
        type=positive_int,
        help=f"seconds of load per backend, measure, clients and repetition"
        f" (default {DEFAULT_DURATION})",
    )
    parser.add_argument(
        "--repetitions",
        type=positive_int,
        help=f"rounds over all runs; the table shows medians (default {DEFAULT_REPETITIONS})",
    )
    parser.add_argument(
        "--threads",
        type=positive_int,
        default=DEFAULT_THREADS,
        help=f"the servers' --threads (default {DEFAULT_THREADS}: a thread per waiting caller;"
        " the firefly command's own default is 1)",
    )
    parser.add_argument(
        "--postgres",
        metavar="URL",
        default=os.environ.get(POSTGRES_ENV),
        help=f"the PostgreSQL server to make a database on (default: {POSTGRES_ENV}; without"
        " one, the PostgreSQL rows are left out)",
    )
    parser.add_argument(
        "--redis",
        metavar="URL",
        default=os.environ.get(REDIS_ENV),
        help=f"the Redis server to queue on (default: {REDIS_ENV}; without one, the Redis rows"
        " are left out)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"a smoke run without a warm-up: --duration {QUICK_DURATION}"
        f" --repetitions {QUICK_REPETITIONS} unless given",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the benchmark the command line describes."""
    args = parse_args(argv)
    duration = args.duration or (QUICK_DURATION if args.quick else DEFAULT_DURATION)
    repetitions = args.repetitions or (QUICK_REPETITIONS if args.quick else DEFAULT_REPETITIONS)
    warmup = 0 if args.quick else min(WARMUP_SECONDS, duration)
    run_benchmark(
        lambda: run(duration, repetitions, warmup, args.threads, args.postgres, args.redis)
    )


if __name__ == "__main__":
    main()
