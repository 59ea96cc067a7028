"""Models reloaded on SIGHUP by real servers: new and replaced versions, failures, no lost request.

Each test trains tiny scikit-learn models (``y = slope * x``) and writes them
as ``<root>/<name>/<version>/model.joblib``; a new version folder is written
beside its place, hidden, and renamed into it, as ``firefly train`` does.
"""

from __future__ import annotations

import collections
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import joblib
import pandas as pd
import pytest
import requests
from gunicorn.config import KNOWN_SETTINGS
from sklearn.linear_model import LinearRegression

from ..conftest import APPS, Server

TIMEOUT = 30  #: seconds a request may take, waiting for workers that load the models meanwhile
RELOAD_TIMEOUT = 30  #: seconds a reload may take to be served (granian: 3.5 s per worker)
CLIENTS = 4  #: threads sending requests during a reload
RECORD = [{"x": 2.0}]


def fitted(slope: float) -> LinearRegression:
    """A model predicting ``slope * x``, fitted on a DataFrame (so it knows its feature)."""
    frame = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0]})
    return LinearRegression().fit(frame, frame["x"] * slope)


def write_model(path: Path, content: float | bytes) -> None:
    """A model file: the model of slope ``content``, or the bytes given (a corrupt file)."""
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        joblib.dump(fitted(content), path)


def write_version(root: Path, name: str, version: str, content: float | bytes) -> None:
    """Write a new version folder at once: filled while hidden, then renamed into place."""
    hidden = root / name / f".{version}.partial"
    hidden.mkdir(parents=True)
    write_model(hidden / "model.joblib", content)
    hidden.rename(root / name / version)


def replace_file(path: Path, content: float | bytes) -> None:
    """Replace a model file at once: written beside it, then renamed over it."""
    partial = path.with_name(f".{path.name}.partial")
    write_model(partial, content)
    os.replace(partial, path)


def predict(server: Server, path: str, session: Any = requests) -> tuple[float, str]:
    """The prediction for ``RECORD`` at ``path`` and the version that made it; 200 or fails."""
    response = session.post(server.url + path, json=RECORD, timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    return round(response.json()[0], 6), response.headers["X-Model-Version"]


def reload(server: Server) -> None:
    """Ask the server to reload: SIGHUP to its main process."""
    server.process.send_signal(signal.SIGHUP)


def eventually(check: Callable[[], Any], what: str) -> Any:
    """Wait for ``check()`` to be truthy (the new workers serve), and return it."""
    deadline = time.monotonic() + RELOAD_TIMEOUT
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"{what} within {RELOAD_TIMEOUT} s")


def replaced(server: Server, count: int, line: str = "Worker exiting") -> None:
    """Wait until ``count`` old workers have exited: from then on, new workers answer.

    gunicorn stops the old workers as soon as it has started the new ones,
    and they stop accepting at once (no ``shutdown_delay``): connections made
    then wait for a new worker.
    """
    eventually(lambda: server.log().count(line) >= count, f"{count} old workers did not exit")


def ready(server: Server) -> dict[str, Any]:
    """``GET /-/ready`` of a worker that is ready (a stopping one answers 503): its body."""
    response = requests.get(server.url + "-/ready", timeout=TIMEOUT)
    return response.json() if response.status_code == 200 else {}


class Load:
    """Client threads posting to ``path`` without a pause, each on its own keep-alive session.

    Every answer is counted: ``(status, X-Model-Version)``, or the exception's
    type and message when there was no answer.
    """

    def __init__(self, server: Server, path: str, clients: int = CLIENTS):
        self.url = server.url + path
        self.answers: list[tuple[Any, Any]] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self.send, daemon=True) for _ in range(clients)]

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(TIMEOUT + 5)

    def send(self) -> None:
        with requests.Session() as session:
            while not self.stopping.is_set():
                try:
                    response = session.post(self.url, json=RECORD, timeout=TIMEOUT)
                    answer = (response.status_code, response.headers.get("X-Model-Version"))
                except requests.RequestException as err:
                    answer = (type(err).__name__, str(err))
                with self.lock:
                    self.answers.append(answer)

    def last(self, count: int) -> list[tuple[Any, Any]]:
        """The ``count`` latest answers (fewer until there are that many)."""
        with self.lock:
            return self.answers[-count:]

    def settled(self, version: str = "v2", count: int = 100) -> bool:
        """Whether the ``count`` latest answers all came from ``version``, or one failed."""
        with self.lock:
            if any(status != 200 for status, _ in self.answers):
                return True  # no use waiting: the test fails on it
            return self.answers[-count:] == [(200, version)] * count


