#!/usr/bin/env python
"""A model endpoint against a hand-written function doing the same work, under load.

The two models of examples/models (``churn``: a scaler and a logistic regression on 5
numbers; ``titanic``: imputers, a scaler and a one-hot encoder in a ColumnTransformer,
then a logistic regression, with missing values) are trained with ``firefly train``
into a temporary repository, and served twice, by the same ``firefly`` command with
the same settings (one worker, its default threads, the command's default features):

- ``model``: ``firefly --models DIR``, ``POST /<name>/predict`` with one record (a
  JSON object, answered with a bare result) or 100 (an array);
- ``function``: ``firefly handwritten.churn handwritten.titanic``
  (benchmarks/targets/handwritten.py), ``POST /<name>`` with ``{"records": [...]}``:
  the same model file, ``pandas.DataFrame(records, columns=features)``, ``predict``,
  ``.tolist()``.

Each server is pinned to core 0 and loaded by wrk on core 1, as in run.py; the runs
alternate between the targets, case after case, for several repetitions (every other
repetition backwards), and the table shows medians. The goal: the model
endpoint at least as fast as the function, a ratio of at least 1.00 in every case.

wrk cannot tell a few percent apart on a busy machine: ``--instructions`` counts instead the
instructions per call of each target's app, called in process under callgrind
(benchmarks/modelinstructions.py); the goal is then the function's count over the model's.

    python benchmarks/models.py                          # about 4 minutes
    python benchmarks/models.py --quick                  # a smoke run: about a minute
    python benchmarks/models.py --instructions           # about 4 minutes on 2 cores
    python benchmarks/models.py --instructions --quick   # a smoke run: about 2 minutes
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
import urllib.error
import urllib.request
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

from modelcases import (
    CASES,
    FUNCTION,
    GOAL,
    MODEL,
    MODELS_ENV,
    TARGETS,
    TARGETS_DIR,
    TRAINING,
    Case,
    request,
    train,
)
from modelinstructions import DEFAULT_NUMBER, QUICK_NUMBER, count_instructions
from report import free_port, positive_int, progress, simple_table, stop_group
from run import (
    DEFAULT_CONNECTIONS,
    LOAD_CORE,
    SERVER_CORE,
    START_TIMEOUT,
    STOP_TIMEOUT,
    BenchmarkError,
    Function,
    Measurement,
    cpu_model,
    cpu_seconds,
    parse_wrk_output,
    run_benchmark,
    run_wrk,
    verdict,
    wait_until_listening,
)

DEFAULT_DURATION, DEFAULT_REPETITIONS = 5, 5
QUICK_DURATION, QUICK_REPETITIONS = 1, 1
WARMUP_SECONDS = 2


@dataclass
class Server:
    """A running target."""

    target: str
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


def start_server(target: str, models: Path, log_dir: Path) -> Server:
    """Start ``target`` pinned to SERVER_CORE, in a process group of its own."""
    port = free_port()
    command = ["taskset", "-c", SERVER_CORE, sys.executable, "-m", "firefly"]
    command += ["--bind", f"127.0.0.1:{port}"]
    command += (
        ["--models", str(models)] if target == MODEL else [f"handwritten.{m}" for m in TRAINING]
    )
    env = {key: value for key, value in os.environ.items() if not key.startswith("FIREFLY_")}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    env[MODELS_ENV] = str(models)
    log_path = log_dir / f"{target}.log"
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
    return Server(target, port, process, log_path)


def answer(server: Server, function: Function) -> Any:
    """The decoded answer of ``server`` to the request wrk will send; an error if not 200."""
    request = urllib.request.Request(
        f"{server.url}/{function.name}",
        data=function.body.encode(),
        headers={"Content-Type": "application/json"},
    )
    where = f"{server.target} POST /{function.name}"
    try:
        with urllib.request.urlopen(request, timeout=STOP_TIMEOUT) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as err:
        raise BenchmarkError(f"{where}: {err.code} {err.read().decode(errors='replace')}") from None
    except OSError as err:
        raise BenchmarkError(f"{where}: {err}\n{server.log_tail()}") from None


def check_answers(servers: dict[str, Server]) -> None:
    """Both targets answer each case's request with the same predictions."""
    for case in CASES:
        by_model = answer(servers[MODEL], request(MODEL, case))
        by_function = answer(servers[FUNCTION], request(FUNCTION, case))
        if case.rows == 1:
            by_model = [by_model]
        if by_model != by_function or len(by_model) != case.rows:
            raise BenchmarkError(
                f"{case.name}: the model answered {by_model!r}, the function {by_function!r}"
            )


def load(server: Server, case: Case, connections: int, seconds: int) -> Measurement:
    """Load ``server`` with ``case``'s request and measure its CPU time meanwhile."""
    function = request(server.target, case)
    cpu_before = cpu_seconds(server.process.pid)
    output = run_wrk(f"{server.url}/{function.name}", function, connections, seconds)
    return parse_wrk_output(output, cpu_seconds(server.process.pid) - cpu_before)


Results = dict[tuple[str, str], list[Measurement]]  # by case name and target


def measure(
    servers: dict[str, Server], duration: int, repetitions: int, connections: int
) -> Results:
    """Warm every case up on both targets, then load them in turn ``repetitions`` times.

    Within a repetition the two targets of a case run one after the other, so that the
    runs compared are seconds apart; every other repetition goes backwards.
    """
    runs = [(case, servers[target]) for case in CASES for target in TARGETS]
    warmup = min(WARMUP_SECONDS, duration)
    progress(f"warming up: {warmup}s per case and target")
    for case, server in runs:
        load(server, case, connections, warmup)
    results: Results = {}
    for repetition in range(1, repetitions + 1):
        progress(f"repetition {repetition}/{repetitions}")
        for case, server in runs if repetition % 2 else reversed(runs):
            result = load(server, case, connections, duration)
            results.setdefault((case.name, server.target), []).append(result)
            progress(
                f"  {case.name:<12} {server.target:<8} {result.rps:>8.0f} req/s"
                f"  p50 {result.p50_ms:6.2f} ms  p99 {result.p99_ms:6.2f} ms"
                f"  CPU {result.cpu_us:5.0f} us/request"
            )
    return results


