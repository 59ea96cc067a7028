#!/usr/bin/env python
"""The prediction log's cost under load: calls with the log off, on SQLite and on PostgreSQL.

Each server (gunicorn and granian, the ``firefly`` command's two) runs three times, with the
same settings (the command's defaults: one worker, one thread, the access log on stderr,
multiprocess metrics) but the prediction log: off, ``--prediction-log sqlite:///<tmp>/p.db``
and ``--prediction-log postgresql://...`` (given as FIREFLY_PREDICTION_LOG, which keeps a
password out of the process list). Every server serves two targets:

- ``square`` (benchmarks/targets/funcs.py), ``POST /square {"n": 4}``;
- ``churn/predict``, a scikit-learn pipeline saved by tests/modelfiles.py into a temporary
  repository (``--models``), ``POST /churn/predict`` with one record.

PostgreSQL is the server of ``--postgres URL`` or FIREFLY_TEST_POSTGRES_URL; each server gets
a fresh database there, dropped at the end. Without one, its rows are left out with a note.

Each server is pinned to core 0 and loaded by wrk on core 1, as in run.py; the runs of a
target on a server (off, SQLite, PostgreSQL) follow one another, for several repetitions
(every other one backwards), and a ratio logged / off is the median of the ratios within
the repetitions. The goal: logging costs at most 10% of the requests per second on gunicorn
(a ratio of at least 0.90 on both targets and databases); granian's ratios are reported.

After the load every logged server is scraped (``firefly_requests_total``: every call it
answered, those still in flight when wrk stopped too, which wrk does not count), stopped with
SIGTERM (its worker writes what waits), and its table's rows are counted: one row per call
answered, whatever its status.

    python benchmarks/predictionlog.py           # about 7 minutes
    python benchmarks/predictionlog.py --quick   # a smoke run, square only: about 30 seconds
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from contextlib import ExitStack
from importlib.metadata import version
from pathlib import Path

from logcases import (
    POSTGRES_ENV,
    SQUARE,
    Checks,
    Setup,
    Target,
    check_rows,
    postgres_database,
    postgres_unavailable,
    save_model,
)
from models import Server
from report import free_port, positive_int, progress, simple_table, stop_group
from run import (
    DEFAULT_CONNECTIONS,
    LOAD_CORE,
    MULTIPROCESS_DIRECTORY_VARIABLE,
    SERVER_CORE,
    START_TIMEOUT,
    STOP_TIMEOUT,
    TARGETS_DIR,
    BenchmarkError,
    Measurement,
    Results,
    cpu_model,
    cpu_seconds,
    paired_median,
    parse_wrk_output,
    run_benchmark,
    run_wrk,
    verdict,
    wait_until_listening,
)

DEFAULT_DURATION, DEFAULT_REPETITIONS = 5, 5
QUICK_DURATION, QUICK_REPETITIONS = 1, 1
WARMUP_SECONDS = 2
SERVERS = ("gunicorn", "granian")
OFF, SQLITE, POSTGRESQL = "off", "sqlite", "postgresql"
LOGS = (OFF, SQLITE, POSTGRESQL)
GOAL_SERVER = "gunicorn"
GOAL = 0.90  # least rps logged / off on GOAL_SERVER: logging costs at most 10%


def start_server(setup: Setup, models: Path, work_dir: Path) -> Server:
    """Start the firefly command of ``setup`` pinned to SERVER_CORE, in a process group of its
    own."""
    port = free_port()
    command = ["taskset", "-c", SERVER_CORE, sys.executable, "-m", "firefly"]
    command += ["--server", setup.server, "--bind", f"127.0.0.1:{port}"]
    command += ["--models", str(models), "funcs.square"]
    env = {key: value for key, value in os.environ.items() if not key.startswith("FIREFLY_")}
    env.pop(MULTIPROCESS_DIRECTORY_VARIABLE, None)
    if setup.url is not None:
        env["FIREFLY_PREDICTION_LOG"] = setup.url
    log_path = work_dir / f"{setup.server}-{setup.log}.log"
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
    return Server(setup.name, port, process, log_path)


def check_answers(servers: dict[Setup, Server], targets: Sequence[Target]) -> None:
    """Every server answers each target's request as expected, a logged one with its
    prediction id."""
    for setup, server in servers.items():
        for target in targets:
            request = urllib.request.Request(
                f"{server.url}/{target.function.name}",
                data=target.function.body.encode(),
                headers={"Content-Type": "application/json"},
            )
            with urllib.request.urlopen(request, timeout=STOP_TIMEOUT) as response:
                body, logged = json.loads(response.read()), "X-Prediction-ID" in response.headers
            if body != target.function.expected or logged != (setup.url is not None):
                raise BenchmarkError(
                    f"{setup.name} POST /{target.function.name}: answered {body!r}"
                    f" ({'with' if logged else 'without'} X-Prediction-ID), expected"
                    f" {target.function.expected!r}"
                )


def load(server: Server, target: Target, connections: int, seconds: int) -> Measurement:
    """Load ``server`` with ``target``'s request and measure its CPU time meanwhile."""
    cpu_before = cpu_seconds(server.process.pid)
    output = run_wrk(f"{server.url}/{target.function.name}", target.function, connections, seconds)
    return parse_wrk_output(output, cpu_seconds(server.process.pid) - cpu_before)


