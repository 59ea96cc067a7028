"""What a new user trips on first: the docs' examples run as written, and 422s read well.

- docs/health.rst: the warm-up example serves examples/sklearn/model.py's
  ``predict`` (its argument is ``a``), and the health bodies are the real ones;
- docs/metrics.rst: its commands run from examples/, whose funcs.py has ``fail``;
- firefly/schema.py: a number too long to print (``1e200``) gets a short message;
- setup.py: the test requirements hold what the tests import.
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
from typing import Annotated, Any

import pytest
import requests
import yaml
from prometheus_client.parser import text_string_to_metric_families
from pydantic import Field

from firefly import Firefly, ValidationError
from firefly.app import create_app
from firefly.config import load_config
from firefly.schema import FunctionSchema
from firefly.version import __version__

from .conftest import EXAMPLES, ROOT
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


# firefly/schema.py: numbers too long to print are written short


def schema_of(function: Callable[..., Any]) -> FunctionSchema:
    return FunctionSchema.for_function(function.__name__, function, inspect.signature(function))


def refusal(function: Callable[..., Any], **arguments: Any) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        schema_of(function).validate(arguments)
    return info.value


def no_long_number(text: str) -> bool:
    return re.search(r"\d{21,}", text) is None


def test_a_huge_float_for_an_int_names_the_argument_and_the_value_short():
    def f(n: int) -> int:
        return n

    error = refusal(f, n=1e200)
    message = (
        "Input should be a valid integer, got 1e+200, which is out of range"
        " (a float must be below 2**63 in magnitude)"
    )
    assert str(error) == f"f(): invalid argument 'n': {message}"
    assert error.details["errors"] == [
        {"argument": "n", "location": [], "message": message, "type": "int_parsing_size"}
    ]
    assert "got -1e+200," in str(refusal(f, n=-1e200))
    assert "got 1e+20," in str(refusal(f, n=1e20))  # whole, but too large to be read as an int


def test_the_examples_square_answers_1e200_in_a_short_message():
    funcs = load_example_funcs()
    app = Firefly()
    app.function(funcs.square)
    response = app.test_client().post("/square", data='{"n": 1e200}')
    assert response.status_code == 422
    body = response.get_json()
    assert body["error"] == (
        "square(): invalid argument 'n': Input should be a valid integer, got 1e+200, which is"
        " out of range (a float must be below 2**63 in magnitude), or input should be less than"
        " or equal to 1e+100"
    )
    assert body["errors"][0]["message"] in body["error"]
    assert no_long_number(response.get_data(as_text=True)) and len(body["error"]) < 250


@pytest.mark.parametrize(
    ("hint", "value", "message"),
    [
        (Annotated[float, Field(le=1e100)], 1e200, "Input should be less than or equal to 1e+100"),
        (
            Annotated[float, Field(ge=-1e100)],
            -1e200,
            "Input should be greater than or equal to -1e+100",
        ),
        (Annotated[float, Field(gt=1e-300)], -1.0, "Input should be greater than 1e-300"),
        (Annotated[float, Field(lt=1e50)], 1e60, "Input should be less than 1e+50"),
        (
            Annotated[int, Field(le=10**120)],
            10**130,
            "Input should be less than or equal to 1e+120",
        ),
        (
            Annotated[int, Field(multiple_of=10**50)],
            10**50 + 1,
            "Input should be a multiple of 1e+50",
        ),
        # Short limits keep pydantic's own words.
        (Annotated[float, Field(gt=0)], -1.0, "Input should be greater than 0"),
        (Annotated[int, Field(le=1000)], 1001, "Input should be less than or equal to 1000"),
        (Annotated[float, Field(le=2.5)], 3.0, "Input should be less than or equal to 2.5"),
        # A string too long for an int is still called one.
        (int, "1" * 5000, "Unable to parse input string as an integer, exceeded maximum size"),
        (int, 2.5, "Input should be a valid integer, got a number with a fractional part"),
    ],
)
def test_limits_are_written_short(hint, value, message):
    def f(x):
        return x

    f.__annotations__ = {"x": hint}
    error = refusal(f, x=value)
    [problem] = error.details["errors"]
    assert problem["message"] == message
    assert str(error) == f"f(): invalid argument 'x': {message}"


def test_the_client_gets_the_short_message(app):
    @app.function
    def whole(n: int) -> int:
        return n

    client = app.test_client()
    body = client.post("/whole", data='{"n": 1e200}').get_json()
    assert "got 1e+200" in body["error"] and no_long_number(json.dumps(body))


# setup.py: the test requirements hold what tests/test_docs.py needs


def declared_test_requires() -> list[str]:
    tree = ast.parse((ROOT / "setup.py").read_text())
    (assignment,) = [
        node
        for node in tree.body
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "TEST_REQUIRES"
    ]
    return ast.literal_eval(assignment.value)


def test_docutils_is_a_test_requirement():
    names = {
        re.split(r"[<>=!~\[ ;]", requirement)[0].lower() for requirement in declared_test_requires()
    }
    assert "docutils" in names
    import docutils.core  # installed with the test requirements: the README test never skips

    assert docutils.core.publish_doctree
