"""End to end: ``gunicorn firefly.main:app`` configured by FIREFLY_* variables, as documented.

Every test starts a real gunicorn process on a free loopback port (the
``gunicorn_server`` fixture adds ``--bind`` and ``--workers 1`` and always
stops it) and talks to it over real HTTP.
"""

from __future__ import annotations

import concurrent.futures
import importlib.util
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.conftest import APPS, EXAMPLES, free_port

TOKEN = "abcd1234"
TIMEOUT = 10
JSON = "application/json"


def auth(scheme: str = "Token", token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"{scheme} {token}"}


def assert_json_error(response: requests.Response, status: int) -> str:
    """The response is ``status`` with a JSON ``{"error": message}`` body; returns the message."""
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == JSON
    assert "X-Request-ID" in response.headers
    message = response.json()["error"]
    assert isinstance(message, str) and message
    assert "Traceback" not in response.text
    return message


# The documented command line, with and without --preload.


@pytest.mark.parametrize("preload", [["--preload"], []], ids=["preload", "no-preload"])
def test_functions_and_token_from_the_command_line_environment(gunicorn_server, preload):
    args = [
        *preload,
        "firefly.main:app",
        "-e",
        "FIREFLY_FUNCTIONS=funcs.square,funcs.cube",
        "-e",
        f"FIREFLY_TOKEN={TOKEN}",
    ]
    with gunicorn_server(*args) as server:
        for scheme in ("Token", "Bearer"):
            square = requests.post(
                server.url + "square", json={"n": 4}, headers=auth(scheme), timeout=TIMEOUT
            )
            cube = requests.post(
                server.url + "cube", json={"n": 4}, headers=auth(scheme), timeout=TIMEOUT
            )
            assert (square.status_code, square.json()) == (200, 16)
            assert (cube.status_code, cube.json()) == (200, 64)
            assert square.headers["Content-Type"] == JSON

        missing = requests.post(server.url + "square", json={"n": 4}, timeout=TIMEOUT)
        assert_json_error(missing, 401)
        assert missing.headers["WWW-Authenticate"].startswith("Token")

        wrong = requests.post(
            server.url + "square", json={"n": 4}, headers=auth("Token", "wrong"), timeout=TIMEOUT
        )
        assert_json_error(wrong, 403)

        assert_json_error(requests.get(server.url, timeout=TIMEOUT), 401)
        index = requests.get(server.url, headers=auth(), timeout=TIMEOUT)
        assert index.status_code == 200
        assert set(index.json()["functions"]) == {"square", "cube"}


# FIREFLY_CONFIG: a config file in the original format.


def test_config_file_in_the_original_format_with_a_custom_path(gunicorn_server):
    env = {"FIREFLY_CONFIG": "configs/original.yml"}  # relative to the cwd, tests/apps
    with gunicorn_server("--preload", "firefly.main:app", env=env) as server:
        assert_json_error(requests.get(server.url, timeout=TIMEOUT), 401)

        index = requests.get(server.url, headers=auth(), timeout=TIMEOUT)
        assert index.status_code == 200
        body = index.json()
        assert body["app"] == "firefly"
        square = body["functions"]["square"]
        assert square["path"] == "/sq"
        assert square["doc"] == "Return the square of a number."
        assert square["parameters"] == [{"name": "n", "kind": "POSITIONAL_OR_KEYWORD"}]
        assert body["functions"]["cube"]["path"] == "/cube"

        answer = requests.post(server.url + "sq", json={"n": 4}, headers=auth(), timeout=TIMEOUT)
        assert (answer.status_code, answer.json()) == (200, 16)
        cube = requests.post(server.url + "cube", json={"n": 4}, headers=auth(), timeout=TIMEOUT)
        assert (cube.status_code, cube.json()) == (200, 64)

        default_path = requests.post(
            server.url + "square", json={"n": 4}, headers=auth(), timeout=TIMEOUT
        )
        assert_json_error(default_path, 404)
        assert_json_error(requests.post(server.url + "sq", json={"n": 4}, timeout=TIMEOUT), 401)


# FIREFLY_ALLOW_ORIGINS: browsers on other origins.

