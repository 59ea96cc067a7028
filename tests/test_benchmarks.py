"""Smoke test of the benchmark harness: ``benchmarks/run.py --quick`` loads every target."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

RUN = Path(__file__).resolve().parent.parent / "benchmarks" / "run.py"
TIMEOUT = 90
EXPECTED_ROWS = {
    (target, function)
    for target in ("raw-wsgi", "flask", "firefly-sync", "firefly-gthread")
    for function in ("square", "predict")
} | {("firefly-cli", "square")}


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
