#!/usr/bin/env python
"""The cost of each of firefly's optional features, in process: microseconds per call.

One app per combination of features serves ``square`` (benchmarks/targets/funcs.py);
each is called through its whole WSGI stack, ``app(environ, start_response)``, with a
prepared environ for ``POST /square {"n": 4}``, without a server. The apps are timed in
turn (interleaved), several times; a variant's time is the least of its repeats, the
one least disturbed by other programs. docs/performance.rst explains the results.

prometheus-client chooses between in-process and multiprocess metrics when it is first
imported, so the variants run in two child processes: one without and one with
``PROMETHEUS_MULTIPROC_DIR``. Each has its own ``all off`` app, against which its deltas
are taken.

    python benchmarks/features.py           # about 30 seconds
    python benchmarks/features.py --quick   # a smoke run: a few seconds
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from report import positive_int, progress, simple_table

HERE = Path(__file__).resolve().parent
TARGETS_DIR = HERE / "targets"
MULTIPROCESS_DIRECTORY_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"  # prometheus-client reads it
BODY = json.dumps({"n": 4}).encode()
ANSWER = b"16"
# Rotation through firefly's rotating file sink (its default), at a size this run never reaches.
NO_ROTATION_BYTES = 1 << 40
DEFAULT_NUMBER, DEFAULT_REPEATS, DEFAULT_ROUNDS = 5000, 7, 3
QUICK_NUMBER, QUICK_REPEATS, QUICK_ROUNDS = 200, 2, 1
SINGLE, MULTI = "single", "multi"  # the metrics mode of a child process
ALL_OFF = "all off"
WITHOUT_REQUEST_ID = "all off, request id middleware removed"


@dataclass(frozen=True)
class Variant:
    """An app to time: its settings, in which child process, and how it reads in the report."""

    name: str
    settings: dict[str, Any]
    mode: str  # SINGLE or MULTI
    without_request_id: bool = False  # call the stack under the request id middleware


OFF: dict[str, Any] = {
    "validate": False,
    "access_log": None,
    "metrics": False,
    "executions": "off",
}
TEXT_LOG = {"access_log": "{log}", "access_log_format": "text"}
JSON_LOG = {"access_log": "{log}", "access_log_format": "json"}
ON = {**OFF, "validate": True, **TEXT_LOG, "metrics": True}
# A SQLite file of the app's own; the calls' rows are written at each flush, like its log lines.
PREDICTION_LOG = {"prediction_log": "sqlite:///{log}.db"}
# Executions ready (the 202 path around every function) while the calls stay sync.
EXECUTIONS = {"executions": "sqlite:///{log}-executions.db"}
VARIANTS = (
    Variant(WITHOUT_REQUEST_ID, OFF, SINGLE, without_request_id=True),
    Variant(ALL_OFF, OFF, SINGLE),
    Variant("+ validation", {**OFF, "validate": True}, SINGLE),
    Variant("+ access log (text, file)", {**OFF, **TEXT_LOG}, SINGLE),
    Variant("+ access log (json, file)", {**OFF, **JSON_LOG}, SINGLE),
    Variant("+ metrics (single-process)", {**OFF, "metrics": True}, SINGLE),
    Variant("all on (single-process metrics)", ON, SINGLE),
    Variant("+ prediction log (SQLite)", {**OFF, **PREDICTION_LOG}, SINGLE),
    Variant("+ executions (sync calls)", {**OFF, **EXECUTIONS}, SINGLE),
    Variant(ALL_OFF, OFF, MULTI),
    Variant("+ metrics (multiprocess)", {**OFF, "metrics": True}, MULTI),
    Variant("all on (multiprocess metrics)", ON, MULTI),
)


def build_app(variant: Variant, log_dir: Path) -> tuple[Callable[..., Iterable[bytes]], Any]:
    """The prepared Firefly app that ``variant`` times (or the stack under its request ids),
    and the app itself.

    The access log, the metrics and the prediction log hand their work to a thread of their
    own in batches; here that thread never runs (its interval is an hour):
    :func:`flush_telemetry` does the work inside the timed loop, so that it is timed (or
    counted) with the calls.
    """
    from firefly.telemetry.batch import Batcher

    Batcher.interval = 3600
    if "prediction_log" in variant.settings:
        from firefly.predictionlog.writer import Writer

        Writer.interval = 3600
    from funcs import square  # the benchmark's function, from targets/ (the child's sys.path)

    from firefly import Firefly
    from firefly.middleware.requestid import RequestIdMiddleware

    log = str(log_dir / f"{VARIANTS.index(variant)}.log")  # one file per app
    settings: dict[str, Any] = {
        name: value.format(log=log) if isinstance(value, str) else value
        for name, value in variant.settings.items()
    }
    app = Firefly(access_log_max_bytes=NO_ROTATION_BYTES, **settings)
    app.function(square)
    stack = app.prepare()
    if app.metrics is not None and app.metrics.multiprocess != (variant.mode == MULTI):
        sys.exit(f"error: {variant.name}: metrics are not in {variant.mode}-process mode")
    if variant.without_request_id:
        if not isinstance(stack, RequestIdMiddleware):
            sys.exit("error: the request id middleware is no longer the outermost one")
        return stack.app, app
    return app, app


def flush_telemetry(app: Any) -> None:
    """Write the access log lines and the prediction log rows, and add the requests to the
    metrics that ``app`` queued."""
    from firefly.predictionlog import PredictionLogFeature
    from firefly.telemetry.accesslog import AccessLogFeature

    for feature in app.features:
        if isinstance(feature, AccessLogFeature) and feature.log is not None:
            feature.log.flush()
        if isinstance(feature, PredictionLogFeature):
            feature.writer.stop()  # joins its thread, then writes what waits on this one
            feature.writer.start()
    if app.metrics is not None:
        app.metrics.flush()


def timed_loop(call: Callable[[], bytes], app: Any, number: int) -> float:
    """Seconds taken by ``number`` calls and the telemetry work they queued."""
    started = time.perf_counter()
    for _ in range(number):
        call()
    flush_telemetry(app)
    return time.perf_counter() - started


def base_environ(path: str = "/square", body: bytes = BODY) -> dict[str, Any]:
    """The environ of ``POST /square {"n": 4}`` (or of ``body`` to ``path``) as a server would
    pass it."""
    from werkzeug.test import EnvironBuilder

    builder = EnvironBuilder(
        path=path,
        method="POST",
        data=body,
        content_type="application/json",
        environ_base={"REMOTE_ADDR": "127.0.0.1"},
    )
    try:
        return builder.get_environ()
    finally:
        builder.close()


def timed_call(app: Callable[..., Iterable[bytes]]) -> Callable[[], bytes]:
    """One request to ``app``: a fresh environ with its own body stream, answered in full."""
    environ = base_environ()

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        return None

    def call() -> bytes:
        """Answer the request as a server does: the body sent, then closed."""
        request = environ.copy()
        request["wsgi.input"] = io.BytesIO(BODY)
        response = app(request, start_response)
        try:
            return b"".join(response)
        finally:
            close = getattr(response, "close", None)
            if close is not None:
                close()

    body = call()
    if body != ANSWER:
        sys.exit(f"error: square answered {body!r}, expected {ANSWER!r}")
    return call


def time_variants(mode: str, number: int, repeats: int) -> dict[str, float]:
    """The least microseconds per call of each variant of ``mode``, timed in turn."""
    with tempfile.TemporaryDirectory(prefix="firefly-features-") as log_dir:
        variants = [variant for variant in VARIANTS if variant.mode == mode]
        calls = {}
        for variant in variants:
            wsgi, app = build_app(variant, Path(log_dir))
            calls[variant.name] = (timed_call(wsgi), app)
            flush_telemetry(app)  # the line of the call that checked the answer
        best = dict.fromkeys(calls, float("inf"))
        for _ in range(repeats):
            for name, (call, app) in calls.items():
                seconds = timed_loop(call, app, number)
                best[name] = min(best[name], seconds / number * 1e6)
        for _, app in calls.values():
            app.shutdown()  # closes the logs while their directory is there
        written, rows = logged_lines(Path(log_dir)), logged_rows(Path(log_dir))
    made = number * repeats + 1  # +1: the call that checks the answer
    logged = sum(1 for variant in variants if variant.settings.get("access_log"))
    if written != logged * made:
        sys.exit(f"error: the access logs have {written} lines, expected {logged} per call")
    logged = sum(1 for variant in variants if variant.settings.get("prediction_log"))
    if rows != logged * made:
        sys.exit(f"error: the prediction logs have {rows} rows, expected {logged} per call")
    return best


def logged_lines(log_dir: Path) -> int:
    """How many lines the access logs in ``log_dir`` hold, all variants together."""
    return sum(1 for path in log_dir.glob("*.log") for _ in path.open("rb"))


def logged_rows(log_dir: Path) -> int:
    """How many rows the prediction logs in ``log_dir`` hold, all variants together."""
    total = 0
    for path in log_dir.glob("*.db"):
        with contextlib.closing(sqlite3.connect(path)) as connection:
            total += connection.execute("SELECT count(*) FROM firefly_predictions").fetchone()[0]
    return total


@contextlib.contextmanager
def child_environment(mode: str) -> Iterator[dict[str, str]]:
    """The environment of a child process timing or counting variants of metrics ``mode``.

    No FIREFLY_* variable leaks in; in MULTI mode, ``PROMETHEUS_MULTIPROC_DIR`` names a
    fresh directory, removed when the child is done.
    """
    env = {key: value for key, value in os.environ.items() if not key.startswith("FIREFLY_")}
    env.pop(MULTIPROCESS_DIRECTORY_VARIABLE, None)
    with tempfile.TemporaryDirectory(prefix="firefly-features-metrics-") as directory:
        if mode == MULTI:
            env[MULTIPROCESS_DIRECTORY_VARIABLE] = directory
        yield env


def run_child(mode: str, number: int, repeats: int) -> dict[str, float]:
    """Time the variants of ``mode`` in a fresh interpreter; its metrics mode set by its env."""
    with child_environment(mode) as env:
        command = [sys.executable, __file__, "--child", mode]
        command += ["--number", str(number), "--repeats", str(repeats)]
        result = subprocess.run(
            command, env=env, cwd=TARGETS_DIR, capture_output=True, text=True, check=False
        )
    if result.returncode != 0:
        sys.exit(f"error: the {mode}-process run failed:\n{result.stderr}")
    timings: dict[str, float] = json.loads(result.stdout)
    return timings


def measure(number: int, repeats: int, rounds: int) -> dict[str, dict[str, float]]:
    """The least microseconds per call of every variant, by mode, over ``rounds`` of children."""
    best: dict[str, dict[str, float]] = {SINGLE: {}, MULTI: {}}
    for round_number in range(1, rounds + 1):
        for mode in (SINGLE, MULTI) if round_number % 2 else (MULTI, SINGLE):
            progress(f"round {round_number}/{rounds}: {mode}-process metrics")
            for name, microseconds in run_child(mode, number, repeats).items():
                best[mode][name] = min(best[mode].get(name, float("inf")), microseconds)
    return best


def format_table(best: dict[str, dict[str, float]]) -> str:
    """The variants as a reStructuredText simple table: us per call and the delta to all off."""
    header = ("variant", "us/call", "delta us")
    cells = [
        (name, f"{microseconds:.2f}", f"{microseconds - timings[ALL_OFF]:+.2f}")
        for mode in (SINGLE, MULTI)
        for timings in [best[mode]]
        for name, microseconds in timings.items()
        if not (mode == MULTI and name == ALL_OFF)
    ]
    return simple_table(header, cells)


def describe(best: dict[str, dict[str, float]], number: int, repeats: int, rounds: int) -> str:
    """The settings of this run and the baselines of the two child processes."""
    return (
        f"{number} calls per timing, the least of {repeats} timings x {rounds} rounds;"
        f" Python {sys.version.split()[0]}\n"
        f"delta: against {ALL_OFF!r} of the same process ({best[SINGLE][ALL_OFF]:.2f} us"
        f" single-process, {best[MULTI][ALL_OFF]:.2f} us in the multiprocess-metrics one)"
    )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--number", type=positive_int, help=f"calls per timing (default {DEFAULT_NUMBER})"
    )
    parser.add_argument(
        "--repeats",
        type=positive_int,
        help=f"timings per variant in each child process (default {DEFAULT_REPEATS})",
    )
    parser.add_argument(
        "--rounds",
        type=positive_int,
        help=f"child processes per metrics mode (default {DEFAULT_ROUNDS})",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"a smoke run: --number {QUICK_NUMBER} --repeats {QUICK_REPEATS}"
        f" --rounds {QUICK_ROUNDS} unless given",
    )
    parser.add_argument("--child", choices=(SINGLE, MULTI), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the benchmark the command line describes."""
    args = parse_args(argv)
    number = args.number or (QUICK_NUMBER if args.quick else DEFAULT_NUMBER)
    repeats = args.repeats or (QUICK_REPEATS if args.quick else DEFAULT_REPEATS)
    if args.child:
        sys.path.insert(0, str(TARGETS_DIR))
        print(json.dumps(time_variants(args.child, number, repeats)))
        return
    rounds = args.rounds or (QUICK_ROUNDS if args.quick else DEFAULT_ROUNDS)
    best = measure(number, repeats, rounds)
    print(describe(best, number, repeats, rounds), end="\n\n")
    print(format_table(best))


if __name__ == "__main__":
    main()