def ratio(results: Results, case: Case) -> float:
    """The median over the repetitions of the model's rps over the function's."""
    pairs = zip(results[case.name, MODEL], results[case.name, FUNCTION], strict=True)
    return statistics.median(model.rps / function.rps for model, function in pairs)


def cpu_ratio(results: Results, case: Case) -> float:
    """The median over the repetitions of the function's CPU time per request over the model's:
    above 1 when the model endpoint costs less. On a busy machine it moves less than rps."""
    pairs = zip(results[case.name, MODEL], results[case.name, FUNCTION], strict=True)
    return statistics.median(function.cpu_us / model.cpu_us for model, function in pairs)


def format_table(results: Results) -> str:
    """A row per case and target: the medians, and the model's rps over the function's."""
    header = ("case", "target", "rps", "p50 ms", "p99 ms", "CPU us", "model/function")
    cells = []
    for case in CASES:
        for target in TARGETS:
            runs = results[case.name, target]
            cells.append(
                (
                    case.name,
                    target,
                    f"{statistics.median(run.rps for run in runs):.0f}",
                    f"{statistics.median(run.p50_ms for run in runs):.2f}",
                    f"{statistics.median(run.p99_ms for run in runs):.2f}",
                    f"{statistics.median(run.cpu_us for run in runs):.0f}",
                    f"{ratio(results, case):.2f}" if target == MODEL else "",
                )
            )
    return simple_table(header, cells, names=2)


def format_goals(results: Results) -> str:
    """The ratio of each case against the goal, and any socket errors."""
    lines = []
    for case in CASES:
        measured = ratio(results, case)
        lines.append(
            f"model / function rps, {case.name}: {measured:.2f}"
            f" (goal >= {GOAL:.2f}: {verdict(measured >= GOAL)});"
            f" function / model CPU time per request: {cpu_ratio(results, case):.2f}"
        )
    lines += [
        f"warning: wrk reported {errors} socket errors on {case} {target}"
        for (case, target), runs in results.items()
        if (errors := sum(run.socket_errors for run in runs))
    ]
    return "\n".join(lines)


def describe_settings(duration: int, repetitions: int, connections: int) -> str:
    """The settings and software of this run, printed above the table."""
    packages = ("firefly-python", "gunicorn", "scikit-learn", "pandas", "numpy")
    wrk = subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout
    software = [f"Python {sys.version.split()[0]}"]
    software += [f"{name} {version(name)}" for name in packages]
    software.append(wrk.split(" Copyright")[0].strip())
    return (
        f"{duration}s per run, {repetitions} repetitions (medians), {connections} connections;"
        f" servers (the firefly command, one worker, its default threads and features) on"
        f" core {SERVER_CORE}, wrk (1 thread) on core {LOAD_CORE}\n"
        f"CPU: {cpu_model()}\n" + ", ".join(software)
    )


def run(duration: int, repetitions: int, connections: int) -> None:
    """Train, start both targets, load them, print the table; stops the servers whatever
    happens."""
    with ExitStack() as stack:
        work_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="firefly-models-")))
        models = work_dir / "models"
        progress(f"training {', '.join(TRAINING)} with firefly train")
        train(models)
        servers = {}
        for target in TARGETS:
            server = start_server(target, models, work_dir)
            stack.callback(stop_group, server.process, STOP_TIMEOUT)
            servers[target] = server
        progress(f"starting {', '.join(TARGETS)}")
        deadline = time.monotonic() + START_TIMEOUT
        for server in servers.values():
            wait_until_listening(server, server.target, deadline)
        check_answers(servers)
        results = measure(servers, duration, repetitions, connections)
    print(describe_settings(duration, repetitions, connections), end="\n\n")
    print(format_table(results), end="\n\n")
    print(format_goals(results))


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--duration",
        type=positive_int,
        help=f"seconds of load per case, target and repetition (default {DEFAULT_DURATION})",
    )
    parser.add_argument(
        "--repetitions",
        type=positive_int,
        help=f"rounds over all cases; the table shows medians (default {DEFAULT_REPETITIONS})",
    )
    parser.add_argument(
        "--connections",
        type=positive_int,
        default=DEFAULT_CONNECTIONS,
        help=f"wrk connections (default {DEFAULT_CONNECTIONS})",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"a smoke run: --duration {QUICK_DURATION} --repetitions {QUICK_REPETITIONS}"
        f" (--number {QUICK_NUMBER} with --instructions) unless given",
    )
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="count instructions per call under callgrind instead of loading servers with wrk",
    )
    parser.add_argument(
        "--number",
        type=positive_int,
        help=f"with --instructions: counted calls per case and target (default {DEFAULT_NUMBER})",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the benchmark the command line describes."""
    args = parse_args(argv)
    if args.instructions:
        count_instructions(args.number or (QUICK_NUMBER if args.quick else DEFAULT_NUMBER))
        return
    duration = args.duration or (QUICK_DURATION if args.quick else DEFAULT_DURATION)
    repetitions = args.repetitions or (QUICK_REPETITIONS if args.quick else DEFAULT_REPETITIONS)
    run_benchmark(lambda: run(duration, repetitions, args.connections))


if __name__ == "__main__":
    main()
