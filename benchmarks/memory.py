#!/usr/bin/env python
"""Memory of the workers serving one big model: loaded once before they fork, or by each worker.

An ``ExtraTreesRegressor`` of fully grown trees, whose joblib file is about ``--size`` MiB
(300 by default), is made at run time from random numbers and saved as
``<temporary folder>/models/forest/1/model.joblib``. Each target serves it with
``--workers`` workers (4 by default):

- ``firefly``: ``firefly --models DIR -w 4``: the model loads in gunicorn's master, before
  the workers fork (preloaded), so that the workers share its pages;
- ``firefly-granian``: the same with ``--server granian``, whose workers are forked from
  its main process (left out when granian is not installed);
- ``gunicorn``: ``gunicorn -k firefly.server.worker.FireflyWorker -w 4 firefly.main:app``
  with ``FIREFLY_MODELS=DIR`` and no ``--preload``: each worker loads the file itself.

Predictions (``--predictions`` a worker, of 10 rows each) reach every worker: each
connection first asks ``POST /pid`` (benchmarks/targets/whoami.py) which worker it
reached, until every worker has answered that many. Then ``/proc/<pid>/smaps_rollup``
of each of the server's processes (the master and its workers) gives its RSS, its PSS
(each page it shares divided between the processes that map it) and its USS (its
private pages, ``Private_Clean + Private_Dirty``). The table shows a worker's mean and
the sums over all the processes: the sum of PSS is what the server costs the machine.
docs/_model_reload.rst shows a run.

    python benchmarks/memory.py                # about a minute and a half
    python benchmarks/memory.py --size 1000 --workers 8 --target firefly
    python benchmarks/memory.py --quick        # a smoke run: a 5 MiB model, 2 workers
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import version
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from report import free_port, positive_int, progress, simple_table, stop_group

HERE = Path(__file__).resolve().parent
TARGETS_DIR = HERE / "targets"
HOST = "127.0.0.1"
MODEL = "forest"
FEATURES = [f"x{index}" for index in range(8)]
NODE_BYTES = 72  # a node of a scikit-learn tree as joblib saves it: 64 bytes, and its value
MAX_TRAINING_ROWS = 200_000  # a fully grown tree has about two nodes a row
ROWS = 10  # rows a prediction
WORKER_CLASS = "firefly.server.worker.FireflyWorker"
START_TIMEOUT = 180.0  # every worker of the gunicorn target loads the model on two cores
REACH_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
SETTLE = 1.0  # seconds between the last prediction and the measurement
REQUEST_TIMEOUT = 30.0
MiB = 1 << 20
DEFAULT_SIZE, QUICK_SIZE = 300, 5
DEFAULT_WORKERS, QUICK_WORKERS = 4, 2
DEFAULT_PREDICTIONS, QUICK_PREDICTIONS = 3, 1
TARGETS = ("firefly", "firefly-granian", "gunicorn")


def make_model(size: int, root: Path) -> Path:
    """Fit a forest whose file is about ``size`` MiB; write it as a version, all at once."""
    import joblib
    import numpy as np
    import pandas as pd
    from sklearn.ensemble import ExtraTreesRegressor

    target_bytes = size * MiB
    rows = max(1000, min(MAX_TRAINING_ROWS, target_bytes // (2 * NODE_BYTES)))
    trees = max(1, round(target_bytes / (2 * rows * NODE_BYTES)))
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(rows, len(FEATURES))), columns=FEATURES)
    label = frame.to_numpy() @ rng.normal(size=len(FEATURES)) + rng.normal(size=rows)
    progress(f"fitting {trees} trees on {rows:,} rows")
    forest = ExtraTreesRegressor(n_estimators=trees, n_jobs=-1, random_state=0)
    forest.fit(frame, label)
    hidden = root / MODEL / ".1"
    hidden.mkdir(parents=True)
    joblib.dump(forest, hidden / "model.joblib")
    hidden.rename(root / MODEL / "1")
    return root / MODEL / "1" / "model.joblib"


def command(target: str, models: Path, port: int, workers: int) -> tuple[list[str], dict[str, str]]:
    """The command line and the environment of ``target``."""
    bind = f"{HOST}:{port}"
    if target == "gunicorn":
        args = [sys.executable, "-m", "gunicorn", "-k", WORKER_CLASS, "-w", str(workers)]
        args += ["--bind", bind, *no_control_socket(), "firefly.main:app"]
        return args, {"FIREFLY_MODELS": str(models), "FIREFLY_FUNCTIONS": "whoami.pid"}
    server = "granian" if target == "firefly-granian" else "gunicorn"
    args = [sys.executable, "-m", "firefly", "whoami.pid", "--models", str(models)]
    return args + ["--server", server, "-w", str(workers), "--bind", bind], {}


def no_control_socket() -> tuple[str, ...]:
    """gunicorn >= 25 opens one control socket a user, which servers side by side would share."""
    from gunicorn.config import KNOWN_SETTINGS

    names = {setting.name for setting in KNOWN_SETTINGS}
    return ("--no-control-socket",) if "control_socket_disable" in names else ()


def wait_ready(process: subprocess.Popen[bytes], port: int) -> None:
    """Wait until a worker answers ``/-/ready`` with 200."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited with {process.returncode}")
        try:
            connection = http.client.HTTPConnection(HOST, port, timeout=REQUEST_TIMEOUT)
            connection.request("GET", "/-/ready")
            if connection.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"the server was not ready within {START_TIMEOUT:g} s")


