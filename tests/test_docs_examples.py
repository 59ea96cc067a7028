"""The examples of docs/health.rst and docs/metrics.rst run as written, on the example files.

- docs/health.rst: the warm-up example serves examples/sklearn/model.py's
  ``predict`` (its argument is ``a``), and the health bodies are the real ones;
- docs/metrics.rst: its commands run from examples/, whose funcs.py has ``fail``.
"""

from __future__ import annotations

import ast
import inspect
import json
import re
import shlex
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import requests
import yaml
from prometheus_client.parser import text_string_to_metric_families

from firefly import Firefly
from firefly.app import create_app
from firefly.config import load_config
from firefly.version import __version__

from .conftest import EXAMPLES
from .test_docs import DOCS, console_calls, load_example_funcs, named_block, read
from .test_metrics import sample

SKLEARN = EXAMPLES / "sklearn"
HEALTH_PAGE = DOCS / "health.rst"
METRICS_PAGE = DOCS / "metrics.rst"
TIMEOUT = 10
REQUEST_ID = re.compile("[0-9a-f]{32}")


def wait_for(condition: Callable[[], Any], what: str, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
    return result


def without(body: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {key: value for key, value in body.items() if key not in keys}


# docs/health.rst: the warm-up example, with the real example model


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A model trained by examples/sklearn/train.py, as its docstring says to."""
    path = tmp_path_factory.mktemp("model") / "model.joblib"
    train = [sys.executable, "train.py", str(path)]
    subprocess.run(train, cwd=SKLEARN, check=True, timeout=120, capture_output=True)
    return str(path)


@pytest.fixture
def example_model(model_path, monkeypatch):
    """examples/sklearn/model.py, importable as ``model`` as from its folder; unloaded after."""
    monkeypatch.setenv("MODEL_PATH", model_path)
    monkeypatch.syspath_prepend(str(SKLEARN))
    monkeypatch.delitem(sys.modules, "model", raising=False)
    import model

    yield model
    sys.modules.pop("model", None)


def documented_warmup_config() -> dict[str, Any]:
    return yaml.safe_load(named_block(HEALTH_PAGE, "health-warmup-config"))


def documented_python_warmup() -> dict[str, Any]:
    match = re.search(
        r"``@app\.function\(warmup=(\{.*?\})\)``", " ".join(read(HEALTH_PAGE).split())
    )
    assert match, "docs/health.rst has no @app.function(warmup=...) example"
    return ast.literal_eval(match[1])


def test_the_documented_warmup_arguments_are_those_of_the_example_function(example_model):
    (function,) = documented_warmup_config()["functions"].values()
    assert function["function"] == "model.predict"
    parameters = inspect.signature(example_model.predict).parameters
    assert set(function["warmup"]) == set(parameters) == {"a"}
    assert documented_python_warmup() == function["warmup"]


def test_the_documented_warmup_config_makes_the_real_model_ready(example_model, tmp_path):
    config = tmp_path / "firefly.yml"
    config.write_text(named_block(HEALTH_PAGE, "health-warmup-config"))
    client = create_app(load_config({"config": str(config)}, {})).test_client()
    client.get("/-/alive")  # outside the firefly command, the first request starts the warm-up
    wait_for(lambda: client.get("/-/ready").get_json()["status"] != "starting", "the warm-up")
    response = client.get("/-/ready")
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["status"] == "ready"
    assert response.get_json()["functions"] == ["predict"]
    assert client.post("/predict", json={"a": [[5.1, 3.5, 1.4, 0.2]]}).get_json() == [0]


def test_the_documented_python_warmup_makes_the_real_model_ready(example_model):
    app = Firefly()
    app.function(warmup=documented_python_warmup())(example_model.predict)
    client = app.test_client()
    client.get("/-/alive")
    wait_for(lambda: client.get("/-/ready").get_json()["status"] != "starting", "the warm-up")
    response = client.get("/-/ready")
    assert response.status_code == 200, response.get_json()


def test_the_documented_warmup_config_serves_for_real(firefly_server, model_path, tmp_path):
    config = tmp_path / "firefly.yml"
    config.write_text(named_block(HEALTH_PAGE, "health-warmup-config"))
    env = {"MODEL_PATH": model_path}
    with firefly_server("-c", str(config), cwd=SKLEARN, env=env) as server:
        ready = lambda: requests.get(server.url + "-/ready", timeout=TIMEOUT)  # noqa: E731
        wait_for(lambda: ready().json()["status"] != "starting", "the warm-up")
        assert ready().status_code == 200, ready().json()
        assert ready().json()["functions"] == ["predict"]
        rows = {"a": [[6.7, 3.0, 5.2, 2.3]]}
        assert requests.post(server.url + "predict", json=rows, timeout=TIMEOUT).json() == [2]
    assert "warm-up call of" not in server.log()


def test_the_documented_failed_warmup_is_the_real_answer(example_model):
    documented = json.loads(named_block(HEALTH_PAGE, "health-failed-example"))
    warmup = re.search(r"``a: (\[\[.*?\]\])``", read(HEALTH_PAGE))
    assert warmup
    app = Firefly()
    app.function(warmup={"a": json.loads(warmup[1])})(example_model.predict)
    client = app.test_client()
    client.get("/-/alive")
    wait_for(lambda: client.get("/-/ready").get_json()["status"] == "failed", "the warm-up")
    response = client.get("/-/ready")
    assert response.status_code == 503
    body = response.get_json()
    assert REQUEST_ID.fullmatch(body["request_id"])
    assert body["version"] == __version__
    assert without(body, "request_id", "version") == without(documented, "request_id", "version")


def test_the_documented_ready_body_is_the_real_one():
    (words, output), *_ = console_calls(named_block(HEALTH_PAGE, "health-ready-example"))
    assert words == ["curl", "http://127.0.0.1:8000/-/ready"]
    funcs = load_example_funcs()
    app = Firefly()
    app.function(funcs.square)
    app.function(funcs.cube)
    body = app.test_client().get("/-/ready").get_json()
    assert body["version"] == __version__
    assert without(body, "version") == without(json.loads(output), "version")


def test_the_documented_not_ready_body_is_the_real_one():
    documented = json.loads(named_block(HEALTH_PAGE, "health-not-ready-example"))
    release = threading.Event()
    app = Firefly()

    @app.function(warmup={})
    def predict() -> None:
        release.wait(10)

    try:
        response = app.test_client().get("/-/ready")
    finally:
        release.set()
    assert response.status_code == 503
    body = response.get_json()
    assert REQUEST_ID.fullmatch(body["request_id"])
    assert without(body, "request_id", "version") == without(documented, "request_id", "version")


# docs/metrics.rst: the commands run from examples/, and examples/funcs.py has fail


def test_the_example_fail_raises_a_clear_value_error():
    funcs = load_example_funcs()
    assert funcs.fail.__doc__
    with pytest.raises(ValueError, match=r"^boom$"):
        funcs.fail()
    app = Firefly()
    app.function(funcs.fail)
    response = app.test_client().post("/fail", data="{}")
    assert response.status_code == 500
    assert without(response.get_json(), "request_id") == {
        "error": "ValueError: boom",
        "type": "ValueError",
    }


def test_every_function_the_metrics_page_serves_is_in_the_examples():
    names = set(vars(load_example_funcs()))
    served = re.findall(r"\bfuncs\.(?!py\b)(\w+)", read(METRICS_PAGE))
    assert served and set(served) <= names


def test_the_metrics_sample_runs_from_the_examples_folder(firefly_server):
    commands = re.findall(r"``(firefly funcs\.[^`]+)``", read(METRICS_PAGE))
    assert commands == ["firefly funcs.square funcs.fail"]
    with firefly_server(*shlex.split(commands[0])[1:], cwd=EXAMPLES) as server:
        outputs = []
        for words, _ in console_calls(named_block(METRICS_PAGE, "metrics-sample-calls")):
            assert words[0] == "curl"
            words[-1] = words[-1].replace("http://127.0.0.1:8000/", server.url)
            outputs.append(subprocess.run(words, capture_output=True, text=True, timeout=30))
    assert [output.returncode for output in outputs] == [0] * len(outputs)
    assert [output.stdout for output in outputs[:2]] == ["16", "25"]
    assert json.loads(outputs[2].stdout)["error"] == "ValueError: boom"
    real = outputs[-1].stdout
    documented = named_block(METRICS_PAGE, "metrics-sample-scrape")
    for family in text_string_to_metric_families(documented):
        for found in family.samples:
            got = sample(real, found.name, **found.labels)
            assert got is not None, f"documented sample {found.name}{found.labels} is not real"
            timed = found.name.endswith("_sum") or found.labels.get("le", "+Inf") != "+Inf"
            if found.labels.get("function") != "" and not timed:
                assert got == found.value, (found.name, found.labels)