@pytest.fixture
def models(tmp_path: Path) -> Path:
    """A model repository with ``churn/v1`` (``y = x``)."""
    root = tmp_path / "models"
    write_version(root, "churn", "v1", 1)
    return root


def test_a_new_version_is_served_after_sighup_with_no_failed_request(models, firefly_server):
    with firefly_server("--models", str(models), "-w", "2", cwd=APPS) as server:
        assert predict(server, "churn/predict") == (2.0, "v1")
        with Load(server, "churn/predict") as load:
            eventually(lambda: len(load.last(50)) == 50, "the clients were answered")
            write_version(models, "churn", "v2", 2)
            reload(server)
            # every worker is a new one once the last answers all come from v2
            eventually(load.settled, "the default version did not move to v2")
        counted = collections.Counter(load.answers)
        assert set(counted) == {(200, "v1"), (200, "v2")}, counted
        assert counted[(200, "v1")] >= 50 and counted[(200, "v2")] >= 100
        assert predict(server, "churn/v2/predict") == (4.0, "v2")
        assert predict(server, "churn/v1/predict") == (2.0, "v1")
        assert predict(server, "churn/predict") == (4.0, "v2")
        described = requests.get(server.url + "churn", timeout=TIMEOUT).json()
        assert described["versions"] == ["v1", "v2"] and described["default_version"] == "v2"
        assert "Hang up" in server.log()


def test_a_replaced_file_is_served_after_sighup(models, firefly_server):
    with firefly_server("--models", str(models), "-w", "2", cwd=APPS) as server:
        assert predict(server, "churn/v1/predict") == (2.0, "v1")
        before = requests.get(server.url + "churn/v1", timeout=TIMEOUT).json()
        replace_file(models / "churn" / "v1" / "model.joblib", 3)
        reload(server)
        replaced(server, 2)
        assert predict(server, "churn/v1/predict") == (6.0, "v1")
        assert predict(server, "churn/predict") == (6.0, "v1")
        after = requests.get(server.url + "churn/v1", timeout=TIMEOUT).json()
        assert after["sha256"] != before["sha256"]
        assert after["loaded_at"] >= before["loaded_at"]
        assert "model_errors" not in ready(server)


def test_a_file_that_fails_to_load_keeps_the_previous_one_serving(models, firefly_server):
    write_version(models, "churn", "v2", 2)
    with firefly_server("--models", str(models), "-w", "2", cwd=APPS) as server:
        assert predict(server, "churn/predict") == (4.0, "v2")
        replace_file(models / "churn" / "v2" / "model.joblib", b"not a model at all")
        write_version(models, "churn", "v3", b"\x80\x04 truncated")
        reload(server)
        replaced(server, 2)
        health = ready(server)["model_errors"]
        assert set(health) == {"churn/v2", "churn/v3"}
        assert "model 'churn' version 'v2': cannot load" in health["churn/v2"]
        assert "model 'churn' version 'v3': cannot load" in health["churn/v3"]
        assert ready(server)["models"] == {"churn": {"v1": "loaded", "v2": "loaded"}}
        # the v2 loaded before serves on, and stays the default: v3 is not served
        for _ in range(10):
            assert predict(server, "churn/predict") == (4.0, "v2")
        missing = requests.post(server.url + "churn/v3/predict", json=RECORD, timeout=TIMEOUT)
        assert missing.status_code == 404 and "versions: v1, v2" in missing.json()["error"]
        log = server.log()
        assert "[ERROR]" in log and "firefly: model reload: model 'churn' version 'v2'" in log
        assert "the loaded file keeps serving" in log
        assert "model reload: model 'churn' version 'v3'" in log and "it is not served" in log
        # once the file is good again, the next reload serves it and forgets the error
        replace_file(models / "churn" / "v3" / "model.joblib", 5)
        replace_file(models / "churn" / "v2" / "model.joblib", 4)
        reload(server)
        replaced(server, 4)
        assert predict(server, "churn/predict") == (10.0, "v3")
        assert "model_errors" not in ready(server)
        assert predict(server, "churn/v2/predict") == (8.0, "v2")


def test_ready_lists_every_version_before_and_after_a_reload(models, firefly_server):
    write_version(models, "churn", "v10", 10)
    write_version(models, "churn", "v9", 9)
    write_version(models, "fraud", "1", 1)
    with firefly_server("--models", str(models), "-w", "2", cwd=APPS) as server:
        health = ready(server)
        assert health["status"] == "ready" and "model_errors" not in health
        assert health["models"] == {
            "churn": {"v1": "loaded", "v9": "loaded", "v10": "loaded"},
            "fraud": {"1": "loaded"},
        }
        assert list(health["models"]["churn"]) == ["v1", "v9", "v10"]
        write_version(models, "fraud", "2", 2)
        (models / "churn" / "v9" / "model.joblib").unlink()
        (models / "churn" / "v9").rmdir()
        reload(server)
        replaced(server, 2)
        assert ready(server)["models"] == {
            "churn": {"v1": "loaded", "v10": "loaded"},
            "fraud": {"1": "loaded", "2": "loaded"},
        }
        assert predict(server, "fraud/predict") == (4.0, "2")
        assert predict(server, "churn/predict") == (20.0, "v10")