def children(pid: int) -> list[int]:
    """The processes ``pid`` started, and theirs."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        parent = int(stat.rpartition(")")[2].split()[1])
        if parent == pid:
            found += [int(entry.name), *children(int(entry.name))]
    return found


def post(connection: http.client.HTTPConnection, path: str, body: object) -> Any:
    """POST ``body`` as JSON on ``connection``: the decoded answer, which must be a 200."""
    connection.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
    response = connection.getresponse()
    answer = response.read()
    if response.status != 200:
        raise SystemExit(f"POST {path}: {response.status} {answer[:200]!r}")
    return json.loads(answer)


def predict_on_every_worker(port: int, workers: set[int], predictions: int) -> Counter[int]:
    """Send ``predictions`` predictions to each of ``workers``: the count each answered."""
    import numpy as np

    rng = np.random.default_rng(1)
    records = [dict(zip(FEATURES, row, strict=True)) for row in rng.normal(size=(ROWS, 8)).tolist()]
    answered: Counter[int] = Counter()
    deadline = time.monotonic() + REACH_TIMEOUT
    while any(answered[pid] < predictions for pid in workers):
        if time.monotonic() > deadline:
            raise SystemExit(f"not every worker answered within {REACH_TIMEOUT:g} s: {answered}")
        connection = http.client.HTTPConnection(HOST, port, timeout=REQUEST_TIMEOUT)
        try:
            pid = post(connection, "/pid", {})
            if pid in workers and answered[pid] < predictions:  # same connection, same worker
                assert len(post(connection, f"/{MODEL}/predict", records)) == ROWS
                answered[pid] += 1
        finally:
            connection.close()
    return answered


@dataclass(frozen=True)
class Memory:
    """One process's memory, in bytes, from ``/proc/<pid>/smaps_rollup``."""

    rss: int
    pss: int
    uss: int

    @classmethod
    def of(cls, pid: int) -> Memory:
        fields = {}
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
            name, _, value = line.partition(":")
            fields[name] = int(value.split()[0]) * 1024  # kB
        uss = fields["Private_Clean"] + fields["Private_Dirty"]
        return cls(fields["Rss"], fields["Pss"], uss)


