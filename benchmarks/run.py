#!/usr/bin/env python
"""Benchmark firefly's request path against a raw WSGI app and a Flask app.

Every target runs under gunicorn pinned to core 0 and is loaded by wrk pinned
to core 1, round-robin over the targets for several repetitions; the table
shows the medians. docs/performance.rst explains the set-up and the results.

    python benchmarks/run.py           # the full run: about 7 minutes
    python benchmarks/run.py --quick   # a smoke run: about 30 seconds
"""

from __future__ import annotations

import argparse
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
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

import joblib
from gunicorn.config import KNOWN_SETTINGS
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


@dataclass(frozen=True)
class Target:
    """A server to load: its command line (``{port}`` is filled in) and what it serves."""

    name: str
    command: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)
    functions: tuple[str, ...] = tuple(FUNCTIONS)
    connections: int | None = None  # None: the --connections option


def gunicorn(app: str, *options: str) -> tuple[str, ...]:
    """gunicorn serving ``app`` with one worker, a sync one unless ``options`` say otherwise."""
    names = {setting.name for setting in KNOWN_SETTINGS}
    # gunicorn >= 25 opens one control socket per user, which servers side by side would share
    no_control = ("--no-control-socket",) if "control_socket_disable" in names else ()
    bind = ("--bind", "127.0.0.1:{port}", "--workers", "1")
    return (sys.executable, "-m", "gunicorn", *bind, *no_control, *options, app)


FIREFLY_ENV = {"FIREFLY_FUNCTIONS": "funcs.square,model.predict", "FIREFLY_TOKEN": TOKEN}
BASELINE = "raw-wsgi"
GOAL_TARGET = "firefly-sync"
GOALS = {"square": 0.85, "predict": 0.90}  # least rps of GOAL_TARGET relative to BASELINE
CLI_TARGET = "firefly-cli"
CLI_CONNECTIONS = 16
CLI_P99_GOAL = 3.0  # most p99 / p50 of CLI_TARGET
TARGETS = (
    Target(BASELINE, gunicorn("raw_wsgi:app")),
    Target("flask", gunicorn("flask_app:app")),
    Target(GOAL_TARGET, gunicorn("firefly.main:app"), FIREFLY_ENV),
    Target(
        "firefly-gthread",
        gunicorn("firefly.main:app", "--worker-class", "gthread", "--threads", "4"),
        FIREFLY_ENV,
    ),
    Target(
        CLI_TARGET,
        (sys.executable, "-m", "firefly", "--bind", "127.0.0.1:{port}", "funcs.square"),
        functions=("square",),
        connections=CLI_CONNECTIONS,
    ),
)


@dataclass
class Server:
    """A running target."""

    target: Target
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

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


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(target: Target, env: dict[str, str], log_dir: Path) -> Server:
    """Start ``target`` pinned to SERVER_CORE, in a process group of its own."""
    port = free_port()
    command = ["taskset", "-c", SERVER_CORE, *(arg.format(port=port) for arg in target.command)]
    log_path = log_dir / f"{target.name}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command,
            cwd=TARGETS_DIR,
            env={**env, **target.env},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches us only; we stop the group ourselves
        )
    return Server(target, port, process, log_path)


def stop_server(server: Server) -> None:
    """Stop the server's process group (gunicorn's arbiter and workers): gently, then by force."""
    try:
        os.killpg(server.process.pid, signal.SIGTERM)
        server.process.wait(timeout=STOP_TIMEOUT)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(server.process.pid, signal.SIGKILL)
        server.process.wait()


def wait_until_serving(server: Server, deadline: float) -> None:
    """Wait for the port to open, then check that every function answers correctly."""
    while True:
        if server.process.poll() is not None:
            raise BenchmarkError(
                f"{server.target.name} exited with code {server.process.returncode}:\n"
                + server.log_tail()
            )
        try:
            with socket.create_connection(("127.0.0.1", server.port), timeout=1):
                break
        except OSError:
            if time.monotonic() > deadline:
                raise BenchmarkError(
                    f"{server.target.name} did not listen on port {server.port}"
                    f" within {START_TIMEOUT:.0f}s:\n{server.log_tail()}"
                ) from None
            time.sleep(0.1)
    for name in server.target.functions:
        check_answer(server, FUNCTIONS[name], max(1.0, deadline - time.monotonic()))


def check_answer(server: Server, function: Function, timeout: float) -> None:
    """POST the request wrk will send once and compare the answer with the expected one."""
    request = urllib.request.Request(
        f"{server.url}/{function.name}",
        data=function.body.encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Token {TOKEN}"},
    )
    where = f"{server.target.name} POST /{function.name}"
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            answer = json.loads(response.read())
    except urllib.error.HTTPError as err:
        raise BenchmarkError(f"{where}: {err.code} {err.read().decode(errors='replace')}") from None
    except OSError as err:
        raise BenchmarkError(f"{where}: {err}\n{server.log_tail()}") from None
    if answer != function.expected:
        raise BenchmarkError(f"{where}: expected {function.expected!r}, got {answer!r}")


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
    )