ALLOWED_ORIGIN = "https://app.example.com"
OTHER_ALLOWED_ORIGIN = "https://other.example.com"
DISALLOWED_ORIGIN = "https://evil.example.org"


def test_cors_with_a_token(gunicorn_server):
    args = [
        "firefly.main:app",
        "-e",
        "FIREFLY_FUNCTIONS=funcs.square",
        "-e",
        f"FIREFLY_TOKEN={TOKEN}",
        "-e",
        f"FIREFLY_ALLOW_ORIGINS={ALLOWED_ORIGIN},{OTHER_ALLOWED_ORIGIN}",
    ]

    def preflight(origin: str) -> requests.Response:
        # Browsers send preflights without the Authorization header.
        headers = {
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        }
        return requests.options(server.url + "square", headers=headers, timeout=TIMEOUT)

    with gunicorn_server(*args) as server:
        for origin in (ALLOWED_ORIGIN, OTHER_ALLOWED_ORIGIN):
            answer = preflight(origin)
            assert 200 <= answer.status_code < 300, answer.text
            assert answer.headers["Access-Control-Allow-Origin"] == origin
            assert "POST" in answer.headers["Access-Control-Allow-Methods"]
            assert "authorization" in answer.headers["Access-Control-Allow-Headers"].lower()

        call = requests.post(
            server.url + "square",
            json={"n": 4},
            headers={**auth(), "Origin": ALLOWED_ORIGIN},
            timeout=TIMEOUT,
        )
        assert (call.status_code, call.json()) == (200, 16)
        assert call.headers["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN

        # The page must be able to read the error too.
        unauthorized = requests.post(
            server.url + "square",
            json={"n": 4},
            headers={"Origin": ALLOWED_ORIGIN},
            timeout=TIMEOUT,
        )
        assert_json_error(unauthorized, 401)
        assert unauthorized.headers["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN

        assert "Access-Control-Allow-Origin" not in preflight(DISALLOWED_ORIGIN).headers
        foreign = requests.post(
            server.url + "square",
            json={"n": 4},
            headers={**auth(), "Origin": DISALLOWED_ORIGIN},
            timeout=TIMEOUT,
        )
        assert "Access-Control-Allow-Origin" not in foreign.headers

        # Only preflights go without a token: a plain OPTIONS needs one like any request.
        plain_options = requests.options(server.url + "square", timeout=TIMEOUT)
        assert_json_error(plain_options, 401)


# The Heroku line: PORT from the environment, no --bind.

SKLEARN = EXAMPLES / "sklearn"


def procfile_web_args() -> list[str]:
    """The gunicorn arguments of the ``web:`` line of examples/sklearn/Procfile."""
    for line in (SKLEARN / "Procfile").read_text().splitlines():
        kind, _, command = line.partition(":")
        if kind.strip() == "web":
            program, *args = shlex.split(command)
            assert program == "gunicorn"
            return args
    raise AssertionError("examples/sklearn/Procfile has no web: line")


@pytest.fixture(scope="module")
def trained_model(tmp_path_factory) -> Path:
    spec = importlib.util.spec_from_file_location("sklearn_example_train", SKLEARN / "train.py")
    assert spec is not None and spec.loader is not None
    train = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train)
    path = tmp_path_factory.mktemp("model") / "model.joblib"
    train.train(str(path))
    return path


def test_heroku_procfile_serves_the_sklearn_model(gunicorn_server, trained_model):
    args = procfile_web_args()
    assert "--bind" not in args and "-b" not in args
    port = free_port()
    env = {"PORT": str(port), "MODEL_PATH": str(trained_model)}
    with gunicorn_server(*args, env=env, cwd=SKLEARN, port=port, bind=False) as server:
        rows = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]  # a setosa, a virginica
        answer = requests.post(server.url + "predict", json={"a": rows}, timeout=TIMEOUT)
        assert answer.status_code == 200, answer.text
        assert answer.headers["Content-Type"] == JSON
        assert answer.text.lstrip().startswith("[")
        assert answer.json() == [0, 2]


# Start-up errors: one line naming the problem, no traceback, non-zero exit.

