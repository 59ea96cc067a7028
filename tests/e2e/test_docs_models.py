"""docs/models.rst runs as written: its commands, its config, its model.yml and its errors."""

from __future__ import annotations

import doctest
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from firefly import Firefly
from firefly.config import load_config
from firefly.config.options import ModelOptions
from firefly.models.repository import read_manifest

from ..conftest import EXAMPLES, firefly_command, free_port, serve
from ..modelfiles import churn_model, regression_model, save_version
from ..test_docs import DOCS, console_calls, list_table_rows, named_block, read

PAGE = DOCS / "models.rst"


def run(words: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    assert words[0] == "firefly", words
    return subprocess.run(
        firefly_command(*words[1:]), cwd=cwd, capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="module")
def example(tmp_path_factory) -> Path:
    """A copy of examples/models/, where the page's first commands trained the churn model."""
    folder = tmp_path_factory.mktemp("docs") / "models"
    shutil.copytree(
        EXAMPLES / "models", folder, ignore=shutil.ignore_patterns("models", "__pycache__")
    )
    (cd, train, serve_words) = [
        words for words, _ in console_calls(named_block(PAGE, "models-first-example"))
    ]
    assert cd == ["cd", "examples/models"]
    trained = run(train, folder)
    assert trained.returncode == 0, trained.stderr
    assert trained.stdout.strip().splitlines()[-1] == "models/churn/v1"
    assert serve_words == ["firefly", "--models", "models"]
    return folder


def test_the_first_example_and_the_client_answer_as_shown(example: Path, tmp_path: Path) -> None:
    port = free_port()
    command = firefly_command("--models", "models", "--bind", f"127.0.0.1:{port}")
    with serve(command, port, cwd=example, log_dir=tmp_path) as server:
        for words, shown in console_calls(named_block(PAGE, "models-first-call")):
            assert words[:2] == ["curl", "-d"]
            path = "/" + words[3].split("/", 3)[3]
            answer = requests.post(server.url.rstrip("/") + path, data=words[2], timeout=10)
            assert answer.text == shown
        text = named_block(PAGE, "models-client-example").replace(
            "127.0.0.1:8000", f"127.0.0.1:{port}"
        )
        test = doctest.DocTestParser().get_doctest(text, {}, "models-client-example", None, 0)
        cwd = os.getcwd()
        os.chdir(example)  # the example reads churn.csv
        try:
            results = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE).run(test)
        finally:
            os.chdir(cwd)
        assert results.failed == 0


def test_the_config_example_serves_as_it_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    save_version(tmp_path / "models", "churn", "v1", churn_model(c=0.01))
    save_version(tmp_path / "models", "churn", "v2", churn_model())
    import joblib

    joblib.dump(regression_model(), tmp_path / "score.joblib")
    (tmp_path / "config.yml").write_text(named_block(PAGE, "models-config-example"))
    client = Firefly(settings=load_config({"config": "config.yml"}, {})).test_client()
    record = {"score_1": 1.0, "score_2": 2.0, "age": 30}
    churn = client.post("/churn/predict", json=record)
    assert churn.headers["X-Model-Version"] == "v1"  # default_version
    assert client.post("/churn/predict", json={**record, "x": 1}).status_code == 422  # forbid
    score = client.post("/score/predict", json=[record] * 2)
    assert score.headers["X-Model-Version"] == "2026-11"
    assert client.post("/score/predict", json=[record] * 1001).status_code == 413


def test_the_model_yml_example_and_table_cover_every_option(tmp_path: Path) -> None:
    (tmp_path / "model.yml").write_text(named_block(PAGE, "model-yml-example"))
    options, _ = read_manifest(tmp_path / "model.yml")
    assert options.methods == ("predict", "predict_proba")
    assert options.features == {
        "pclass": "int64",
        "sex": "object",
        "age": "float64",
        "embarked": "object",
    }
    assert options.trusted == ("titanic_features.FamilySize",)
    rows = list_table_rows(read(PAGE))
    for name in (*ModelOptions.names(), "training"):
        assert any(row.startswith(f"``{name}``\n") for row in rows), name


def test_the_start_up_error_is_the_real_one(tmp_path: Path) -> None:
    save_version(tmp_path / "models", "churn", "v3", churn_model(), {"methods": ["transform"]})
    ((words, shown),) = console_calls(named_block(PAGE, "models-start-up-error"))
    result = run(words, tmp_path)
    assert result.returncode != 0
    assert result.stderr.strip() == shown


def test_the_skops_refusal_is_the_real_one(tmp_path: Path) -> None:
    pytest.importorskip("skops.io")
    (tmp_path / "titanic_features.py").write_text(
        "from sklearn.base import BaseEstimator, TransformerMixin\n"
        "class FamilySize(TransformerMixin, BaseEstimator):\n"
        "    def fit(self, frame, label=None):\n"
        "        return self\n"
        "    def transform(self, frame):\n"
        "        return frame\n"
    )
    script = (
        "import skops.io\n"
        "from sklearn.pipeline import make_pipeline\n"
        "from sklearn.linear_model import LogisticRegression\n"
        "from titanic_features import FamilySize\n"
        "from tests.modelfiles import churn_frame\n"
        "frame, label = churn_frame()\n"
        "model = make_pipeline(FamilySize(), LogisticRegression()).fit(frame, label)\n"
        "skops.io.dump(model, 'models/titanic/v1/model.skops')\n"
    )
    (tmp_path / "models" / "titanic" / "v1").mkdir(parents=True)
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{Path(__file__).parents[2]}"}
    subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, check=True, timeout=60)
    ((words, shown),) = console_calls(named_block(PAGE, "models-skops-error"))
    result = run(words, tmp_path)
    assert result.returncode != 0
    assert result.stderr.strip() == shown
