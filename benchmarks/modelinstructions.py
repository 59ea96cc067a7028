#!/usr/bin/env python
"""A model endpoint against the hand-written function, in CPU instructions per call (callgrind).

``python benchmarks/models.py --instructions`` runs this count instead of loading servers
with wrk. Each target's app is built in process as the ``firefly`` command builds it
(``create_app(load_config(...))``, with the access log and the metrics off: both targets
would pay the same for them), then called through its whole WSGI stack with the request wrk
sends in each case. Every case and target runs in a child process of its own under
callgrind, which counts the instructions executed inside the measured loop only, the way
instructions.py does, with its helpers: the count does not depend on what else the machine
is doing, so a difference of a percent shows.

The children start without callgrind's instrumentation (``--instr-atstart=no``: importing
pandas and scikit-learn instrumented takes minutes), and switch it on with callgrind_control
once the app is built and warmed up. As in firefly's worker, what the app loaded is frozen
out of the garbage collector's passes (``gc.freeze``). The parent checks that both targets
answered each case with the same predictions.
"""

from __future__ import annotations

import argparse
import functools
import gc
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import version
from pathlib import Path
from typing import Any

from features import SINGLE, base_environ, child_environment
from instructions import WARMUP_CALLS, callgrind_count
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
from report import progress, simple_table
from run import BenchmarkError, verdict

DEFAULT_NUMBER, QUICK_NUMBER = 50, 3
#: The app's settings in both targets: nothing but the request and its answer.
QUIET = {"FIREFLY_ACCESS_LOG": "off", "FIREFLY_METRICS": "false"}

Counts = dict[tuple[str, str], float]  # instructions per call, by case name and target


def build_call(target: str, case: Case, models: Path) -> Callable[[], bytes]:
    """``target``'s app, prepared, and one request of ``case`` to it, answered in full."""
    from firefly.app import create_app
    from firefly.config import load_config

    if target == MODEL:
        served = {"FIREFLY_MODELS": str(models)}
    else:
        served = {"FIREFLY_FUNCTIONS": ",".join(f"handwritten.{model}" for model in TRAINING)}
    app = create_app(load_config(environ={**QUIET, **served}))
    app.prepare()
    gc.freeze()  # as firefly's worker does once the app is prepared
    function = request(target, case)
    body = function.body.encode()
    environ = base_environ(f"/{function.name}", body)

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        return None

    def call() -> bytes:
        """Answer the request as a server does: the body sent, then closed."""
        request = environ.copy()
        request["wsgi.input"] = io.BytesIO(body)
        response = app(request, start_response)
        try:
            return b"".join(response)
        finally:
            close = getattr(response, "close", None)
            if close is not None:
                close()

    return call