Runs = list[tuple[Setup, Server, Target]]


def measure(
    runs: Runs, duration: int, repetitions: int, connections: int
) -> tuple[Results, Results]:
    """Warm every run up, then load them in turn ``repetitions`` times, every other one
    backwards; the measurements by setup name and target name, and the warm-ups'."""
    warmup = min(WARMUP_SECONDS, duration)
    progress(f"warming up: {warmup}s per server, log and target")
    warmups: Results = {
        (setup.name, target.name): [load(server, target, connections, warmup)]
        for setup, server, target in runs
    }
    results: Results = {}
    for repetition in range(1, repetitions + 1):
        progress(f"repetition {repetition}/{repetitions}")
        for setup, server, target in runs if repetition % 2 else reversed(runs):
            result = load(server, target, connections, duration)
            results.setdefault((setup.name, target.name), []).append(result)
            progress(
                f"  {setup.name:<19} {target.name:<14} {result.rps:>8.0f} req/s"
                f"  p50 {result.p50_ms:6.2f} ms  p99 {result.p99_ms:6.2f} ms"
                f"  CPU {result.cpu_us:5.0f} us/request"
            )
    return results, warmups


def format_table(
    setups: Sequence[Setup], targets: Sequence[Target], results: Results, checks: Checks
) -> str:
    """A row per server, target and log: the medians, logged / off, and the rows written."""
    header = (
        "server", "target", "log", "rps", "p50 ms", "p99 ms", "CPU us", "logged/off",
        "rows", "requests", "rows == requests",
    )  # fmt: skip
    cells = []
    for target in targets:
        for setup in setups:
            runs = results[setup.name, target.name]
            check = checks.get((setup.name, target.name))
            logged = setup.url is not None
            off = f"{setup.server} {OFF}"
            ratio = paired_median(results, setup.name, off, target.name, lambda run: run.rps)
            cells.append(
                (
                    setup.server,
                    target.name,
                    setup.log,
                    f"{statistics.median(run.rps for run in runs):.0f}",
                    f"{statistics.median(run.p50_ms for run in runs):.2f}",
                    f"{statistics.median(run.p99_ms for run in runs):.2f}",
                    f"{statistics.median(run.cpu_us for run in runs):.0f}",
                    f"{ratio:.2f}" if logged else "",
                    str(check.rows) if check else "",
                    str(check.requests) if check else "",
                    ("yes" if check.verified else "NO") if check else "",
                )
            )
    return simple_table(header, cells, names=3)


def format_goals(
    setups: Sequence[Setup], targets: Sequence[Target], results: Results, checks: Checks
) -> str:
    """Each logged setup's ratio (against the goal on GOAL_SERVER), its rows, any socket errors."""
    lines = []
    for target in targets:
        for setup in setups:
            if setup.url is None:
                continue
            off = f"{setup.server} {OFF}"
            ratio = paired_median(results, setup.name, off, target.name, lambda run: run.rps)
            goal = f" (goal >= {GOAL:.2f}: {verdict(ratio >= GOAL)})"
            lines.append(
                f"{setup.name} / {OFF} rps on {target.name}: {ratio:.2f}"
                + (goal if setup.server == GOAL_SERVER else "")
            )
    for (name, logged), check in checks.items():
        lines.append(
            f"{name}: {check.rows} rows of {logged}, {check.requests} requests answered"
            f" (wrk counted {check.least} to {check.most} with the harness's own),"
            f" {check.dropped} dropped: {'verified' if check.verified else 'NOT VERIFIED'}"
        )
    lines += [
        f"warning: wrk reported {errors} socket errors on {name} {target}"
        for (name, target), runs in results.items()
        if (errors := sum(run.socket_errors for run in runs))
    ]
    return "\n".join(lines)


