#!/usr/bin/env python
"""ONNX vs scikit-learn: predict throughput of one pipeline, in process, per row and per batch.

A ``StandardScaler`` + ``LogisticRegression`` pipeline is trained on 10 numeric columns,
converted with :func:`firefly.models.onnxconvert.convert` and loaded as the server loads it,
with :class:`firefly.models.onnx.OnnxModel` (one onnxruntime thread). Each variant
predicts a DataFrame of 1 row, then of 100, as the model endpoints call it:

- ``scikit-learn``: the pipeline's ``predict``;
- ``OnnxModel``: the ONNX copy's ``predict``, the DataFrame's columns turned into inputs;
- ``session.run``: onnxruntime alone, on inputs prepared once: the floor under OnnxModel;
- ``endpoint (joblib)`` and ``endpoint (onnx)``: the whole model endpoint, ``POST
  /<name>/<version>/predict`` of a Firefly app serving the two files, called as WSGI in
  process with the rows as JSON records (access log and metrics off): what a request
  costs besides the network. Their speed-up is the ONNX endpoint's over the joblib one's.

The variants are timed in turn (interleaved), several times; a variant's time is the
least of its repeats, the one least disturbed by other programs. The goal:
OnnxModel at least 3x scikit-learn's throughput per row.

(Named ``onnxspeed.py``, not ``onnx.py``: run as a script, that would shadow the onnx
package that skl2onnx imports.)

    python benchmarks/onnxspeed.py           # about 20 seconds
    python benchmarks/onnxspeed.py --quick   # a smoke run: a second or two
"""

from __future__ import annotations

import argparse
import io
import json
import platform
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from report import positive_int, progress, simple_table

COLUMNS = [f"x{index}" for index in range(10)]
TRAINING_ROWS = 2000
BATCHES = (1, 100)
GOAL = 3.0  # OnnxModel's throughput per row over scikit-learn's, for a batch of 1
DEFAULT_NUMBER, DEFAULT_REPEATS = 1000, 7
QUICK_NUMBER, QUICK_REPEATS = 20, 2
SKLEARN, ONNX_MODEL, SESSION = "scikit-learn", "OnnxModel", "session.run"
ENDPOINT_JOBLIB, ENDPOINT_ONNX = "endpoint (joblib)", "endpoint (onnx)"
VARIANTS = (SKLEARN, ONNX_MODEL, SESSION, ENDPOINT_JOBLIB, ENDPOINT_ONNX)
#: What each variant's speed-up is measured against.
BASELINE = {ENDPOINT_JOBLIB: ENDPOINT_JOBLIB, ENDPOINT_ONNX: ENDPOINT_JOBLIB}


def train() -> tuple[Any, Any]:
    """The fitted pipeline and its training frame: 10 normal columns, a linear label."""
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(TRAINING_ROWS, len(COLUMNS))), columns=COLUMNS)
    weights = rng.normal(size=len(COLUMNS))
    label = (frame.to_numpy() @ weights + rng.normal(size=TRAINING_ROWS) > 0).astype(int)
    return make_pipeline(StandardScaler(), LogisticRegression()).fit(frame, label), frame


def calls(estimator: Any, frame: Any) -> dict[tuple[str, int], Callable[[], Any]]:
    """One predict call of each variant and batch size, checked to answer alike."""
    import numpy as np

    from firefly.models.onnx import LABEL_OUTPUT, OnnxModel
    from firefly.models.onnxconvert import convert

    onnx_bytes = convert(estimator, frame)
    model = OnnxModel(onnx_bytes)
    with tempfile.TemporaryDirectory(prefix="onnxspeed-") as folder:  # loaded: not read again
        app = serving_app(estimator, onnx_bytes, Path(folder))
    found = {}
    for batch in BATCHES:
        rows = frame.head(batch).copy()
        # what OnnxModel builds from the DataFrame, built once
        feeds = {name: rows[name].to_numpy(np.float32).reshape(-1, 1) for name in COLUMNS}
        run = model.session.run
        found[SKLEARN, batch] = lambda rows=rows: estimator.predict(rows)
        found[ONNX_MODEL, batch] = lambda rows=rows: model.predict(rows)
        found[SESSION, batch] = lambda feeds=feeds, run=run: run([LABEL_OUTPUT], feeds)[0]
        found[ENDPOINT_JOBLIB, batch] = endpoint_call(app, "/pipeline/joblib/predict", rows)
        found[ENDPOINT_ONNX, batch] = endpoint_call(app, "/pipeline/onnx/predict", rows)
        expected = estimator.predict(rows)
        for variant in (ONNX_MODEL, SESSION):
            if not np.array_equal(found[variant, batch](), expected):
                sys.exit(f"error: {variant} predicts other labels than scikit-learn")
        for variant in (ENDPOINT_JOBLIB, ENDPOINT_ONNX):
            if json.loads(found[variant, batch]()) != expected.tolist():
                sys.exit(f"error: {variant} predicts other labels than scikit-learn")
    return found


