"""Smoke tests of the benchmarks: ``run.py --quick`` loads every target, ``features.py --quick``
times every feature, ``instructions.py --quick`` counts the instructions of all off and all on,
``slowclients.py --quick`` runs every probe on the firefly command, ``onnxspeed.py --quick``
times every variant of predict, ``models.py --quick`` loads a model endpoint and the
hand-written function in every case and ``models.py --instructions --quick`` counts their
instructions, ``memory.py --quick`` measures every target's memory, ``predictionlog.py --quick``
loads square with the prediction log off and on and counts the rows written, ``executions.py
--quick`` submits executions and waits for them on SQLite (and Redis) and reads every one back."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from importlib.util import find_spec
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
RUN = BENCHMARKS / "run.py"
FEATURES = BENCHMARKS / "features.py"
INSTRUCTIONS = BENCHMARKS / "instructions.py"
SLOW_CLIENTS = BENCHMARKS / "slowclients.py"
ONNX_SPEED = BENCHMARKS / "onnxspeed.py"
MODELS = BENCHMARKS / "models.py"
MEMORY = BENCHMARKS / "memory.py"
PREDICTION_LOG = BENCHMARKS / "predictionlog.py"
EXECUTIONS = BENCHMARKS / "executions.py"
TIMEOUT = 120  # nine targets, two of them on granian
FEATURES_TIMEOUT = 60
INSTRUCTIONS_TIMEOUT = 240  # four Python processes under valgrind, two at a time
SLOW_CLIENTS_TIMEOUT = 120
ONNX_SPEED_TIMEOUT = 60
MODELS_TIMEOUT = 120  # two firefly train runs, two servers, eight wrk runs of a second and two
MODEL_INSTRUCTIONS_TIMEOUT = 360  # two firefly train runs, eight Pythons under valgrind, 2 at once
MEMORY_TIMEOUT = 120  # a forest fitted and three servers of two workers, each loading it
PREDICTION_LOG_TIMEOUT = 120  # six servers, six wrk runs of a second and six warm-ups
EXECUTIONS_TIMEOUT = 90  # eight runs of a second; Redis's workers run the submits ~20 s after
SLOW_CLIENT_PROBES = {"slow-headers", "stalled-bodies", "both", "stalled-cut", "burst", "sigterm"}
EXPECTED_ROWS = {
    (target, function)
    for target in ("raw-wsgi", "flask", "firefly-sync", "firefly-gthread", "firefly-cli")
    + ("raw-granian", "firefly-granian")
    for function in ("square", "predict")
} | {(target, "square") for target in ("firefly-off", "firefly-on")}
EXPECTED_FEATURES = {
    "all off, request id middleware removed",
    "all off",
    "+ validation",
    "+ access log (text, file)",
    "+ access log (json, file)",
    "+ metrics (single-process)",
    "all on (single-process metrics)",
    "+ prediction log (SQLite)",
    "+ executions (sync calls)",
    "+ metrics (multiprocess)",
    "all on (multiprocess metrics)",
}
INSTRUCTION_VARIANTS = {
    "all off",
    "all on (single-process metrics)",
    "all on (multiprocess metrics)",
}


def missing_requirement() -> str | None:
    """Why the harness cannot run here, or None when it can."""
    missing = [tool for tool in ("wrk", "taskset") if shutil.which(tool) is None]
    if missing:
        return f"the benchmark needs {' and '.join(missing)} on PATH"
    if not {0, 1} <= os.sched_getaffinity(0):
        return "the benchmark needs cores 0 and 1"
    return None


MISSING = missing_requirement()


@pytest.mark.skipif(MISSING is not None, reason=MISSING or "")
@pytest.mark.timeout(TIMEOUT + 60)
def test_quick_run_reports_every_target_and_function() -> None:
    pytest.importorskip("sklearn", reason="the benchmark serves a scikit-learn model")
    process = subprocess.Popen(
        [sys.executable, str(RUN), "--quick"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out, err = process.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGTERM)  # the harness stops its servers first
        out, err = process.communicate(timeout=30)
        pytest.fail(f"benchmarks/run.py --quick took more than {TIMEOUT}s:\n{out}\n{err}")
    assert process.returncode == 0, f"{out}\n{err}"

    rps = {}
    for line in out.splitlines():
        cells = line.split()
        if len(cells) >= 3 and (cells[0], cells[1]) in EXPECTED_ROWS:
            rps[cells[0], cells[1]] = float(cells[2])
    assert set(rps) == EXPECTED_ROWS, out
    assert all(value > 0 for value in rps.values()), out
    assert "rps on square" in out and "p99/p50" in out, out
    assert "firefly-on / raw-wsgi rps on square" in out and "goal >= 0.80" in out, out
    assert "firefly-granian / raw-granian rps on square" in out, out
    # the harness checked that firefly-on logged and counted every request it answered
    for source in ("metrics", "access log"):
        verified = rf"^firefly-on: the {source} counted \d+ requests to square .*: verified$"
        assert re.search(verified, out, re.MULTILINE), out


def run_quick(script: Path, timeout: int, *options: str) -> str:
    """Run ``script --quick [options]``: its output, once it has exited 0."""
    result = subprocess.run(
        [sys.executable, str(script), "--quick", *options],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    return result.stdout


def first_numbers(table: str, names: set[str]) -> dict[str, float]:
    """The first number of each row of ``table`` named in ``names`` (rows: name, number, delta)."""
    numbers = {}
    for line in table.splitlines():
        cells = line.rsplit(maxsplit=2)
        if len(cells) == 3 and cells[0].strip() in names:
            numbers[cells[0].strip()] = float(cells[1].replace(",", ""))
    assert set(numbers) == names, table
    return numbers


def test_quick_feature_run_times_every_variant() -> None:
    pytest.importorskip("prometheus_client", reason="the metrics variants need prometheus-client")
    microseconds = first_numbers(run_quick(FEATURES, FEATURES_TIMEOUT), EXPECTED_FEATURES)
    assert all(value > 0 for value in microseconds.values()), microseconds


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="counting instructions needs valgrind")
@pytest.mark.timeout(INSTRUCTIONS_TIMEOUT + 30)
def test_quick_instruction_count_reports_all_off_and_all_on() -> None:
    counts = first_numbers(run_quick(INSTRUCTIONS, INSTRUCTIONS_TIMEOUT), INSTRUCTION_VARIANTS)
    # a call runs thousands of instructions, and the features add to them
    assert 1_000 < counts["all off"] < counts["all on (single-process metrics)"], counts
    assert counts["all off"] < counts["all on (multiprocess metrics)"], counts


@pytest.mark.timeout(SLOW_CLIENTS_TIMEOUT + 30)
def test_quick_slow_clients_run_reports_every_probe() -> None:
    out = run_quick(SLOW_CLIENTS, SLOW_CLIENTS_TIMEOUT)
    # a table row per probe (target, probe, status, median, max), and what the probe found
    rows = [line.split() for line in out.splitlines()]
    assert {cells[1] for cells in rows if cells[:1] == ["firefly"]} >= SLOW_CLIENT_PROBES, out
    for probe in SLOW_CLIENT_PROBES:
        assert f"\nfirefly {probe}: " in out, out


def test_quick_onnx_run_times_every_variant_and_batch() -> None:
    for module in ("sklearn", "onnxruntime", "skl2onnx"):
        pytest.importorskip(module, reason="the benchmark converts a scikit-learn pipeline")
    out = run_quick(ONNX_SPEED, ONNX_SPEED_TIMEOUT)
    variants = ("scikit-learn", "OnnxModel", "session.run")
    # a table row per variant and batch: variant, rows a call, us a call, ...
    microseconds = {
        (cells[0], cells[1]): float(cells[2])
        for cells in map(str.split, out.splitlines())
        if len(cells) == 6 and cells[0] in variants
    }
    assert set(microseconds) == {(v, batch) for v in variants for batch in ("1", "100")}, out
    assert all(value > 0 for value in microseconds.values()), out
    assert "OnnxModel / scikit-learn throughput, 1 rows a call:" in out, out
    assert "goal >= 3x" in out, out


@pytest.mark.skipif(MISSING is not None, reason=MISSING or "")
@pytest.mark.timeout(MODELS_TIMEOUT + 30)
def test_quick_models_run_compares_the_model_endpoint_and_the_function_in_every_case() -> None:
    pytest.importorskip("sklearn", reason="the benchmark trains scikit-learn pipelines")
    process = subprocess.Popen(
        [sys.executable, str(MODELS), "--quick"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out, err = process.communicate(timeout=MODELS_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGTERM)  # the harness stops its servers first
        out, err = process.communicate(timeout=30)
        pytest.fail(f"benchmarks/models.py --quick took more than {MODELS_TIMEOUT}s:\n{out}\n{err}")
    assert process.returncode == 0, f"{out}\n{err}"
    # a table row per case and target: model, xROWS, target, rps, p50, p99, CPU[, ratio]
    rps = {
        (f"{cells[0]} {cells[1]}", cells[2]): float(cells[3])
        for cells in map(str.split, out.splitlines())
        if len(cells) in (7, 8) and cells[2] in ("model", "function")
    }
    cases = {f"{model} x{rows}" for model in ("churn", "titanic") for rows in (1, 100)}
    assert set(rps) == {(case, target) for case in cases for target in ("model", "function")}, out
    assert all(value > 0 for value in rps.values()), out
    for case in sorted(cases):
        assert f"model / function rps, {case}: " in out, out
    assert "goal >= 1.00" in out, out


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="counting instructions needs valgrind")
@pytest.mark.timeout(MODEL_INSTRUCTIONS_TIMEOUT + 30)
def test_quick_model_instruction_count_reports_both_targets_in_every_case() -> None:
    pytest.importorskip("sklearn", reason="the benchmark trains scikit-learn pipelines")
    out = run_quick(MODELS, MODEL_INSTRUCTIONS_TIMEOUT, "--instructions")
    # a table row per case: model, xROWS, model's and function's instructions per call, ratio
    rows = {
        f"{cells[0]} {cells[1]}": [float(cell.replace(",", "")) for cell in cells[2:]]
        for cells in map(str.split, out.splitlines())
        if len(cells) == 5 and cells[1] in ("x1", "x100")
    }
    cases = {f"{model} x{rows}" for model in ("churn", "titanic") for rows in (1, 100)}
    assert set(rows) == cases, out
    for case, (model, function, ratio) in rows.items():
        # a call runs millions of instructions, most of them in predict, alike in both
        assert model > 1_000_000 and function > 1_000_000, (case, out)
        assert ratio == pytest.approx(function / model, abs=0.001), (case, out)
        assert 0.5 < ratio < 2, (case, out)
        assert f"function / model instructions per call, {case}: " in out, out
    assert "goal >= 1.00" in out, out


@pytest.mark.skipif(
    not Path("/proc/self/smaps_rollup").exists(), reason="the benchmark reads smaps_rollup (Linux)"
)
@pytest.mark.timeout(MEMORY_TIMEOUT + 30)
def test_quick_memory_run_measures_every_target() -> None:
    pytest.importorskip("sklearn", reason="the benchmark fits a scikit-learn forest")
    out = run_quick(MEMORY, MEMORY_TIMEOUT)
    # a table row per target: target, workers, master RSS, worker RSS/PSS/USS, total RSS/PSS/USS
    rows = {
        cells[0]: [float(cell.replace(",", "")) for cell in cells[2:]]
        for cells in map(str.split, out.splitlines())
        if len(cells) == 9 and cells[1] == "2"
    }
    targets = {"firefly", "gunicorn"} | ({"firefly-granian"} if find_spec("granian") else set())
    assert set(rows) == targets, out
    for target, (master, rss, pss, uss, total_rss, total_pss, total_uss) in rows.items():
        assert 0 < uss <= pss <= rss and total_uss <= total_pss <= total_rss, (target, out)
        assert master > 0, (target, out)
    # preloaded, the workers share the libraries and the model: less of a worker is its own
    assert rows["firefly"][3] < rows["gunicorn"][3], out


@pytest.mark.skipif(MISSING is not None, reason=MISSING or "")
@pytest.mark.timeout(PREDICTION_LOG_TIMEOUT + 30)
def test_quick_prediction_log_run_writes_a_row_per_call_on_each_server() -> None:
    for module in ("sklearn", "granian"):
        pytest.importorskip(module, reason="the benchmark serves a model on both servers")
    # PostgreSQL too when FIREFLY_TEST_POSTGRES_URL names one (the harness reads it)
    postgres = bool(os.environ.get("FIREFLY_TEST_POSTGRES_URL"))
    out = run_quick(PREDICTION_LOG, PREDICTION_LOG_TIMEOUT)
    logs = ("off", "sqlite") + (("postgresql",) if postgres else ())
    # a table row per server, target and log: server, target, log, rps, p50, p99, CPU, and
    # for a logged one its ratio to off, rows, requests answered and whether they are equal
    rows = {
        (cells[0], cells[2]): cells[3:]
        for cells in map(str.split, out.splitlines())
        if len(cells) in (7, 11) and cells[1] == "square" and cells[2] in logs
    }
    assert set(rows) == {(server, log) for server in ("gunicorn", "granian") for log in logs}, out
    for (server, log), cells in rows.items():
        assert float(cells[0]) > 0, out
        if log == "off":
            assert len(cells) == 4, out
            continue
        ratio, written, requests, equal = cells[4:]
        assert float(ratio) > 0 and equal == "yes", out
        assert int(written) == int(requests) > 0, out
        assert f"{server} {log} / off rps on square: " in out, out
        verified = rf"^{server} {log}: {written} rows of square, {requests} requests answered .*:"
        assert re.search(verified + " verified$", out, re.MULTILINE), out
    assert "goal >= 0.90" in out, out
    assert ("note: the PostgreSQL rows are left out" in out) != postgres, out


@pytest.mark.skipif(MISSING is not None, reason=MISSING or "")
@pytest.mark.timeout(EXECUTIONS_TIMEOUT + 30)
def test_quick_executions_run_reads_back_every_execution_submitted() -> None:
    # SQLite, and Redis when FIREFLY_TEST_REDIS_URL names one (the harness reads it); the
    # PostgreSQL runs are left out, to keep the smoke run short
    redis = bool(os.environ.get("FIREFLY_TEST_REDIS_URL"))
    env = {k: v for k, v in os.environ.items() if k != "FIREFLY_TEST_POSTGRES_URL"}
    result = subprocess.run(
        [sys.executable, str(EXECUTIONS), "--quick"],
        capture_output=True,
        text=True,
        timeout=EXECUTIONS_TIMEOUT,
        env=env,
    )
    out = result.stdout
    assert result.returncode == 0, f"{out}\n{result.stderr}"
    backends = ("sqlite",) + (("redis",) if redis else ())
    # a table row per backend, measure and clients: backend, measure, clients, per s, p50, p99,
    # run/s ("-" for wait), executions, verified
    rows = {
        (cells[0], cells[1], cells[2]): cells[3:]
        for cells in map(str.split, out.splitlines())
        if len(cells) == 9 and cells[1] in ("submit", "wait")
    }
    expected = {(b, m, c) for b in backends for m in ("submit", "wait") for c in ("1", "16")}
    assert set(rows) == expected, out
    for (_, measure, _), (rate, p50, p99, ran, executions, verified) in rows.items():
        assert float(rate) > 0 and 0 < float(p50) <= float(p99), out
        assert (ran == "-") == (measure == "wait"), out
        assert int(executions) > 0 and verified == "yes", out
    assert re.search(
        r"^embedded submit at 16 connections \(sqlite\): \d+/s \(goal >= 1000/s: ", out, re.M
    ), out
    for backend in backends:
        verified = (
            rf"^{backend}: (\d+) executions submitted over 4 runs, \1 succeeded, .*: verified$"
        )
        assert re.search(verified, out, re.MULTILINE), out
    assert ("note: the redis rows are left out" in out) != redis, out
    assert "note: the postgresql rows are left out" in out, out