def describe_settings(duration: int, repetitions: int, connections: int) -> str:
    """The settings and software of this run, printed above the table."""
    packages = ("firefly-python", "gunicorn", "granian", "SQLAlchemy", "psycopg", "scikit-learn")
    wrk = subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout
    software = [f"Python {sys.version.split()[0]}"]
    software += [f"{name} {version(name)}" for name in packages]
    software.append(wrk.split(" Copyright")[0].strip())
    return (
        f"{duration}s per run, {repetitions} repetitions (medians), {connections} connections;"
        f" servers (the firefly command, one worker, its default threads and features) on"
        f" core {SERVER_CORE}, wrk (1 thread) on core {LOAD_CORE}, PostgreSQL unpinned\n"
        f"CPU: {cpu_model()}\n" + ", ".join(software)
    )


def run(
    duration: int, repetitions: int, connections: int, quick: bool, postgres: str | None
) -> None:
    """Start every server, load them, count their rows, print the table; stops the servers and
    drops the databases whatever happens."""
    unavailable = postgres_unavailable(postgres)
    logs = [log for log in LOGS if log != POSTGRESQL or unavailable is None]
    with ExitStack() as stack:
        work_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="firefly-plog-")))
        models = work_dir / "models"
        progress("saving the churn model of tests/modelfiles.py")
        churn = save_model(models)  # served in a quick run too: the servers are the same
        targets = [SQUARE] if quick else [SQUARE, churn]
        setups = []
        for kind in SERVERS:
            for log in logs:
                if log == SQLITE:
                    url: str | None = f"sqlite:///{work_dir / kind / 'p.db'}"
                elif log == POSTGRESQL:
                    assert postgres is not None
                    name = f"firefly_bench_{os.getpid()}_{kind}"
                    url = stack.enter_context(postgres_database(postgres, name))
                else:
                    url = None
                setups.append(Setup(kind, log, url))
        servers = {}
        for setup in setups:
            server = start_server(setup, models, work_dir)
            stack.callback(stop_group, server.process, STOP_TIMEOUT)
            servers[setup] = server
        progress(f"starting {', '.join(setup.name for setup in setups)}")
        deadline = time.monotonic() + START_TIMEOUT
        for setup, server in servers.items():
            wait_until_listening(server, setup.name, deadline)
        check_answers(servers, targets)
        # a target's runs on a server (off, then logged) follow one another
        runs = [(setup, servers[setup], target) for target in targets for setup in setups]
        results, warmups = measure(runs, duration, repetitions, connections)
        loads = {key: warmups[key] + runs for key, runs in results.items()}
        progress("stopping the logged servers and counting their rows")
        checks: Checks = {}
        for setup, server in servers.items():
            if setup.url is not None:
                checks.update(check_rows(setup, server, targets, loads, connections))
    print(describe_settings(duration, repetitions, connections), end="\n\n")
    print(format_table(setups, targets, results, checks), end="\n\n")
    print(format_goals(setups, targets, results, checks))
    if unavailable is not None:
        print(f"note: the PostgreSQL rows are left out: {unavailable}")
    if not all(check.verified for check in checks.values()):
        raise BenchmarkError("a logged server did not write one row per call answered")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--duration",
        type=positive_int,
        help=f"seconds of load per server, log, target and repetition (default {DEFAULT_DURATION})",
    )
    parser.add_argument(
        "--repetitions",
        type=positive_int,
        help=f"rounds over all runs; the table shows medians (default {DEFAULT_REPETITIONS})",
    )
    parser.add_argument(
        "--connections",
        type=positive_int,
        default=DEFAULT_CONNECTIONS,
        help=f"wrk connections (default {DEFAULT_CONNECTIONS})",
    )
    parser.add_argument(
        "--postgres",
        metavar="URL",
        default=os.environ.get(POSTGRES_ENV),
        help=f"the PostgreSQL server to make the databases on (default: {POSTGRES_ENV}; without"
        " one, the PostgreSQL rows are left out)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"a smoke run: square only, --duration {QUICK_DURATION}"
        f" --repetitions {QUICK_REPETITIONS} unless given",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the benchmark the command line describes."""
    args = parse_args(argv)
    duration = args.duration or (QUICK_DURATION if args.quick else DEFAULT_DURATION)
    repetitions = args.repetitions or (QUICK_REPETITIONS if args.quick else DEFAULT_REPETITIONS)
    run_benchmark(lambda: run(duration, repetitions, args.connections, args.quick, args.postgres))


if __name__ == "__main__":
    main()
