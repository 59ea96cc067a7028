#!/usr/bin/env python
"""Benchmark firefly's request path against a raw WSGI app and a Flask app.

Every target runs under gunicorn (or granian: ``raw-granian`` and
``firefly-granian``) pinned to core 0 and is loaded by wrk pinned to core 1,
round-robin over the targets for several repetitions; the table shows the
medians. ``firefly-off`` and ``firefly-on`` serve ``square`` with
firefly's optional features (validation, access log, metrics) all off and all
on; after the run the harness checks that the access log and the metrics of
``firefly-on`` counted every request. docs/performance.rst explains the set-up
and the results.

    python benchmarks/run.py           # the full run: about 13 minutes
    python benchmarks/run.py --quick   # a smoke run: about a minute
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

import joblib
from gunicorn.config import KNOWN_SETTINGS
from prometheus_client.parser import text_string_to_metric_families
from report import free_port, positive_int, progress, simple_table, stop_group
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

HERE = Path(__file__).resolve().parent
TARGETS_DIR = HERE / "targets"
WRK_SCRIPT = HERE / "post.lua"
SERVER_CORE = "0"
LOAD_CORE = "1"
TOKEN = "bench-token-0123456789"
MODEL_ENV = "BENCH_MODEL_PATH"  # read by targets/model.py
START_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0
DEFAULT_DURATION = 5
DEFAULT_REPETITIONS = 9
DEFAULT_CONNECTIONS = 16
QUICK_DURATION = 1
QUICK_REPETITIONS = 1
WARMUP_SECONDS = 2
WRK_TIMEOUT = "10s"  # slow answers count in the latency instead of vanishing as timeouts
DESCRIPTION = "Benchmark firefly against a raw WSGI app and a Flask app under gunicorn and wrk."
LATENCY_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
METRICS_PATH = "/-/metrics"
MULTIPROCESS_DIRECTORY_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"  # prometheus-client reads it
REQUEST_ID_HEADER = "X-Request-ID"


class BenchmarkError(Exception):
    """The benchmark cannot go on: a server did not start or answered wrongly, wrk failed."""


@dataclass(frozen=True)
class Function:
    """A function every target serves: the JSON body wrk posts and the answer it must get."""

    name: str
    body: str
    expected: Any


IRIS_ROWS = [[5.1, 3.5, 1.4, 0.2], [6.2, 2.9, 4.3, 1.3], [6.7, 3.0, 5.2, 2.3]]
FUNCTIONS = {
    "square": Function("square", json.dumps({"n": 4}), 16),
    "predict": Function("predict", json.dumps({"a": IRIS_ROWS}), [0, 1, 2]),
}
# {"n": "four"} does not fit square(n: int | float): 422 with validation, 500 without
# (the function raises TypeError), so one request tells whether validation is on.
INVALID_SQUARE = json.dumps({"n": "four"})
HARNESS_POSTS = {"square": 2, "predict": 1}  # POSTs before the load: the answer check, the probe

ACCESS_LOG_OFF = "off"
ACCESS_LOG_STDERR = "stderr"  # the server's output file
ACCESS_LOG_FILE = "file"  # access.log in the target's directory
ACCESS_LOG_NAME = "access.log"
# Rotation at firefly's default size, but keeping enough old files that the check after
# the run can count every line.
ACCESS_LOG_BACKUPS = 100
METRICS_DIRECTORY_NAME = "metrics"


@dataclass(frozen=True)
class Features:
    """The optional parts of a firefly target, each set explicitly (request ids are always on).

    ``access_log`` is ACCESS_LOG_OFF, ACCESS_LOG_STDERR or ACCESS_LOG_FILE (text lines,
    rotated). Metrics, when on, are kept in prometheus-client's multiprocess mode, as in
    production, in a directory of the target's own.
    """

    token: bool
    validate: bool
    access_log: str
    metrics: bool

    def environment(self, directory: Path) -> dict[str, str]:
        """The FIREFLY_* (and PROMETHEUS_MULTIPROC_DIR) variables that set these features."""
        destinations = {
            ACCESS_LOG_OFF: "off",
            ACCESS_LOG_STDERR: "-",
            ACCESS_LOG_FILE: str(directory / ACCESS_LOG_NAME),
        }
        env = {
            "FIREFLY_VALIDATE": str(self.validate).lower(),
            "FIREFLY_ACCESS_LOG": destinations[self.access_log],
            "FIREFLY_ACCESS_LOG_FORMAT": "text",
            "FIREFLY_ACCESS_LOG_BACKUPS": str(ACCESS_LOG_BACKUPS),
            "FIREFLY_METRICS": str(self.metrics).lower(),
        }
        if self.token:
            env["FIREFLY_TOKEN"] = TOKEN
        if self.metrics:
            env[MULTIPROCESS_DIRECTORY_VARIABLE] = str(directory / METRICS_DIRECTORY_NAME)
        return env

    @property
    def observed(self) -> bool:
        """Whether the requests are logged or counted, so the harness can check that they were."""
        return self.metrics or self.access_log != ACCESS_LOG_OFF

    def describe(self) -> str:
        """The features in a few words, for the report."""
        return (
            f"token {'on' if self.token else 'off'}, validation {'on' if self.validate else 'off'},"
            f" access log {self.access_log}, metrics {'multiprocess' if self.metrics else 'off'}"
        )


@dataclass(frozen=True)
class Target:
    """A server to load: its command line (``{port}`` is filled in) and what it serves.

    ``features`` is None for the servers that are not firefly.
    """

    name: str
    command: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)
    functions: tuple[str, ...] = tuple(FUNCTIONS)
    connections: int | None = None  # None: the --connections option
    features: Features | None = None


def gunicorn(app: str, *options: str) -> tuple[str, ...]:
    """gunicorn serving ``app`` with one worker, a sync one unless ``options`` say otherwise."""
    names = {setting.name for setting in KNOWN_SETTINGS}
    # gunicorn >= 25 opens one control socket per user, which servers side by side would share
    no_control = ("--no-control-socket",) if "control_socket_disable" in names else ()
    bind = ("--bind", "127.0.0.1:{port}", "--workers", "1")
    return (sys.executable, "-m", "gunicorn", *bind, *no_control, *options, app)


def granian(app: str) -> tuple[str, ...]:
    """granian serving the WSGI ``app`` with one worker and one blocking thread.

    One thread runs the app, as in gunicorn's sync worker and the firefly command's default.
    """
    options = ("--interface", "wsgi", "--workers", "1", "--blocking-threads", "1")
    bind = ("--host", "127.0.0.1", "--port", "{port}")
    return (sys.executable, "-m", "granian", *options, *bind, app)


FIREFLY_ENV = {"FIREFLY_FUNCTIONS": "funcs.square,model.predict"}
SQUARE_ENV = {"FIREFLY_FUNCTIONS": "funcs.square"}
BASELINE = "raw-wsgi"
GOAL_TARGET = "firefly-sync"
GOALS = {"square": 0.85, "predict": 0.90}  # least rps of GOAL_TARGET relative to BASELINE
ALL_OFF = "firefly-off"
ALL_ON = "firefly-on"
ALL_ON_GOAL = 0.80  # least rps of ALL_ON relative to BASELINE on square
CLI_TARGET = "firefly-cli"
CLI_CONNECTIONS = 16
CLI_P99_GOAL = 3.0  # most p99 / p50 of CLI_TARGET
RAW_GRANIAN = "raw-granian"
GRANIAN_TARGET = "firefly-granian"
#: Least rps of GRANIAN_TARGET relative to BASELINE, by function.
GRANIAN_GOALS = {"square": 4.0, "predict": 1.6}
GRANIAN_RAW_GOAL = 0.80  # least rps of GRANIAN_TARGET relative to RAW_GRANIAN on square
# The firefly command's defaults: validation, the access log on stderr, multiprocess metrics.
COMMAND_FEATURES = Features(token=False, validate=True, access_log=ACCESS_LOG_STDERR, metrics=True)
# The core request path with a token: the optional features that log and count are off.
CORE_FEATURES = Features(token=True, validate=True, access_log=ACCESS_LOG_OFF, metrics=False)
TARGETS = (
    Target(BASELINE, gunicorn("raw_wsgi:app")),
    Target("flask", gunicorn("flask_app:app")),
    Target(
        ALL_OFF,
        gunicorn("firefly.main:app"),
        SQUARE_ENV,
        functions=("square",),
        features=Features(token=False, validate=False, access_log=ACCESS_LOG_OFF, metrics=False),
    ),
    Target(
        ALL_ON,
        gunicorn("firefly.main:app"),
        SQUARE_ENV,
        functions=("square",),
        features=Features(token=False, validate=True, access_log=ACCESS_LOG_FILE, metrics=True),
    ),
    Target(GOAL_TARGET, gunicorn("firefly.main:app"), FIREFLY_ENV, features=CORE_FEATURES),
    Target(
        "firefly-gthread",
        gunicorn("firefly.main:app", "--worker-class", "gthread", "--threads", "4"),
        FIREFLY_ENV,
        features=CORE_FEATURES,
    ),
    Target(
        CLI_TARGET,
        (sys.executable, "-m", "firefly", "--bind", "127.0.0.1:{port}")
        + ("funcs.square", "model.predict"),
        connections=CLI_CONNECTIONS,
        features=COMMAND_FEATURES,
    ),
    Target(RAW_GRANIAN, granian("raw_wsgi:app")),
    Target(
        GRANIAN_TARGET,
        (sys.executable, "-m", "firefly", "--server", "granian", "--bind", "127.0.0.1:{port}")
        + ("funcs.square", "model.predict"),
        features=COMMAND_FEATURES,
    ),
)


@dataclass
class Server:
    """A running target."""

    target: Target
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    directory: Path  # the target's own: its access log and metrics files

    @property
    def url(self) -> str:
        """The server's base URL, without a trailing slash."""
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, lines: int = 20) -> str:
        """The end of the server's output, to explain a failure."""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


