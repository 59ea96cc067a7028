"""``firefly --models`` and ``--model`` as real processes: serving, start-up errors, the Client."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import requests

import firefly

from ..conftest import APPS, firefly_command, on_each_server
from ..modelfiles import churn_model, regression_model, save_repository, save_version

RECORD = {"score_1": 1.0, "score_2": 2.0, "age": 30}
PASSENGER = {"sex": "female", "age": None, "fare": 20.0, "embarked": "S"}


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    return save_repository(tmp_path)


@on_each_server
def test_serves_every_model_and_version(firefly_server, repository: Path) -> None:
    with firefly_server("--models", str(repository), "--workers", "2") as server:
        url = server.url
        response = requests.post(url + "churn/predict", json=[RECORD, RECORD], timeout=10)
        assert response.json() == [1, 1]
        assert response.headers["X-Model-Version"] == "v2"
        v1 = requests.post(url + "churn/v1/predict_proba", json=RECORD, timeout=10)
        assert v1.headers["X-Model-Version"] == "v1"
        assert set(v1.json()) == {"0", "1"}
        survival = requests.post(url + "titanic/predict_proba", json=PASSENGER, timeout=10).json()
        assert sum(survival.values()) == pytest.approx(1.0)
        missing = requests.post(url + "churn/predict", json={"age": 1}, timeout=10)
        assert missing.status_code == 422
        assert missing.json()["error"] == "Missing keys: 'score_1', 'score_2'"
        unknown = requests.post(url + "churn/v9/predict", json=RECORD, timeout=10)
        assert unknown.status_code == 404
        assert unknown.json()["error"] == (
            "Trained model version 'v9' of model 'churn' was not found; versions: v1, v2"
        )
        ready = requests.get(url + "-/ready", timeout=10).json()
        assert ready["models"] == {
            "churn": {"v1": "loaded", "v2": "loaded"},
            "titanic": {"v1": "loaded"},
        }
        assert requests.get(url + "churn", timeout=10).json()["versions"] == ["v1", "v2"]


def test_one_file_and_functions_together(firefly_server, tmp_path: Path) -> None:
    import joblib

    joblib.dump(regression_model(), tmp_path / "score.joblib")
    with firefly_server("funcs.square", "--model", f"score={tmp_path / 'score.joblib'}") as server:
        assert requests.post(server.url + "square", json={"n": 4}, timeout=10).json() == 16
        response = requests.post(server.url + "score/predict", json=RECORD, timeout=10)
        assert response.json() == pytest.approx(5.0)
        assert response.headers["X-Model-Version"] == "1"
        index = requests.get(server.url, timeout=10).json()
        assert list(index["functions"]) == ["square"]
        assert list(index["models"]) == ["score"]


def test_the_client_calls_models(firefly_server, repository: Path) -> None:
    import pandas as pd

    with firefly_server("--models", str(repository), "--token", "abcd") as server:
        client = firefly.Client(server.url, auth_token="abcd")
        assert client.churn.predict(RECORD) == 1
        assert client.churn.predict([RECORD, RECORD]) == [1, 1]
        frame = pd.DataFrame([PASSENGER, {**PASSENGER, "sex": "male", "age": 40.0}])
        probabilities = client.titanic.predict_proba(frame)
        assert len(probabilities) == 2
        assert probabilities[0]["1"] > probabilities[1]["1"]
        records = frame.to_dict("records")  # NaN for the missing age: sent as null
        assert client.titanic.predict_proba(records) == probabilities
        assert {"churn", "titanic"} <= set(dir(client))
        older = client.model("churn", version="v1")
        assert older.describe()["version"] == "v1"
        with pytest.raises(firefly.ValidationError, match="Missing keys: 'score_1', 'score_2'"):
            older.predict({"age": 3})
        with pytest.raises(firefly.FireflyError, match="Trained model version 'v7'"):
            client.model("churn", version="v7").predict(RECORD)
        with pytest.raises(firefly.FireflyError):  # the token is needed for models too
            firefly.Client(server.url).churn.predict(RECORD)


def _unknown_kind_named_by_file(root: Path) -> None:
    folder = root / "churn" / "v1"
    folder.mkdir(parents=True)
    (folder / "model.h5").write_bytes(b"x")
    (folder / "model.yml").write_text("file: model.h5\n")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda root: (root / "churn" / "v1").mkdir(parents=True), "no model file in"),
        (
            lambda root: save_version(root, "churn", "predict", churn_model()),
            "version 'predict' is named like a method",
        ),
        (
            lambda root: save_version(
                root, "churn", "v1", churn_model(), {"methods": ["transform"]}
            ),
            "has no method 'transform'",
        ),
        (
            lambda root: (
                (root / "churn" / "v1").mkdir(parents=True)
                or (root / "churn" / "v1" / "model.joblib").write_bytes(b"garbage")
            ),
            "cannot load",
        ),
        (_unknown_kind_named_by_file, "unknown kind '.h5'"),
    ],
)
def test_start_up_problems_are_one_line(tmp_path: Path, make, message: str) -> None:
    root = tmp_path / "models"
    root.mkdir()
    make(root)
    result = subprocess.run(
        firefly_command("--models", str(root), "--bind", "127.0.0.1:0"),
        cwd=APPS,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: model 'churn'")
    assert message in lines[0]
