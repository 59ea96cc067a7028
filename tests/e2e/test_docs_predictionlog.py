"""docs/predictionlog.rst, run as written: its config file, its Python app, and its curl sessions
against the firefly command it shows, whose answers must be those shown ("…" stands for an id or
a time)."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import sqlalchemy
import yaml

from firefly.config import load_config

from ..conftest import EXAMPLES, firefly_command, free_port, serve, stop
from ..test_docs import DOCS, console_calls, named_block

PAGE = DOCS / "predictionlog.rst"
DOCUMENTED_URL = "http://127.0.0.1:8000/"
SESSIONS = (
    "predictionlog-observation",
    "predictionlog-feedback",
    "predictionlog-feedback-list",
)

pytestmark = pytest.mark.timeout(120)


def shown_pattern(shown: str) -> re.Pattern[str]:
    """The answer shown as a pattern: ``"…"`` any string, a bare ``…`` any number."""
    pattern = re.escape(shown)
    pattern = pattern.replace(re.escape('"…"'), '"[^"]*"').replace(re.escape("…"), r"[0-9.e-]+")
    return re.compile(pattern)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    shutil.copy(EXAMPLES / "funcs.py", tmp_path / "funcs.py")
    return tmp_path


def test_the_curl_sessions_answer_as_shown(folder: Path) -> None:
    [serve_words] = [words for words, _ in console_calls(named_block(PAGE, "predictionlog-serve"))]
    assert serve_words[0] == "firefly"
    port = free_port()
    args = firefly_command("--bind", f"127.0.0.1:{port}", *serve_words[1:])
    with serve(args, port, cwd=folder, log_dir=folder) as server:
        for name in SESSIONS:
            for words, shown in console_calls(named_block(PAGE, name)):
                assert words[0] == "curl", words
                words = [word.replace(DOCUMENTED_URL, server.url) for word in words]
                answer = subprocess.run(
                    ["curl", "-s", *words[1:]], capture_output=True, text=True, timeout=30
                ).stdout
                assert shown_pattern(shown).fullmatch(answer), (shlex.join(words), answer, shown)
        stop(server.process)
    engine = sqlalchemy.create_engine(f"sqlite:///{folder / 'predictions.db'}")
    with engine.connect() as connection:
        logged = connection.exec_driver_sql(
            "SELECT function, observation_id, outcome FROM firefly_predictions"
        ).all()
    engine.dispose()
    assert [tuple(row) for row in logged] == [("square", "order-1", "17")]  # JSON text


def test_the_config_file_serves_as_it_says(folder: Path) -> None:
    config_text = named_block(PAGE, "predictionlog-config")
    (folder / "config.yml").write_text(config_text)
    config = load_config({"config": str(folder / "config.yml")}, {})
    options = {function.name: function.options for function in config.functions}
    assert config.prediction_log == yaml.safe_load(config_text)["prediction_log"]
    assert (options["cube"].log, options["score"].log) == (False, True)
    port = free_port()
    args = firefly_command("--bind", f"127.0.0.1:{port}", "-c", "config.yml")
    with serve(args, port, cwd=folder, log_dir=folder) as server:
        import requests

        logged = {
            name: "X-Prediction-ID"
            in requests.post(server.url + name, json=body, timeout=10).headers
            for name, body in (
                ("square", {"n": 2}),
                ("cube", {"n": 2}),
                ("score", {"id": 7, "income": 1}),
            )
        }
        assert logged == {"square": True, "cube": False, "score": True}
        again = requests.post(server.url + "score", json={"id": 7, "income": 2}, timeout=10)
        assert again.status_code == 409  # the observation id comes from the argument 'id'
        stop(server.process)


def test_the_python_app_logs_its_function(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {}
    exec(compile(named_block(PAGE, "predictionlog-python"), str(PAGE), "exec"), namespace)
    app = namespace["app"]
    client = app.test_client()  # type: ignore[attr-defined]
    response = client.post("/score", json={"id": 1, "income": 50_000})
    assert response.get_json() == 0.5 and response.headers["X-Prediction-ID"]
    assert client.post("/score", json={"id": 1, "income": 1}).status_code == 409
    app.shutdown()  # type: ignore[attr-defined]
    assert (tmp_path / "predictions.db").exists()
