#!/usr/bin/env python
"""The cost of each of firefly's optional features in CPU instructions per call, by callgrind.

The same apps as ``features.py``, each called through its whole WSGI stack, but counted
instead of timed: every variant runs in a child process under valgrind's callgrind, which
counts the instructions executed inside the measured loop only. The count does not depend
on what else the machine is doing, so a change on the request path can be compared before
and after on a busy machine, where timings move by tens of percent. docs/performance.rst
shows the results.

The children run with ``PYTHONHASHSEED=0``, so that a run repeats the same count; they run
side by side, one per core.

    python benchmarks/instructions.py           # about 3 minutes on 2 cores
    python benchmarks/instructions.py --quick   # a smoke run: all off and all on, 1 minute
"""

from __future__ import annotations

import argparse
import functools
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from features import (
    ALL_OFF,
    MULTI,
    ON,
    SINGLE,
    TARGETS_DIR,
    VARIANTS,
    Variant,
    build_app,
    child_environment,
    flush_telemetry,
    logged_lines,
    logged_rows,
    timed_call,
)
from report import positive_int, progress, simple_table

DEFAULT_NUMBER, QUICK_NUMBER = 200, 20
WARMUP_CALLS = 50  # first calls fill caches (pydantic, prometheus-client): not counted
# The measured loop runs inside functools.reduce, whose C function is called nowhere else in
# the child: callgrind counts only while it runs (the pattern fits its names in 3.10 to 3.13).
COUNTED_FUNCTION = "functools_reduce*"
_COLLECTED = re.compile(r"Collected\s*:\s*(\d+)")


def count_calls(variant: Variant, number: int) -> None:
    """In the child: build ``variant``'s app, warm it up, then make the ``number`` counted calls."""
    with tempfile.TemporaryDirectory(prefix="firefly-instructions-") as log_dir:
        wsgi, app = build_app(variant, Path(log_dir))
        call = timed_call(wsgi)
        for _ in range(WARMUP_CALLS):
            call()
        flush_telemetry(app)  # uncounted: the warm-up's lines and metrics
        # Counted: the calls, then the access log lines, metrics and prediction log rows
        # they queued (the work a thread of the app's does in batches while it serves).
        functools.reduce(
            lambda previous, index: call() if index < number else flush_telemetry(app),
            range(number + 1),
            b"",
        )
        app.shutdown()  # closes the log while its directory is there
        written, rows = logged_lines(Path(log_dir)), logged_rows(Path(log_dir))
    calls = number + WARMUP_CALLS + 1  # +1: the call that checks the answer
    expected = calls if variant.settings.get("access_log") else 0
    if written != expected:
        sys.exit(f"error: {variant.name}: the access log has {written} lines, expected {expected}")
    expected = calls if variant.settings.get("prediction_log") else 0
    if rows != expected:
        sys.exit(f"error: {variant.name}: the prediction log has {rows} rows, expected {expected}")


def callgrind_count(
    arguments: Sequence[str], env: dict[str, str], what: str, options: Sequence[str] = ()
) -> tuple[int, str]:
    """Run ``python *arguments`` in TARGETS_DIR under callgrind with ``PYTHONHASHSEED=0``: the
    instructions executed inside COUNTED_FUNCTION, and what the child printed. Exits with the
    child's errors if it fails.

    ``options`` go to valgrind, such as ``--instr-atstart=no`` for a child that switches
    callgrind's instrumentation on itself once it has imported what it needs.
    """
    command = [
        "valgrind",
        "--tool=callgrind",
        "--callgrind-out-file=/dev/null",
        "--collect-atstart=no",
        f"--toggle-collect={COUNTED_FUNCTION}",
        *options,
        sys.executable,
        *arguments,
    ]
    result = subprocess.run(
        command,
        env={**env, "PYTHONHASHSEED": "0"},
        cwd=TARGETS_DIR,
        capture_output=True,
        text=True,
        check=False,
    )
    found = _COLLECTED.search(result.stderr)
    if result.returncode != 0 or found is None:
        sys.exit(f"error: {what}: the counted run failed:\n{result.stderr[-3000:]}")
    return int(found.group(1)), result.stdout


def counted_instructions(variant: Variant, number: int) -> float:
    """Run ``variant``'s child under callgrind: instructions per call."""
    with child_environment(variant.mode) as env:
        arguments = [__file__, "--child", str(VARIANTS.index(variant)), "--number", str(number)]
        collected, _ = callgrind_count(arguments, env, variant.name)
    progress(f"  {variant.name} [{variant.mode}]: done")
    return collected / number


def measure(variants: Sequence[Variant], number: int) -> list[tuple[Variant, float]]:
    """Instructions per call of each variant, the children run one per core."""
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        counts = pool.map(functools.partial(counted_instructions, number=number), variants)
        return list(zip(variants, counts, strict=True))


def format_table(counts: Sequence[tuple[Variant, float]]) -> str:
    """Instructions per call and the difference to ``all off`` of the same metrics mode."""
    baseline = {variant.mode: count for variant, count in counts if variant.name == ALL_OFF}
    rows = [
        (variant.name, f"{count:,.0f}", f"{count - baseline[variant.mode]:+,.0f}")
        for variant, count in counts
        if not (variant.mode == MULTI and variant.name == ALL_OFF)
    ]
    return simple_table(("variant", "instructions/call", "delta"), rows)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--number", type=positive_int, help=f"counted calls per variant (default {DEFAULT_NUMBER})"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"a smoke run: the all off and all on variants only, --number {QUICK_NUMBER} unless"
        " given",
    )
    parser.add_argument("--child", type=int, choices=range(len(VARIANTS)), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the count the command line describes."""
    args = parse_args(argv)
    number = args.number or (QUICK_NUMBER if args.quick else DEFAULT_NUMBER)
    if args.child is not None:
        sys.path.insert(0, str(TARGETS_DIR))
        count_calls(VARIANTS[args.child], number)
        return
    if shutil.which("valgrind") is None:
        sys.exit("error: counting instructions needs valgrind (apt-get install valgrind)")
    variants = [v for v in VARIANTS if not args.quick or v.name == ALL_OFF or v.settings == ON]
    progress(f"counting {number} calls of {len(variants)} variants under callgrind")
    counts = measure(variants, number)
    print(
        f"{number} counted calls per variant, after {WARMUP_CALLS} uncounted ones;"
        f" Python {sys.version.split()[0]}; delta: against {ALL_OFF!r} of the same"
        f" metrics mode ({SINGLE}-process or {MULTI}-process)",
        end="\n\n",
    )
    print(format_table(counts))


if __name__ == "__main__":
    main()