def serving_app(estimator: Any, onnx_bytes: bytes, folder: Path) -> Any:
    """A Firefly app serving the pipeline as version ``joblib`` and its ONNX copy as ``onnx``."""
    import joblib

    from firefly import Firefly

    features = "features:\n" + "".join(f"  {name}: float64\n" for name in COLUMNS)
    for version, file_name in (("joblib", "model.joblib"), ("onnx", "model.onnx")):
        version_folder = folder / "pipeline" / version
        version_folder.mkdir(parents=True)
        (version_folder / "model.yml").write_text(features)
        if version == "onnx":
            (version_folder / file_name).write_bytes(onnx_bytes)
        else:
            joblib.dump(estimator, version_folder / file_name)
    app = Firefly(models=str(folder), access_log="off", metrics=False)
    app.prepare()
    return app


def endpoint_call(app: Any, path: str, rows: Any) -> Callable[[], bytes]:
    """One WSGI call of ``path`` with ``rows`` as JSON records: the answer's body."""
    body = json.dumps(rows.to_dict("records")).encode()
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": path,
        "CONTENT_LENGTH": str(len(body)),
        "CONTENT_TYPE": "application/json",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http",
    }

    def call() -> bytes:
        request = {**environ, "wsgi.input": io.BytesIO(body)}
        answer = app(request, lambda status, headers, exc_info=None: None)
        try:
            return b"".join(answer)
        finally:
            getattr(answer, "close", lambda: None)()

    return call


def timed_loop(call: Callable[[], Any], number: int) -> float:
    """Seconds taken by ``number`` calls."""
    started = time.perf_counter()
    for _ in range(number):
        call()
    return time.perf_counter() - started


def measure(
    found: dict[tuple[str, int], Callable[[], Any]], number: int, repeats: int
) -> dict[tuple[str, int], float]:
    """The least microseconds per call of each variant and batch, timed in turn."""
    best = dict.fromkeys(found, float("inf"))
    for repeat in range(1, repeats + 1):
        progress(f"repeat {repeat}/{repeats}")
        for key, call in found.items():
            best[key] = min(best[key], timed_loop(call, number) / number * 1e6)
    return best


def format_table(best: dict[tuple[str, int], float]) -> str:
    """The timings as a reStructuredText simple table, with each variant's speed-up."""
    header = ("variant", "rows/call", "us/call", "us/row", "rows/s", "speed-up")
    cells = []
    for batch in BATCHES:
        for variant in VARIANTS:
            microseconds = best[variant, batch]
            per_row = microseconds / batch
            cells.append(
                (
                    variant,
                    str(batch),
                    f"{microseconds:.1f}",
                    f"{per_row:.2f}",
                    f"{1e6 / per_row:,.0f}",
                    f"{best[BASELINE.get(variant, SKLEARN), batch] / microseconds:.1f}",
                )
            )
    return simple_table(header, cells)


def summary(best: dict[tuple[str, int], float]) -> str:
    """OnnxModel's speed-up per row against the goal, for each batch size."""
    lines = []
    for batch in BATCHES:
        ratio = best[SKLEARN, batch] / best[ONNX_MODEL, batch]
        goal = (
            f" (goal >= {GOAL:g}x: {'met' if ratio >= GOAL else 'NOT met'})" if batch == 1 else ""
        )
        lines.append(
            f"OnnxModel / scikit-learn throughput, {batch} rows a call: {ratio:.1f}x{goal}"
        )
    for batch in BATCHES:
        ratio = best[ENDPOINT_JOBLIB, batch] / best[ENDPOINT_ONNX, batch]
        lines.append(f"ONNX / joblib model endpoint throughput, {batch} rows a call: {ratio:.1f}x")
    return "\n".join(lines)


def describe(number: int, repeats: int) -> str:
    """The settings of this run and the libraries timed."""
    import onnxruntime
    import sklearn

    return (
        f"StandardScaler + LogisticRegression on {len(COLUMNS)} float columns;"
        f" {number} calls per timing, the least of {repeats} timings;"
        f" Python {platform.python_version()}, scikit-learn {sklearn.__version__},"
        f" onnxruntime {onnxruntime.__version__} (1 thread)"
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
        help=f"timings per variant and batch, interleaved (default {DEFAULT_REPEATS})",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"a smoke run: --number {QUICK_NUMBER} --repeats {QUICK_REPEATS} unless given",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the benchmark the command line describes."""
    args = parse_args(argv)
    number = args.number or (QUICK_NUMBER if args.quick else DEFAULT_NUMBER)
    repeats = args.repeats or (QUICK_REPEATS if args.quick else DEFAULT_REPEATS)
    progress("training and converting the pipeline")
    estimator, frame = train()
    best = measure(calls(estimator, frame), number, repeats)
    print(describe(number, repeats), end="\n\n")
    print(format_table(best), end="\n\n")
    print(summary(best))


if __name__ == "__main__":
    main()