START_UP_ERRORS = [
    ("FIREFLY_FUNCTIONS=nosuch.square", "no module named 'nosuch'"),
    ("FIREFLY_FUNCTIONS=funcs.nosuch", "module 'funcs' has no attribute 'nosuch'"),
    ("FIREFLY_FUNCTIONS=raises_on_import.f", "this module fails on import"),
    ("FIREFLY_CONFIG=configs/bad_yaml.yml", "invalid YAML"),
    ("FIREFLY_CONFIG=configs/unknown_key.yml", "functions.square.pth: unknown key"),
    ("FIREFLY_CONFIG=configs/wrong_type.yml", "functions.square.path"),
    ("FIREFLY_CONFIG=configs/nosuch.yml", "configs/nosuch.yml"),
]


@pytest.mark.parametrize("preload", [["--preload"], []], ids=["preload", "no-preload"])
@pytest.mark.parametrize(
    ("variable", "problem"), START_UP_ERRORS, ids=[v for v, _ in START_UP_ERRORS]
)
def test_start_up_error_exits_with_one_line(preload, variable, problem):
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        *preload,
        "--bind",
        f"127.0.0.1:{free_port()}",
        "--workers",
        "1",
        "firefly.main:app",
        "-e",
        variable,
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIREFLY_")}
    result = subprocess.run(
        command,
        cwd=APPS,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=30,
    )
    output = result.stdout
    assert result.returncode != 0, output
    assert "Traceback" not in output, output
    lines = [line for line in output.splitlines() if problem in line]
    assert len(lines) == 1, output
    assert "firefly" in lines[0], output


# Errors do not take the server down.


@pytest.mark.parametrize("threads", [[], ["--threads", "2"]], ids=["sync", "gthread"])
def test_keeps_serving_after_each_kind_of_error(gunicorn_server, threads):
    args = [
        *threads,
        "firefly.main:app",
        "-e",
        "FIREFLY_FUNCTIONS=funcs.square,funcs.fail,funcs.unserializable",
        "-e",
        "FIREFLY_MAX_CONTENT_LENGTH=1024",
    ]
    with gunicorn_server(*args) as server, requests.Session() as session:
        url = server.url

        def good_call() -> None:
            answer = session.post(url + "square", json={"n": 4}, timeout=TIMEOUT)
            assert (answer.status_code, answer.json()) == (200, 16)

        malformed = session.post(url + "square", data=b'{"n": 4', timeout=TIMEOUT)
        assert "JSON" in assert_json_error(malformed, 400)
        good_call()

        missing = session.post(url + "square", json={}, timeout=TIMEOUT)
        assert "'n'" in assert_json_error(missing, 422)
        good_call()

        raised = session.post(url + "fail", json={}, timeout=TIMEOUT)
        assert assert_json_error(raised, 500) == "ValueError: boom"
        good_call()

        unencodable = session.post(url + "unserializable", json={}, timeout=TIMEOUT)
        assert_json_error(unencodable, 500)
        good_call()

        assert_json_error(session.post(url + "nosuch", json={}, timeout=TIMEOUT), 404)
        good_call()

        wrong_method = session.get(url + "square", timeout=TIMEOUT)
        assert_json_error(wrong_method, 405)
        assert "POST" in wrong_method.headers["Allow"]
        good_call()

        too_large = session.post(
            url + "square", data=b'{"n": "' + b"x" * 4000 + b'"}', timeout=TIMEOUT
        )
        assert_json_error(too_large, 413)
        good_call()

        assert server.process.poll() is None


# Concurrency.


@pytest.mark.parametrize("threads", [["--threads", "4"], []], ids=["gthread-4", "sync-1"])
def test_fifty_concurrent_requests_all_succeed(gunicorn_server, threads):
    with gunicorn_server(*threads, "firefly.main:app", "-e", "FIREFLY_FUNCTIONS=funcs.slow") as s:

        def call(_: int) -> tuple[int, object]:
            answer = requests.post(s.url + "slow", json={}, timeout=30)
            return answer.status_code, answer.json()

        with concurrent.futures.ThreadPoolExecutor(max_workers=50) as pool:
            results = list(pool.map(call, range(50)))
    assert results == [(200, "done")] * 50