@dataclass(frozen=True)
class Measurement:
    """What one wrk run measured, and the server's CPU time per request meanwhile."""

    rps: float
    p50_ms: float
    p99_ms: float
    cpu_us: float
    socket_errors: int
    requests: int  # answers wrk counted


@dataclass(frozen=True)
class Row:
    """The medians of one target and function over the repetitions."""

    target: str
    function: str
    rps: float
    p50_ms: float
    p99_ms: float
    cpu_us: float
    ratio: float  # rps relative to BASELINE on the same function
    cpu_ratio: float  # CPU time per request relative to BASELINE on the same function
    socket_errors: int  # over all the repetitions


def train_model(path: Path) -> None:
    """Fit a LogisticRegression on iris and save it with joblib for targets/model.py."""
    iris = load_iris()
    joblib.dump(LogisticRegression(max_iter=1000).fit(iris.data, iris.target), path)


def start_server(target: Target, env: dict[str, str], log_dir: Path) -> Server:
    """Start ``target`` pinned to SERVER_CORE, in a process group of its own."""
    port = free_port()
    command = ["taskset", "-c", SERVER_CORE, *(arg.format(port=port) for arg in target.command)]
    directory = log_dir / target.name
    (directory / METRICS_DIRECTORY_NAME).mkdir(parents=True)
    features = target.features.environment(directory) if target.features else {}
    log_path = log_dir / f"{target.name}.log"
    # The output goes to a file, never to a pipe nobody reads: an access log to stderr
    # writes a line per request and would block the server once the pipe is full.
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command,
            cwd=TARGETS_DIR,
            env={**env, **target.env, **features},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches us only; we stop the group ourselves
        )
    return Server(target, port, process, log_path, directory)