def latency_percentile(output: str, percent: int) -> float:
    """A percentile of wrk's ``--latency`` distribution, in milliseconds."""
    line = re.search(rf"^\s+{percent}%\s+([\d.]+)([a-z]+)\s*$", output, re.MULTILINE)
    if line is None or line.group(2) not in LATENCY_UNITS_MS:
        raise BenchmarkError(f"no {percent}% latency in wrk's output:\n{output}")
    return float(line.group(1)) * LATENCY_UNITS_MS[line.group(2)]


def measure(
    servers: Sequence[Server], duration: int, repetitions: int, connections: int
) -> dict[tuple[str, str], list[Measurement]]:
    """Warm every target and function up, then load them round-robin ``repetitions`` times.

    A round takes one function after the other over all the targets, so that the runs
    compared with each other are close in time; every other round goes backwards, so that
    a drift in the machine's speed favours no target.
    """
    runs = [
        (server, function, server.target.connections or connections)
        for function in FUNCTIONS.values()
        for server in servers
        if function.name in server.target.functions
    ]
    warmup = min(WARMUP_SECONDS, duration)
    progress(f"warming up: {warmup}s per target and function")
    for server, function, clients in runs:
        load(server, function, clients, warmup)
    results: dict[tuple[str, str], list[Measurement]] = {}
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
    return results


def summarize(results: dict[tuple[str, str], list[Measurement]]) -> list[Row]:
    """The median of each measure over the repetitions.

    A ratio to the baseline is the median of the ratios within each round: other programs
    on the machine slow down runs a minute apart more differently than runs seconds apart.
    """
    rows = []
    for (target, function), runs in results.items():
        baseline = results[BASELINE, function]
        rows.append(
            Row(
                target,
                function,
                rps=statistics.median(run.rps for run in runs),
                p50_ms=statistics.median(run.p50_ms for run in runs),
                p99_ms=statistics.median(run.p99_ms for run in runs),
                cpu_us=statistics.median(run.cpu_us for run in runs),
                ratio=statistics.median(
                    run.rps / base.rps for run, base in zip(runs, baseline, strict=True)
                ),
                cpu_ratio=statistics.median(
                    run.cpu_us / base.cpu_us for run, base in zip(runs, baseline, strict=True)
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
    widths = [max(len(cell[i]) for cell in [header, *cells]) for i in range(len(header))]
    rule = "  ".join("=" * width for width in widths)

    def line(cell: Sequence[str]) -> str:
        names = [text.ljust(width) for text, width in zip(cell[:2], widths, strict=False)]
        numbers = [text.rjust(width) for text, width in zip(cell[2:], widths[2:], strict=True)]
        return "  ".join(names + numbers).rstrip()

    return "\n".join([rule, line(header), rule, *(line(cell) for cell in cells), rule])


def format_goals(rows: Sequence[Row]) -> str:
    """The measured ratios against the goals, and any socket errors."""
    by_key = {(row.target, row.function): row for row in rows}
    lines = []
    for function, goal in GOALS.items():
        row = by_key[GOAL_TARGET, function]
        lines.append(
            f"{GOAL_TARGET} / {BASELINE} rps on {function}: {row.ratio:.2f}"
            f" (goal >= {goal:.2f}: {verdict(row.ratio >= goal)});"
            f" CPU time per request: {row.cpu_ratio:.2f}x"
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


def verdict(met: bool) -> str:
    """How a goal's check reads in the report."""
    return "met" if met else "NOT MET"


def describe_settings(duration: int, repetitions: int, connections: int) -> str:
    """The settings and software of this run, printed above the table."""
    packages = ("gunicorn", "Flask", "firefly-python", "scikit-learn")
    wrk = subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout
    software = [f"Python {platform.python_version()}"]
    software += [f"{name} {version(name)}" for name in packages]
    software.append(wrk.split(" Copyright")[0].strip())
    return (
        f"{duration}s per run, {repetitions} repetitions (medians), {connections} connections"
        f" ({CLI_TARGET}: {CLI_CONNECTIONS}); servers on core {SERVER_CORE},"
        f" wrk (1 thread) on core {LOAD_CORE}\n"
        f"CPU: {cpu_model()}\n" + ", ".join(software)
    )


def cpu_model() -> str:
    """The CPU's model name, from /proc/cpuinfo where there is one."""
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or "unknown"
    found = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
    return found.group(1).strip() if found else platform.processor() or "unknown"


def progress(message: str) -> None:
    """Report progress on stderr, leaving stdout to the results."""
    print(message, file=sys.stderr, flush=True)


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
        env = {key: value for key, value in os.environ.items() if not key.startswith("FIREFLY_")}
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
        results = measure(servers, duration, repetitions, connections)
    rows = summarize(results)
    print(describe_settings(duration, repetitions, connections), end="\n\n")
    print(format_table(rows), end="\n\n")
    print(format_goals(rows))


def positive_int(text: str) -> int:
    """An argparse type: an integer of at least 1."""
    number = int(text)
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return number


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
    check_tools()
    # SIGTERM unwinds like Ctrl-C, so the servers are stopped either way
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    try:
        run(duration, repetitions, args.connections)
    except BenchmarkError as err:
        sys.exit(f"error: {err}")
    except KeyboardInterrupt:
        sys.exit("interrupted: every server was stopped")


if __name__ == "__main__":
    main()