@pytest.mark.parametrize("server_name", ["granian"])
def test_granian_serves_a_new_version_after_sighup(models, firefly_server):
    pytest.importorskip("granian")
    with firefly_server("--models", str(models), cwd=APPS) as server:
        assert predict(server, "churn/predict") == (2.0, "v1")
        write_version(models, "churn", "v2", 2)
        replace_file(models / "churn" / "v1" / "model.joblib", b"garbage")
        reload(server)
        replaced(server, 1, "Stopped old worker-1")  # granian stops it 3.5 s after the new one
        assert ready(server)["models"] == {"churn": {"v1": "loaded", "v2": "loaded"}}
        assert predict(server, "churn/predict") == (4.0, "v2")
        assert predict(server, "churn/v1/predict") == (2.0, "v1")  # the loaded v1 serves on
        assert "churn/v1" in ready(server)["model_errors"]
        assert "model reload: model 'churn' version 'v1': cannot load" in server.log()


#: A gunicorn config file naming Firefly's reload hook.
GUNICORN_CONF = "from firefly.server.reloading import on_reload\n"
#: gunicorn >= 25 opens one control socket a user, which servers side by side would share.
NO_CONTROL_SOCKET = (
    ["--no-control-socket"]
    if any(setting.name == "control_socket_disable" for setting in KNOWN_SETTINGS)
    else []
)


@pytest.mark.parametrize(
    "preload, hook, served",
    [(True, True, "v2"), (True, False, "v1"), (False, False, "v2")],
    ids=["preload-with-the-hook", "preload-without-it", "no-preload"],
)
def test_plain_gunicorn_reloads_with_the_hook_when_preloaded_and_by_itself_when_not(
    models, tmp_path, gunicorn_server, preload, hook, served
):
    args = ["-k", "firefly.server.worker.FireflyWorker", "-w", "2", *NO_CONTROL_SOCKET]
    args.append("firefly.main:app")
    if preload:
        args.append("--preload")
    if hook:
        (tmp_path / "gunicorn_conf.py").write_text(GUNICORN_CONF)
        args += ["-c", str(tmp_path / "gunicorn_conf.py")]
    with gunicorn_server(*args, env={"FIREFLY_MODELS": str(models)}, cwd=APPS) as server:
        assert predict(server, "churn/predict") == (2.0, "v1")
        write_version(models, "churn", "v2", 2)
        reload(server)
        replaced(server, 2)
        assert predict(server, "churn/predict") == ({"v1": 2.0, "v2": 4.0}[served], served)


def test_plain_gunicorn_without_preload_stops_when_a_reloaded_file_fails(models, gunicorn_server):
    args = ["-k", "firefly.server.worker.FireflyWorker", "-w", "2", *NO_CONTROL_SOCKET]
    with gunicorn_server(*args, "firefly.main:app", env={"FIREFLY_MODELS": str(models)}) as server:
        replace_file(models / "churn" / "v1" / "model.joblib", b"not a model")
        reload(server)
        server.process.wait(RELOAD_TIMEOUT)
        assert server.process.returncode != 0
        assert "App failed to load" in server.log()
        assert "firefly: model 'churn' version 'v1': cannot load" in server.log()


SLOW_APP = """
import time

time.sleep(3)  # a worker loading its app for a while, as one loading big models does


def square(n):
    return n * n
"""


def test_a_reload_that_stops_a_worker_still_loading_its_app_leaves_the_server_serving(
    tmp_path, gunicorn_server
):
    (tmp_path / "slowload.py").write_text(SLOW_APP)
    args = ["-k", "firefly.server.worker.FireflyWorker", *NO_CONTROL_SOCKET, "firefly.main:app"]
    env = {"FIREFLY_FUNCTIONS": "slowload.square"}
    with gunicorn_server(*args, env=env, cwd=tmp_path) as server:
        reload(server)
        time.sleep(1)  # the new worker is importing slowload
        reload(server)  # and is stopped for a newer one
        eventually(lambda: server.log().count("Booting worker") == 3, "no third worker")
        answer = requests.post(server.url + "square", json={"n": 3}, timeout=TIMEOUT)
        assert answer.json() == 9
        assert server.process.poll() is None
        assert "App failed to load" not in server.log()
