"""examples/models/README.rst, run as written: its ``firefly train`` commands in a copy of the
folder, then its ``firefly --models models``, called with its curl commands and its Client
session; and what the README promises of the answers."""

from __future__ import annotations

import doctest
import json
import math
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import joblib
import pandas as pd
import pytest
import requests

import firefly

from ..conftest import EXAMPLES, Server, firefly_command, free_port, serve
from ..test_docs import console_calls, named_block, read

FOLDER = EXAMPLES / "models"
README = FOLDER / "README.rst"
DOCUMENTED_URL = "http://127.0.0.1:8000/"
TIMEOUT = 120  # a firefly train command: it imports pandas and scikit-learn
REQUEST_TIMEOUT = 10
TOLERANCE = 1e-4  # the probabilities shown, against those of the libraries installed here
CURL_BLOCKS = ("models-churn-curl", "models-titanic-curl")
CURL_FORM = {"Content-Type": "application/x-www-form-urlencoded"}  # what curl -d sends
PASSENGER = {
    "pclass": 3,
    "sex": "male",
    "age": 22.0,
    "sibsp": 1,
    "parch": 0,
    "fare": 7.25,
    "embarked": "S",
}


def documented_curls() -> list[Any]:
    """Each curl command of the README and the answer shown, with an id naming its path."""
    calls = [call for name in CURL_BLOCKS for call in console_calls(named_block(README, name))]
    return [
        pytest.param(words, shown, id=f"{number}-{words[-1].removeprefix(DOCUMENTED_URL)}")
        for number, (words, shown) in enumerate(calls, start=1)
    ]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of examples/models in which the README's train commands have run, as shown."""
    folder = tmp_path_factory.mktemp("examples") / "models"
    ignored = shutil.ignore_patterns("models", "__pycache__")  # a user's own trained models
    shutil.copytree(FOLDER, folder, ignore=ignored)
    env = {name: value for name, value in os.environ.items() if not name.startswith("FIREFLY_")}
    for words, shown in console_calls(named_block(README, "models-train")):
        assert words[:2] == ["firefly", "train"], words
        result = subprocess.run(
            firefly_command(*words[1:]),
            cwd=folder,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
        assert result.returncode == 0, f"{words}: {result.stderr}"
        assert result.stdout.strip() == shown, words
    return folder


@pytest.fixture(scope="module")
def server(folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The README's serve command, on a free port, in the trained copy; always stopped."""
    ((words, shown),) = console_calls(named_block(README, "models-serve"))
    assert words[0] == "firefly" and shown == DOCUMENTED_URL, words
    port = free_port()
    command = firefly_command("--bind", f"127.0.0.1:{port}", *words[1:])
    with serve(command, port, cwd=folder, log_dir=tmp_path_factory.mktemp("log")) as server:
        yield server
    assert f"{server.url}\n" in server.log()  # the address, printed as the README shows


def post(server: Server, path: str, body: Any) -> requests.Response:
    return requests.post(server.url + path, json=body, timeout=REQUEST_TIMEOUT)


def close(actual: Any, expected: Any) -> bool:
    """Whether two decoded JSON values are equal, their floats to within TOLERANCE."""
    if isinstance(expected, float) and isinstance(actual, float):
        return math.isclose(actual, expected, rel_tol=0, abs_tol=TOLERANCE)
    if isinstance(expected, dict) and isinstance(actual, dict):
        return actual.keys() == expected.keys() and all(
            close(actual[key], expected[key]) for key in expected
        )
    if isinstance(expected, list) and isinstance(actual, list):
        return len(actual) == len(expected) and all(map(close, actual, expected))
    return type(actual) is type(expected) and actual == expected


def test_the_readme_is_valid_restructured_text() -> None:
    import docutils.core

    overrides = {"halt_level": 2, "report_level": 2}
    docutils.core.publish_doctree(read(README), settings_overrides=overrides)


@pytest.mark.parametrize(("words", "shown"), documented_curls())
def test_each_documented_curl_gets_the_answer_shown(server, words, shown):
    assert words[0] == "curl" and words[-1].startswith(DOCUMENTED_URL), words
    url = server.url + words[-1].removeprefix(DOCUMENTED_URL)
    if "-d" in words:
        body = words[words.index("-d") + 1]
        response = requests.post(url, data=body, headers=CURL_FORM, timeout=REQUEST_TIMEOUT)
    else:
        response = requests.get(url, timeout=REQUEST_TIMEOUT)
    answer, documented = response.json(), json.loads(shown)
    error = isinstance(documented, dict) and "error" in documented
    if error:  # each answer has a request id of its own
        assert answer.pop("request_id") == response.headers["X-Request-ID"]
        documented.pop("request_id")
    assert close(answer, documented), (words, answer)
    assert response.status_code == (422 if error else 200)


def test_the_documented_client_session_runs_as_shown(server, folder, monkeypatch):
    monkeypatch.chdir(folder)  # it reads titanic.csv
    text = named_block(README, "models-titanic-client").replace(DOCUMENTED_URL, server.url)
    parser = doctest.DocTestParser()
    test = parser.get_doctest(text, {}, "models-titanic-client", str(README), 0)
    report: list[str] = []
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    result = runner.run(test, out=report.append)
    assert result.attempted > 0
    assert result.failed == 0, "".join(report)


def test_both_versions_are_served_and_the_default_is_v2(server):
    description = requests.get(server.url + "churn", timeout=REQUEST_TIMEOUT).json()
    assert description["versions"] == ["v1", "v2"]
    assert description["default_version"] == "v2"
    record = {f"score_{number}": 50.0 + number for number in range(1, 6)}
    answers = {path: post(server, path, record) for path in ("churn/predict_proba",)}
    for version in ("v1", "v2"):
        answers[version] = post(server, f"churn/{version}/predict_proba", record)
        assert answers[version].headers["X-Model-Version"] == version
        training = requests.get(server.url + f"churn/{version}", timeout=REQUEST_TIMEOUT).json()
        function = "train_churn.fit" if version == "v1" else "train_churn.fit_v2"
        assert training["training"]["function"] == function
    default = answers["churn/predict_proba"]
    assert default.headers["X-Model-Version"] == "v2"
    assert default.json() == answers["v2"].json() != answers["v1"].json()


@pytest.mark.parametrize(("model", "data"), [("churn", "churn.csv"), ("titanic", "titanic.csv")])
def test_predict_proba_gives_label_probabilities_that_sum_to_one(server, folder, model, data):
    frame = pd.read_csv(folder / data).drop(columns=["churned", "survived"], errors="ignore")
    records = frame.head(50).astype(object).where(frame.head(50).notna(), None)
    answer = post(server, f"{model}/predict_proba", records.to_dict("records"))
    assert answer.status_code == 200, answer.text
    rows = answer.json()
    assert len(rows) == 50
    assert all(row.keys() == {"0", "1"} for row in rows)
    assert all(math.isclose(sum(row.values()), 1.0) for row in rows)


def test_a_null_age_is_a_missing_value_the_pipeline_fills_in(server, folder):
    passenger = {**PASSENGER, "age": None}
    answer = post(server, "titanic/predict_proba", passenger)
    assert answer.status_code == 200, answer.text
    model = joblib.load(folder / "models" / "titanic" / "v1" / "model.joblib")
    frame = pd.DataFrame([{**passenger, "age": math.nan}])
    (expected,) = model.predict_proba(frame).tolist()
    assert close(answer.json(), {"0": expected[0], "1": expected[1]})
    with_age = post(server, "titanic/predict_proba", PASSENGER).json()
    assert with_age != answer.json()  # the age counts when it is there


def test_a_missing_key_is_a_422_naming_it(server):
    passenger = {key: value for key, value in PASSENGER.items() if key != "age"}
    answer = post(server, "titanic/predict_proba", passenger)
    assert answer.status_code == 422
    assert answer.json()["error"] == "Missing keys: 'age'"
    batch = post(server, "titanic/predict", [PASSENGER, passenger])
    assert batch.status_code == 422
    assert batch.json()["error"] == "Missing keys: 'age' (row 1)"


def test_the_client_calls_each_version_with_records_or_a_dataframe(server, folder):
    frame = pd.read_csv(folder / "churn.csv").drop(columns="churned").head(5)
    with firefly.Client(server.url, timeout=REQUEST_TIMEOUT) as client:
        for version in ("v1", "v2"):
            records = post(server, f"churn/{version}/predict_proba", frame.to_dict("records"))
            assert client.model("churn", version).predict_proba(frame) == records.json()
        assert client.churn.predict_proba(frame) == client.model("churn", "v2").predict_proba(
            frame.to_dict("records")
        )
        with pytest.raises(firefly.ValidationError, match="Missing keys: 'score_5'"):
            client.churn.predict(frame.drop(columns="score_5"))