def stop_server(server: Server) -> None:
    """Stop the server's process group (gunicorn's arbiter and workers): gently, then by force."""
    stop_group(server.process, STOP_TIMEOUT)


def wait_until_listening(server: Any, name: str, deadline: float) -> None:
    """Wait for the port of ``server`` (with ``process``, ``port``, ``log_tail()``) to open."""
    while True:
        if server.process.poll() is not None:
            raise BenchmarkError(
                f"{name} exited with code {server.process.returncode}:\n" + server.log_tail()
            )
        try:
            with socket.create_connection(("127.0.0.1", server.port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise BenchmarkError(
                    f"{name} did not listen on port {server.port}"
                    f" within {START_TIMEOUT:.0f}s:\n{server.log_tail()}"
                ) from None
            time.sleep(0.1)


def wait_until_serving(server: Server, deadline: float) -> None:
    """Wait for the port to open, then check that every function answers correctly."""
    wait_until_listening(server, server.target.name, deadline)
    for name in server.target.functions:
        check_answer(server, FUNCTIONS[name], max(1.0, deadline - time.monotonic()))
    if server.target.features is not None:
        check_features(server, server.target.features, max(1.0, deadline - time.monotonic()))


@dataclass(frozen=True)
class Answer:
    """A server's answer to one of the harness's own requests."""

    status: int
    headers: dict[str, str]
    body: bytes


def ask(server: Server, path: str, body: str | None, timeout: float) -> Answer:
    """POST ``body`` (GET without one) to ``path`` with the token, and return the answer."""
    request = urllib.request.Request(
        f"{server.url}{path}",
        data=None if body is None else body.encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Token {TOKEN}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return Answer(response.status, dict(response.headers), response.read())
    except urllib.error.HTTPError as err:
        return Answer(err.code, dict(err.headers), err.read())
    except OSError as err:
        where = f"{server.target.name} {'GET' if body is None else 'POST'} {path}"
        raise BenchmarkError(f"{where}: {err}\n{server.log_tail()}") from None


def check_answer(server: Server, function: Function, timeout: float) -> None:
    """POST the request wrk will send once and compare the answer with the expected one."""
    answer = ask(server, f"/{function.name}", function.body, timeout)
    where = f"{server.target.name} POST /{function.name}"
    if answer.status != 200:
        raise BenchmarkError(f"{where}: {answer.status} {answer.body.decode(errors='replace')}")
    if json.loads(answer.body) != function.expected:
        raise BenchmarkError(f"{where}: expected {function.expected!r}, got {answer.body!r}")


def check_features(server: Server, features: Features, timeout: float) -> None:
    """Check that validation, metrics and request ids are on or off as ``features`` say.

    The access log is checked after the run (:func:`check_telemetry`), when it is complete.
    """
    name = server.target.name
    invalid = ask(server, "/square", INVALID_SQUARE, timeout)
    expected = 422 if features.validate else 500
    if invalid.status != expected:
        raise BenchmarkError(
            f"{name}: POST /square {INVALID_SQUARE} answered {invalid.status}, expected {expected}"
            f" with validation {'on' if features.validate else 'off'}"
        )
    if REQUEST_ID_HEADER.lower() not in map(str.lower, invalid.headers):  # granian: lower case
        raise BenchmarkError(f"{name}: the answer has no {REQUEST_ID_HEADER} header")
    metrics = ask(server, METRICS_PATH, None, timeout)
    if metrics.status != (200 if features.metrics else 404):
        raise BenchmarkError(
            f"{name}: GET {METRICS_PATH} answered {metrics.status}"
            f" with metrics {'on' if features.metrics else 'off'}"
        )


def load(server: Server, function: Function, connections: int, seconds: int) -> Measurement:
    """Load one function of ``server`` with wrk and measure the server's CPU time meanwhile."""
    cpu_before = cpu_seconds(server.process.pid)
    output = run_wrk(f"{server.url}/{function.name}", function, connections, seconds)
    return parse_wrk_output(output, cpu_seconds(server.process.pid) - cpu_before)


def cpu_seconds(group: int) -> float:
    """The CPU time (user and system) the processes of a process group have used so far."""
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:  # the process is gone
            continue
        if int(fields[2]) == group:  # fields 5 (pgrp), 14 (utime) and 15 (stime) of proc(5)
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def run_wrk(url: str, function: Function, connections: int, seconds: int) -> str:
    """wrk's report of loading ``url`` from LOAD_CORE for ``seconds`` with ``function``'s body."""
    command = [
        "taskset", "-c", LOAD_CORE,
        "wrk", "--threads", "1", "--connections", str(connections),
        "--duration", f"{seconds}s", "--timeout", WRK_TIMEOUT, "--latency",
        "--script", str(WRK_SCRIPT), url,
    ]  # fmt: skip
    env = {**os.environ, "BENCH_BODY": function.body, "BENCH_TOKEN": TOKEN}
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=seconds + 60)
    if result.returncode != 0:
        raise BenchmarkError(f"wrk failed ({result.returncode}): {result.stderr}{result.stdout}")
    return result.stdout


def parse_wrk_output(output: str, server_cpu: float) -> Measurement:
    """The measures of wrk's report; ``server_cpu`` (seconds) is divided among its requests."""
    failed = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if failed:
        raise BenchmarkError(f"{failed.group(1)} answers were HTTP errors:\n{output}")
    requests = re.search(r"^\s*(\d+) requests in ", output, re.MULTILINE)
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.MULTILINE)
    if requests is None or rps is None or int(requests.group(1)) == 0:
        raise BenchmarkError(f"no requests in wrk's report:\n{output}")
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    return Measurement(
        rps=float(rps.group(1)),
        p50_ms=latency_percentile(output, 50),
        p99_ms=latency_percentile(output, 99),
        cpu_us=server_cpu / int(requests.group(1)) * 1e6,
        socket_errors=sum(int(count) for count in errors.groups()) if errors else 0,
        requests=int(requests.group(1)),
    )


def latency_percentile(output: str, percent: int) -> float:
    """A percentile of wrk's ``--latency`` distribution, in milliseconds."""
    line = re.search(rf"^\s+{percent}%\s+([\d.]+)([a-z]+)\s*$", output, re.MULTILINE)
    if line is None or line.group(2) not in LATENCY_UNITS_MS:
        raise BenchmarkError(f"no {percent}% latency in wrk's output:\n{output}")
    return float(line.group(1)) * LATENCY_UNITS_MS[line.group(2)]


Results = dict[tuple[str, str], list[Measurement]]  # by target and function name


def measure(
    servers: Sequence[Server], duration: int, repetitions: int, connections: int
) -> tuple[Results, Results]:
    """Warm every target and function up, then load them round-robin ``repetitions`` times.

    A round takes one function after the other over all the targets, so that the runs
    compared with each other are close in time; every other round goes backwards, so that
    a drift in the machine's speed favours no target. Returns the rounds' measurements and
    the warm-ups'.
    """
    runs = [
        (server, function, server.target.connections or connections)
        for function in FUNCTIONS.values()
        for server in servers
        if function.name in server.target.functions
    ]
    warmup = min(WARMUP_SECONDS, duration)
    progress(f"warming up: {warmup}s per target and function")
    warmups = {
        (server.target.name, function.name): [load(server, function, clients, warmup)]
        for server, function, clients in runs
    }
    results: Results = {}
    for repetition in range(1, repetitions + 1):
        progress(f"repetition {repetition}/{repetitions}")
        for server, function, clients in runs if repetition % 2 else reversed(runs):
            result = load(server, function, clients, duration)
            results.setdefault((server.target.name, function.name), []).append(result)
            progress(
                f"  {server.target.name:<16} {function.name:<8} {result.rps:>8.0f} req/s"
                f"  p50 {result.p50_ms:6.2f} ms  p99 {result.p99_ms:6.2f} ms"
                f"  CPU {result.cpu_us:4.0f} us/request"
                + (f"  {result.socket_errors} socket errors" if result.socket_errors else "")
            )
    return results, warmups


def check_telemetry(server: Server, loads: Results, connections: int) -> list[str]:
    """Check that the metrics and the access log of ``server`` counted every request; stops it.

    Each count must lie between the answers wrk counted plus the harness's own requests,
    and that plus the requests still in flight when each wrk run ended (at most one per
    connection). Returns one line per check for the report.
    """
    features = server.target.features
    assert features is not None  # only firefly targets are checked
    name = server.target.name
    expected = {}
    for function in server.target.functions:
        runs = loads[name, function]
        least = sum(run.requests for run in runs) + HARNESS_POSTS[function]
        expected[function] = (least, least + len(runs) * connections)
    counts: dict[str, dict[str, int]] = {}
    if features.metrics:
        counts["metrics"] = scraped_requests(server)
        if not any((server.directory / METRICS_DIRECTORY_NAME).glob("*.db")):
            raise BenchmarkError(f"{name}: no multiprocess metrics files were written")
    stop_server(server)  # the access log is complete once its workers have exited
    if features.access_log != ACCESS_LOG_OFF:
        counts["access log"] = logged_requests(server, features.access_log)
    lines = []
    for source, count in counts.items():
        for function, (least, most) in expected.items():
            found = count.get(function, 0)
            if not least <= found <= most:
                raise BenchmarkError(
                    f"{name}: the {source} counted {found} requests to {function},"
                    f" expected {least} to {most}"
                )
            lines.append(
                f"{name}: the {source} counted {found} requests to {function}"
                f" (expected {least} to {most}): verified"
            )
    return lines


def scraped_requests(server: Server) -> dict[str, int]:
    """The requests counted in the server's metrics, by function."""
    answer = ask(server, METRICS_PATH, None, STOP_TIMEOUT)
    if answer.status != 200:
        raise BenchmarkError(f"{server.target.name}: GET {METRICS_PATH} answered {answer.status}")
    counts: dict[str, int] = {}
    for family in text_string_to_metric_families(answer.body.decode()):
        for sample in family.samples:
            if sample.name == "firefly_requests_total" and sample.labels.get("function"):
                function = sample.labels["function"]
                counts[function] = counts.get(function, 0) + int(sample.value)
    return counts


def logged_requests(server: Server, access_log: str) -> dict[str, int]:
    """The requests in the server's access log, by function: its lines ``"POST /<function>"``.

    A log to a file counts the rotated files too, gzipped or not.
    """
    if access_log == ACCESS_LOG_STDERR:
        paths = [server.log_path]
    else:
        paths = [
            path
            for path in server.directory.glob(f"{ACCESS_LOG_NAME}*")
            if re.fullmatch(rf"{re.escape(ACCESS_LOG_NAME)}(\.\d+)?(\.gz)?", path.name)
        ]
    counts = dict.fromkeys(server.target.functions, 0)
    for path in paths:
        with gzip.open(path) if path.suffix == ".gz" else open(path, "rb") as log:
            for line in log:
                for function in counts:
                    if f'"POST /{function}"'.encode() in line:
                        counts[function] += 1
    return counts


def summarize(results: Results) -> list[Row]:
    """The median of each measure over the repetitions.

    A ratio to the baseline is the median of the ratios within each round: other programs
    on the machine slow down runs a minute apart more differently than runs seconds apart.
    """
    rows = []
    for (target, function), runs in results.items():
        rows.append(
            Row(
                target,
                function,
                rps=statistics.median(run.rps for run in runs),
                p50_ms=statistics.median(run.p50_ms for run in runs),
                p99_ms=statistics.median(run.p99_ms for run in runs),
                cpu_us=statistics.median(run.cpu_us for run in runs),
                ratio=paired_median(results, target, BASELINE, function, lambda run: run.rps),
                cpu_ratio=paired_median(
                    results, target, BASELINE, function, lambda run: run.cpu_us
                ),
                socket_errors=sum(run.socket_errors for run in runs),
            )
        )
    return rows


def format_table(rows: Sequence[Row]) -> str:
    """The rows as a reStructuredText simple table (pasted as is into docs/performance.rst)."""
    header = ("target", "function", "rps", "p50 ms", "p99 ms", "CPU us", "rps/raw", "CPU/raw")
    cells = [
        (r.target, r.function, f"{r.rps:.0f}", f"{r.p50_ms:.2f}", f"{r.p99_ms:.2f}")
        + (f"{r.cpu_us:.0f}", f"{r.ratio:.2f}", f"{r.cpu_ratio:.2f}")
        for r in rows
    ]
    return simple_table(header, cells, names=2)


def format_goals(rows: Sequence[Row], results: Results) -> str:
    """The measured ratios against the goals, the cost of the features, and any socket errors."""
    by_key = {(row.target, row.function): row for row in rows}
    off, on = by_key[ALL_OFF, "square"], by_key[ALL_ON, "square"]
    on_off = paired_median(results, ALL_ON, ALL_OFF, "square", lambda run: run.rps)
    lines = [
        f"{ALL_OFF} / {BASELINE} rps on square: {off.ratio:.2f};"
        f" CPU time per request: {off.cpu_ratio:.2f}x",
        f"{ALL_ON} / {BASELINE} rps on square: {on.ratio:.2f}"
        f" (goal >= {ALL_ON_GOAL:.2f}: {verdict(on.ratio >= ALL_ON_GOAL)});"
        f" CPU time per request: {on.cpu_ratio:.2f}x",
        f"{ALL_ON} / {ALL_OFF} rps on square: {on_off:.2f}; the features cost"
        f" {on.cpu_us - off.cpu_us:.0f} us of CPU time per request",
    ]
    for function, goal in GOALS.items():
        row = by_key[GOAL_TARGET, function]
        lines.append(
            f"{GOAL_TARGET} / {BASELINE} rps on {function}: {row.ratio:.2f}"
            f" (goal >= {goal:.2f}: {verdict(row.ratio >= goal)});"
            f" CPU time per request: {row.cpu_ratio:.2f}x"
        )
    for function, goal in GRANIAN_GOALS.items():
        row = by_key[GRANIAN_TARGET, function]
        lines.append(
            f"{GRANIAN_TARGET} / {BASELINE} rps on {function}: {row.ratio:.2f}"
            f" (goal >= {goal:.2f}: {verdict(row.ratio >= goal)});"
            f" CPU time per request: {row.cpu_ratio:.2f}x"
        )
    for function in FUNCTIONS:
        on_granian = paired_median(results, GRANIAN_TARGET, RAW_GRANIAN, function, lambda r: r.rps)
        goal = f" (goal >= {GRANIAN_RAW_GOAL:.2f}: {verdict(on_granian >= GRANIAN_RAW_GOAL)})"
        lines.append(
            f"{GRANIAN_TARGET} / {RAW_GRANIAN} rps on {function}: {on_granian:.2f}"
            + (goal if function == "square" else "")
        )
    cli = by_key[CLI_TARGET, "square"]
    spread = cli.p99_ms / cli.p50_ms
    lines.append(
        f"{CLI_TARGET} at {CLI_CONNECTIONS} connections: p50 {cli.p50_ms:.2f} ms,"
        f" p99 {cli.p99_ms:.2f} ms, p99/p50 {spread:.2f}"
        f" (goal <= {CLI_P99_GOAL:.0f}: {verdict(spread <= CLI_P99_GOAL)})"
    )
    lines += [
        f"warning: wrk reported {row.socket_errors} socket errors on {row.target} {row.function}"
        for row in rows
        if row.socket_errors
    ]
    return "\n".join(lines)


def paired_median(
    results: Results,
    target: str,
    reference: str,
    function: str,
    value: Callable[[Measurement], float],
) -> float:
    """The median over the rounds of ``value`` of ``target`` divided by that of ``reference``."""
    pairs = zip(results[target, function], results[reference, function], strict=True)
    return statistics.median(value(run) / value(base) for run, base in pairs)


def verdict(met: bool) -> str:
    """How a goal's check reads in the report."""
    return "met" if met else "NOT MET"


def describe_settings(duration: int, repetitions: int, connections: int) -> str:
    """The settings and software of this run, printed above the table."""
    packages = (
        "gunicorn", "granian", "Flask", "firefly-python", "pydantic", "prometheus-client",
        "scikit-learn",
    )  # fmt: skip
    wrk = subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout
    software = [f"Python {platform.python_version()}"]
    software += [f"{name} {version(name)}" for name in packages]
    software.append(wrk.split(" Copyright")[0].strip())
    return (
        f"{duration}s per run, {repetitions} repetitions (medians), {connections} connections"
        f" ({CLI_TARGET}: {CLI_CONNECTIONS}); servers on core {SERVER_CORE},"
        f" wrk (1 thread) on core {LOAD_CORE}\n"
        f"CPU: {cpu_model()}\n"
        + ", ".join(software)
        + "".join(
            f"\n{target.name}: {target.features.describe()}; request ids on"
            for target in TARGETS
            if target.features is not None
        )
    )


def cpu_model() -> str:
    """The CPU's model name, from /proc/cpuinfo where there is one."""
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or "unknown"
    found = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
    return found.group(1).strip() if found else platform.processor() or "unknown"


def run_benchmark(action: Callable[[], None]) -> None:
    """Run ``action`` (a benchmark's servers and loads) with the tools it needs, stopping its
    servers on SIGTERM or Ctrl-C, and its failure as one ``error:`` line."""
    check_tools()
    # SIGTERM unwinds like Ctrl-C, so the servers are stopped either way
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    try:
        action()
    except BenchmarkError as err:
        sys.exit(f"error: {err}")
    except KeyboardInterrupt:
        sys.exit("interrupted: every server was stopped")


def check_tools() -> None:
    """Exit with a clear message when wrk, taskset or the two cores are missing."""
    missing = [tool for tool in ("wrk", "taskset") if shutil.which(tool) is None]
    if missing:
        sys.exit(f"error: {' and '.join(missing)} not found on PATH")
    if not {int(SERVER_CORE), int(LOAD_CORE)} <= os.sched_getaffinity(0):
        sys.exit(f"error: the benchmark needs cores {SERVER_CORE} and {LOAD_CORE}")


def run(duration: int, repetitions: int, connections: int) -> None:
    """Start every target, load them, print the table; stops every server whatever happens."""
    with ExitStack() as stack:
        work_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="firefly-bench-")))
        progress("training the model")
        model_path = work_dir / "model.joblib"
        train_model(model_path)
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith("FIREFLY_") and key != MULTIPROCESS_DIRECTORY_VARIABLE
        }
        env[MODEL_ENV] = str(model_path)
        servers = []
        for target in TARGETS:
            server = start_server(target, env, work_dir)
            stack.callback(stop_server, server)
            servers.append(server)
        progress(f"starting {', '.join(target.name for target in TARGETS)}")
        deadline = time.monotonic() + START_TIMEOUT
        for server in servers:
            wait_until_serving(server, deadline)
        results, warmups = measure(servers, duration, repetitions, connections)
        loads = {key: warmups[key] + runs for key, runs in results.items()}
        checks = [
            line
            for server in servers
            if server.target.features is not None and server.target.features.observed
            for line in check_telemetry(server, loads, server.target.connections or connections)
        ]
    rows = summarize(results)
    print(describe_settings(duration, repetitions, connections), end="\n\n")
    print(format_table(rows), end="\n\n")
    print(format_goals(rows, results))
    print("\n".join(checks))


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line options."""
    parser = argparse.ArgumentParser(description=DESCRIPTION)
    parser.add_argument(
        "--duration",
        type=positive_int,
        help=f"seconds of load per target, function and repetition (default {DEFAULT_DURATION})",
    )
    parser.add_argument(
        "--repetitions",
        type=positive_int,
        help=f"rounds over all targets; the table shows medians (default {DEFAULT_REPETITIONS})",
    )
    parser.add_argument(
        "--connections",
        type=positive_int,
        default=DEFAULT_CONNECTIONS,
        help=f"wrk connections (default {DEFAULT_CONNECTIONS}; {CLI_TARGET} always uses"
        f" {CLI_CONNECTIONS})",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"a smoke run: --duration {QUICK_DURATION} --repetitions {QUICK_REPETITIONS}"
        " unless given",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the benchmark the command line describes."""
    args = parse_args(argv)
    duration = args.duration or (QUICK_DURATION if args.quick else DEFAULT_DURATION)
    repetitions = args.repetitions or (QUICK_REPETITIONS if args.quick else DEFAULT_REPETITIONS)
    run_benchmark(lambda: run(duration, repetitions, args.connections))


if __name__ == "__main__":
    main()
