"""The examples the README and the docs show, served by real processes."""

import subprocess
import sys
import time

import pytest
import requests

import firefly

from ..conftest import EXAMPLES

TIMEOUT = 10
ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "model.joblib"
    train = [sys.executable, "train.py", str(path)]
    subprocess.run(train, cwd=EXAMPLES / "sklearn", check=True, timeout=120, capture_output=True)
    return str(path)


def test_readme_example_serves_square_and_cube(firefly_server):
    with firefly_server("funcs.square", "funcs.cube", cwd=EXAMPLES) as server:
        response = requests.post(server.url + "square", data='{"n": 4}', timeout=TIMEOUT)
        assert response.text == "16"
        client = firefly.Client(server.url)
        assert client.cube(n=3) == 27
        assert client.square.__doc__ == "Return the square of a number."


def test_example_file_functions(firefly_server, tmp_path):
    text = tmp_path / "text.txt"
    text.write_text("a b c")
    with firefly_server("funcs.word_count", "funcs.repeat", cwd=EXAMPLES) as server:
        client = firefly.Client(server.url)
        with open(text, "rb") as file:
            assert client.word_count(file=file) == 3
        assert client.repeat(text="hi", times=2).read() == b"hihi"


def test_sklearn_model_predictions_are_plain_json(firefly_server, model_path):
    env = {"MODEL_PATH": model_path}
    with firefly_server(
        "model.predict", "model.predict_proba", cwd=EXAMPLES / "sklearn", env=env
    ) as server:
        response = requests.post(server.url + "predict", json={"a": ROWS}, timeout=TIMEOUT)
        assert response.json() == [0, 2]
        probabilities = firefly.Client(server.url).predict_proba(a=ROWS)
        assert len(probabilities) == 2
        assert all(abs(sum(row) - 1) < 1e-9 for row in probabilities)


def test_a_firefly_app_object_serves_under_gunicorn(gunicorn_server):
    with gunicorn_server("app_module:app") as server:
        headers = {"Authorization": "Token abcd1234"}
        post = lambda path, body: requests.post(  # noqa: E731
            server.url + path, json=body, headers=headers, timeout=TIMEOUT
        )
        assert post("square", {"n": 4}).json() == 16
        assert post("math/triple", {"n": 2}).json() == 6
        assert post("cube", {"n": 2}).json() == 8
        assert requests.get(server.url + "hello", headers=headers, timeout=TIMEOUT).json() == {
            "hello": "world"
        }
        assert requests.get(server.url + "hello", timeout=TIMEOUT).status_code == 401
        client = firefly.Client(server.url, auth_token="abcd1234")
        assert client.triple(n=5) == 15


def test_a_firefly_app_under_gunicorn_logs_the_traceback_of_a_failing_function(gunicorn_server):
    with gunicorn_server("app_module:app") as server:
        response = requests.post(
            server.url + "fail",
            json={"n": 3},
            headers={"Authorization": "Token abcd1234", "X-Request-ID": "rid-fail-1"},
            timeout=TIMEOUT,
        )
        assert response.status_code == 500
        assert response.json()["error"] == "ValueError: cannot take 3"
        log = wait_for_log(server, "ValueError: cannot take 3")
    assert "function 'fail' failed (request id rid-fail-1)" in log
    assert "Traceback (most recent call last)" in log
    assert "[rid-fail-1]" in log  # firefly's line format, with the request id


def test_under_gunicorn_the_features_start_in_the_worker_and_stop_when_it_does(
    gunicorn_server, tmp_path
):
    notes = tmp_path / "notes"
    with gunicorn_server("feature_app:app", env={"FEATURE_NOTES": str(notes)}) as server:
        assert requests.post(server.url + "square", json={"n": 3}, timeout=TIMEOUT).json() == 9
        process = server.process
    assert process.returncode is not None  # stopped gracefully by the fixture
    events = notes.read_text().split()
    assert events[0::2] == ["start", "stop"]
    assert events[1] == events[3] != str(process.pid)  # in the worker, not the arbiter


def wait_for_log(server, text: str) -> str:
    deadline = time.monotonic() + TIMEOUT
    while text not in server.log():
        if time.monotonic() > deadline:
            raise AssertionError(f"{text!r} not in the log:\n{server.log()}")
        time.sleep(0.05)
    return server.log()
