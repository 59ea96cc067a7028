"""examples/predictionlog/README.rst, run as written: ``python train.py`` in a copy of the
folder, ``firefly -c config.yml``, then each curl command, the Client session and the
``firefly log`` commands in the README's order, their answers compared with those shown;
the rows left in ``predictions.db``; and the ``Procfile``'s line on PostgreSQL."""

from __future__ import annotations

import csv
import doctest
import importlib.util
import json
import math
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import joblib
import pandas as pd
import pytest
import requests
import sqlalchemy

from ..conftest import EXAMPLES, Server, firefly_command, free_port, serve
from ..test_docs import console_calls, named_block, read

FOLDER = EXAMPLES / "predictionlog"
README = FOLDER / "README.rst"
DOCUMENTED_URL = "http://127.0.0.1:8000/"
COMMAND_TIMEOUT = 60  # python train.py imports pandas and scikit-learn
REQUEST_TIMEOUT = 10
TOLERANCE = 1e-4  # the probabilities shown, against those of the libraries installed here
CURL_FORM = {"Content-Type": "application/x-www-form-urlencoded"}  # what curl -d sends
#: A prediction id (24 hex digits) or a request id (32): each run has its own.
HEX_ID = re.compile(r"[0-9a-f]{24}|[0-9a-f]{32}")
TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")

pytestmark = pytest.mark.timeout(120)


def clean_env() -> dict[str, str]:
    return {name: value for name, value in os.environ.items() if not name.startswith("FIREFLY_")}


def run(words: list[str], folder: Path) -> str:
    """A documented ``python`` or ``firefly`` command, run in ``folder``; what it prints on
    the terminal, its standard output and error."""
    commands = {"python": [sys.executable], "firefly": firefly_command()}
    assert words[0] in commands, words
    result = subprocess.run(
        [*commands[words[0]], *words[1:]],
        cwd=folder,
        env=clean_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=COMMAND_TIMEOUT,
    )
    assert result.returncode == 0, f"{words}: {result.stdout}"
    return result.stdout.strip()


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of examples/predictionlog in which the README's training has run, as shown."""
    folder = tmp_path_factory.mktemp("examples") / "predictionlog"
    ignored = shutil.ignore_patterns("*.joblib", "predictions.*", "__pycache__")
    shutil.copytree(FOLDER, folder, ignore=ignored)
    for words, shown in console_calls(named_block(README, "predictionlog-train")):
        assert run(words, folder) == shown, words
    return folder