@dataclass(frozen=True)
class Result:
    """A target's measurement: its main process's memory and each worker's."""

    target: str
    master: Memory
    workers: tuple[Memory, ...]

    def row(self) -> list[str]:
        every = (self.master, *self.workers)
        count = len(self.workers)

        def mean(name: str) -> str:
            return mib(sum(getattr(worker, name) for worker in self.workers) / count)

        def total(name: str) -> str:
            return mib(sum(getattr(process, name) for process in every))

        kinds = ("rss", "pss", "uss")
        return [
            self.target,
            str(count),
            mib(self.master.rss),
            *map(mean, kinds),
            *map(total, kinds),
        ]


def mib(value: float) -> str:
    return f"{value / MiB:,.0f}"


def measure(target: str, models: Path, workers: int, predictions: int) -> Result:
    """Start ``target``, reach every worker, read the memory of its processes, stop it."""
    port = free_port()
    args, env = command(target, models, port, workers)
    progress(f"{target}: python {' '.join(args[1:])}")
    process = subprocess.Popen(
        args,
        cwd=TARGETS_DIR,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_ready(process, port)
        pids = children(process.pid)
        deadline = time.monotonic() + START_TIMEOUT
        while len(pids) < workers and time.monotonic() < deadline:
            time.sleep(0.2)
            pids = children(process.pid)
        predict_on_every_worker(port, set(pids), predictions)
        time.sleep(SETTLE)
        return Result(target, Memory.of(process.pid), tuple(Memory.of(pid) for pid in pids))
    finally:
        stop_group(process, STOP_TIMEOUT)


def describe(model: Path, workers: int, predictions: int) -> str:
    """The set-up: the model, the workers, the machine."""
    libraries = ", ".join(
        f"{name} {version(name)}"
        for name in ("scikit-learn", "numpy", "gunicorn", "granian")
        if find_spec(name.replace("scikit-learn", "sklearn")) is not None
    )
    return (
        f"model: {MODEL}/1/model.joblib, {model.stat().st_size / MiB:,.0f} MiB"
        f" (ExtraTreesRegressor); {workers} workers, {predictions} predictions of {ROWS} rows"
        f" a worker; Python {platform.python_version()}, {libraries}; {platform.platform()}"
    )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line: model size, workers, predictions, targets, quick."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--size", type=positive_int, help=f"model file size in MiB ({DEFAULT_SIZE})"
    )
    parser.add_argument("--workers", type=positive_int, help=f"workers ({DEFAULT_WORKERS})")
    parser.add_argument(
        "--predictions", type=positive_int, help=f"predictions a worker ({DEFAULT_PREDICTIONS})"
    )
    parser.add_argument(
        "--target", action="append", choices=TARGETS, help="a target to run (all by default)"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"a smoke run: {QUICK_SIZE} MiB, {QUICK_WORKERS} workers",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the benchmark the command line describes."""
    args = parse_args(argv)
    if not Path("/proc/self/smaps_rollup").exists():
        raise SystemExit("the benchmark reads /proc/<pid>/smaps_rollup: Linux 4.14 or later")
    size = args.size or (QUICK_SIZE if args.quick else DEFAULT_SIZE)
    workers = args.workers or (QUICK_WORKERS if args.quick else DEFAULT_WORKERS)
    predictions = args.predictions or (QUICK_PREDICTIONS if args.quick else DEFAULT_PREDICTIONS)
    targets = args.target or [
        target for target in TARGETS if target != "firefly-granian" or find_spec("granian")
    ]
    with tempfile.TemporaryDirectory(prefix="firefly-memory-") as folder:
        models = Path(folder) / "models"
        model = make_model(size, models)
        results = [measure(target, models, workers, predictions) for target in targets]
        print(describe(model, workers, predictions), end="\n\n")
    header = ["target", "workers", "master RSS", "worker RSS", "worker PSS", "worker USS"]
    header += ["total RSS", "total PSS", "total USS"]
    print(simple_table(header, [result.row() for result in results]))
    print("\nMiB; a worker's numbers are the mean over the workers; totals: master + workers")


if __name__ == "__main__":
    main()