def switch_instrumentation_on() -> None:
    """Ask callgrind, through callgrind_control, to instrument this process from now on.

    The process keeps running Python meanwhile: valgrind's gdbserver reads vgdb's commands
    between blocks of code it runs, so that vgdb need not interrupt a blocked system call.
    """
    control = subprocess.Popen(
        ["callgrind_control", "--instr=on", str(os.getpid())],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    while control.poll() is None:
        pass
    _, errors = control.communicate()
    if control.returncode != 0:
        sys.exit(f"error: callgrind_control failed: {errors.decode(errors='replace')}")


def count_calls(target: str, case: Case, models: Path, number: int) -> None:
    """In the child: build the app, warm it up, print its answer, make the counted calls."""
    sys.path.insert(0, str(TARGETS_DIR))  # handwritten.py
    call = build_call(target, case, models)
    for _ in range(WARMUP_CALLS):
        answer = call()
    print(answer.decode(), flush=True)
    gc.collect()  # both targets' counted calls start with the collector's generations empty
    switch_instrumentation_on()
    functools.reduce(lambda previous, index: call(), range(number), b"")


def counted(target: str, case: Case, models: Path, number: int) -> tuple[float, Any]:
    """Run the child of ``case`` and ``target`` under callgrind: instructions per call, and
    the decoded answer."""
    with child_environment(SINGLE) as env:
        env[MODELS_ENV] = str(models)
        arguments = [__file__, target, str(CASES.index(case)), str(models), str(number)]
        what = f"{case.name} {target}"
        collected, out = callgrind_count(arguments, env, what, ["--instr-atstart=no"])
    progress(f"  {what}: done")
    return collected / number, json.loads(out)


def measure(models: Path, number: int) -> Counts:
    """Instructions per call in every case and target, the children run one per core; an
    error if the two targets answer a case differently."""
    jobs = [(case, target) for case in CASES for target in TARGETS]
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        results = list(pool.map(lambda job: counted(job[1], job[0], models, number), jobs))
    counts: Counts = {}
    answers = {}
    for (case, target), (count, answer) in zip(jobs, results, strict=True):
        counts[case.name, target] = count
        answers[case.name, target] = [answer] if target == MODEL and case.rows == 1 else answer
    for case in CASES:
        by_model, by_function = answers[case.name, MODEL], answers[case.name, FUNCTION]
        if by_model != by_function or len(by_model) != case.rows:
            raise BenchmarkError(
                f"{case.name}: the model answered {by_model!r}, the function {by_function!r}"
            )
    return counts


def ratio(counts: Counts, case: Case) -> float:
    """The function's instructions per call over the model endpoint's: above 1 when the
    endpoint does less."""
    return counts[case.name, FUNCTION] / counts[case.name, MODEL]


def format_table(counts: Counts) -> str:
    """A row per case: instructions per call of each target, and the ratio."""
    header = ("case", "model", "function", "function/model")
    rows = [
        (
            case.name,
            f"{counts[case.name, MODEL]:,.0f}",
            f"{counts[case.name, FUNCTION]:,.0f}",
            f"{ratio(counts, case):.3f}",
        )
        for case in CASES
    ]
    return simple_table(header, rows)


def format_goals(counts: Counts) -> str:
    """The ratio of each case against the goal."""
    return "\n".join(
        f"function / model instructions per call, {case.name}: {ratio(counts, case):.3f}"
        f" (goal >= {GOAL:.2f}: {verdict(ratio(counts, case) >= GOAL)})"
        for case in CASES
    )


def count_instructions(number: int) -> None:
    """Train, count every case and target, print the table."""
    missing = [tool for tool in ("valgrind", "callgrind_control") if shutil.which(tool) is None]
    if missing:
        needed = " and ".join(missing)
        sys.exit(f"error: counting instructions needs {needed} (apt-get install valgrind)")
    with tempfile.TemporaryDirectory(prefix="firefly-models-") as work_dir:
        models = Path(work_dir) / "models"
        progress(f"training {', '.join(TRAINING)} with firefly train")
        try:
            train(models)
            progress(f"counting {number} calls per case and target under callgrind")
            counts = measure(models, number)
        except BenchmarkError as err:
            sys.exit(f"error: {err}")
    packages = ("firefly-python", "scikit-learn", "pandas", "numpy")
    print(
        f"instructions per call: {number} counted calls per case and target, after"
        f" {WARMUP_CALLS} uncounted ones, through each app's WSGI stack in process (access log"
        " and metrics off); "
        + ", ".join([f"Python {sys.version.split()[0]}"] + [f"{p} {version(p)}" for p in packages]),
        end="\n\n",
    )
    print(format_table(counts), end="\n\n")
    print(format_goals(counts))


def main(argv: Sequence[str] | None = None) -> None:
    """The child: count the calls of one case and target (models.py --instructions runs it)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", choices=TARGETS)
    parser.add_argument("case", type=int, choices=range(len(CASES)))
    parser.add_argument("models", type=Path)
    parser.add_argument("number", type=int)
    args = parser.parse_args(argv)
    count_calls(args.target, CASES[args.case], args.models, args.number)


if __name__ == "__main__":
    main()