@pytest.fixture(scope="module")
def server(folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The README's serve command, on a free port, in the trained copy; always stopped."""
    ((words, shown),) = console_calls(named_block(README, "predictionlog-serve"))
    assert words[0] == "firefly" and shown == DOCUMENTED_URL, words
    port = free_port()
    command = firefly_command("--bind", f"127.0.0.1:{port}", *words[1:])
    with serve(command, port, cwd=folder, log_dir=tmp_path_factory.mktemp("log")) as server:
        yield server


@pytest.fixture(scope="module")
def ids() -> dict[str, str]:
    """Each id shown in the README and the one this run answered in its place."""
    return {}


def matches(actual: Any, shown: Any, ids: dict[str, str], key: str | None = None) -> bool:
    """Whether an answer is the one shown: floats to within TOLERANCE, durations any, times
    by their form, and ids by their form, one id of this run for each id shown."""
    if key == "duration":
        return isinstance(actual, float) and actual >= 0
    if isinstance(shown, str) and HEX_ID.fullmatch(shown):
        same_form = isinstance(actual, str) and len(actual) == len(shown)
        return (
            same_form and bool(HEX_ID.fullmatch(actual)) and ids.setdefault(shown, actual) == actual
        )
    if isinstance(shown, str) and TIME.fullmatch(shown):
        return isinstance(actual, str) and bool(TIME.fullmatch(actual))
    if isinstance(shown, float) and isinstance(actual, float):
        return math.isclose(actual, shown, rel_tol=0, abs_tol=TOLERANCE)
    if isinstance(shown, dict) and isinstance(actual, dict):
        return actual.keys() == shown.keys() and all(
            matches(actual[name], shown[name], ids, name) for name in shown
        )
    if isinstance(shown, list) and isinstance(actual, list):
        return len(actual) == len(shown) and all(
            matches(value, expected, ids) for value, expected in zip(actual, shown, strict=True)
        )
    return type(actual) is type(shown) and actual == shown


def check_curl(server: Server, words: list[str], shown: str, ids: dict[str, str]) -> None:
    """Send a documented curl command to ``server``; its status, headers and body as shown.

    With ``-i`` the output shows the status line and some of the headers, then the body;
    without it only the body, of a 200.
    """
    assert words[0] == "curl" and words[-1].startswith(DOCUMENTED_URL), words
    url = server.url + words[-1].removeprefix(DOCUMENTED_URL)
    if "-d" in words:
        body = words[words.index("-d") + 1]
        response = requests.post(url, data=body, headers=CURL_FORM, timeout=REQUEST_TIMEOUT)
    else:
        response = requests.get(url, timeout=REQUEST_TIMEOUT)
    status, headers, shown_body = 200, [], shown
    if "-i" in words:
        head, shown_body = shown.split("\n\n", 1)
        status_line, *headers = head.splitlines()
        status = int(status_line.split()[1])
    assert response.status_code == status, (words, response.text)
    for header in headers:
        name, value = header.split(": ", 1)
        assert name in response.headers, (words, name)
        assert matches(response.headers[name], value, ids), (words, name, response.headers[name])
    answer = response.json()
    assert matches(answer, json.loads(shown_body), ids), (words, answer)
    if response.status_code >= 400:  # an error answer names its request
        assert answer["request_id"] == response.headers["X-Request-ID"]


def curls(block: str) -> list[tuple[list[str], str]]:
    calls = console_calls(named_block(README, block))
    assert calls and all(words[0] == "curl" for words, _ in calls), block
    return calls


def test_the_readme_is_valid_restructured_text() -> None:
    import docutils.core

    overrides = {"halt_level": 2, "report_level": 2}
    docutils.core.publish_doctree(read(README), settings_overrides=overrides)


def test_the_readme_shows_the_files_as_they_are() -> None:
    assert named_block(README, "predictionlog-config") == read(FOLDER / "config.yml").strip()
    assert named_block(README, "predictionlog-function") in read(FOLDER / "predict.py")
    assert named_block(README, "predictionlog-procfile") == read(FOLDER / "Procfile").strip()


# The README's calls, in its order: each depends on those before it.


def test_predict_answers_the_probability_and_a_prediction_id(server, ids):
    for words, shown in curls("predictionlog-predict"):
        check_curl(server, words, shown, ids)


def test_a_repeated_id_is_a_409(server, ids):
    for words, shown in curls("predictionlog-repeated"):
        check_curl(server, words, shown, ids)


def test_feedback_answers_the_row_and_a_404_for_an_unknown_id(server, ids):
    for words, shown in curls("predictionlog-feedback"):
        check_curl(server, words, shown, ids)


def test_the_predictions_are_listed(server, ids):
    for words, shown in curls("predictionlog-list"):
        check_curl(server, words, shown, ids)


def test_the_client_session_runs_as_shown(server):
    text = named_block(README, "predictionlog-client").replace(DOCUMENTED_URL, server.url)
    test = doctest.DocTestParser().get_doctest(text, {}, "predictionlog-client", str(README), 0)
    report: list[str] = []
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    result = runner.run(test, out=report.append)
    assert result.attempted > 0
    assert result.failed == 0, "".join(report)


def without_latencies(row: str) -> list[str]:
    """A row of ``firefly log stats``, its words but the p50, p95 and p99 latencies (timed on
    this machine), which follow the errors' ``(0.0%)``."""
    words = row.split()
    (errors,) = [index for index, word in enumerate(words) if word.endswith("%)")]
    latencies = words[errors + 1 : errors + 4]
    assert all(float(latency) >= 0 for latency in latencies), row
    return words[: errors + 1] + words[errors + 4 :]


def test_the_log_commands_print_what_is_shown(server, folder):
    (stats, stats_shown), (export, export_shown) = console_calls(
        named_block(README, "predictionlog-log")
    )
    assert stats[:3] == ["firefly", "log", "stats"] and export[:3] == ["firefly", "log", "export"]
    header, *rows = run(stats, folder).splitlines()
    shown_header, *shown_rows = stats_shown.splitlines()
    assert header == shown_header
    assert [without_latencies(row) for row in rows] == [
        without_latencies(row) for row in shown_rows
    ]
    assert run(export, folder) == export_shown
    with open(folder / export[export.index("-o") + 1], newline="") as file:
        exported = list(csv.DictReader(file))
    assert [row["observation_id"] for row in exported] == ["0", "1", "2"]
    assert [row["outcome"] for row in exported] == ["1", "", "1"]


def test_the_dashboard_is_served(server):
    response = requests.get(server.url + "-/dashboard", timeout=REQUEST_TIMEOUT)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")


def test_predictions_db_holds_a_row_per_call_made_with_its_outcome(server, folder):
    """The README's calls of ids 0, 1 and 2 (the refused repeats not among them), their
    arguments and results as the pipeline gives them, and the outcomes recorded last."""
    requests.get(server.url + "-/predictions", timeout=REQUEST_TIMEOUT)  # written by now
    with sqlite3.connect(folder / "predictions.db") as connection:
        rows = connection.execute(
            "SELECT observation_id, function, arguments, result, status, outcome"
            " FROM firefly_predictions ORDER BY id"
        ).fetchall()
    assert [(row[0], row[1], row[4], row[5]) for row in rows] == [
        ("0", "predict", 200, "1"),
        ("1", "predict", 200, None),
        ("2", "predict", 200, "1"),
    ]
    spec = importlib.util.spec_from_file_location("predictionlog_train", folder / "train.py")
    assert spec and spec.loader
    train = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train)  # under a name of its own: tests/apps may have a train too
    dtypes = train.DTYPES
    pipeline = joblib.load(folder / "pipeline.joblib")
    for _, _, arguments, result, _, _ in rows:
        call = json.loads(arguments)
        frame = pd.DataFrame([call["observation"]], columns=list(dtypes)).astype(dtypes)
        expected = float(pipeline.predict_proba(frame)[0, 1])
        assert json.loads(result) == {"proba": pytest.approx(expected, abs=1e-12)}


def test_the_procfile_serves_the_log_on_heroku_s_database_url(folder, postgres_url, tmp_path):
    """The Procfile's line as Heroku runs it (in bash, PORT and a postgres:// DATABASE_URL
    set): the calls are logged in PostgreSQL, and feedback finds them there."""
    line = read(folder / "Procfile").strip().removeprefix("web: ")
    database_url = "postgres://" + postgres_url.split("://", 1)[1]  # as Heroku gives it
    port = free_port()
    env = {
        "PORT": str(port),
        "DATABASE_URL": database_url,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    observation = {"tenure": 3, "monthly_charges": 89.5, "support_calls": 4, "plan": "basic"}
    body = {"id": 7, "observation": observation}
    with serve(["bash", "-c", line], port, cwd=folder, env=env, log_dir=tmp_path) as server:
        predicted = requests.post(server.url + "predict", json=body, timeout=REQUEST_TIMEOUT)
        assert predicted.status_code == 200, predicted.text
        assert predicted.json() == {"proba": pytest.approx(0.991057345299373, abs=TOLERANCE)}
        again = requests.post(server.url + "predict", json=body, timeout=REQUEST_TIMEOUT)
        assert again.status_code == 409
        item = {"function": "predict", "observation_id": 7, "outcome": 1}
        row = requests.post(server.url + "-/feedback", json=item, timeout=REQUEST_TIMEOUT)
        assert row.status_code == 200, row.text
        assert row.json()["prediction_id"] == predicted.headers["X-Prediction-ID"]
    engine = sqlalchemy.create_engine(postgres_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                sqlalchemy.text("SELECT observation_id, outcome FROM firefly_predictions")
            ).all()
    finally:
        engine.dispose()
    assert [tuple(row) for row in rows] == [("7", 1)]
