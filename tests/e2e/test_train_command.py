"""The real ``firefly train`` command, run in a folder with a CSV and a training module."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
from pathlib import Path

import joblib
import pandas as pd
import pytest
import requests
import yaml

from ..conftest import firefly_command
from ..test_training import write_project
from .terminal import on_a_terminal

TIMEOUT = 120
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def train(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run ``firefly train ARGS`` in ``cwd``, with no terminal."""
    return subprocess.run(
        firefly_command("train", *args),
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture
def project(tmp_path: Path) -> str:
    return write_project(tmp_path)


def test_train_writes_a_version_and_prints_its_folder(tmp_path, project):
    result = train(tmp_path, f"{project}.fit", "data.csv", "--model", "titanic")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "models/titanic/v1\n"
    steps = result.stderr.splitlines()
    assert [line.split(":")[0] for line in steps] == [
        "read data.csv",
        f"fitted {project}.fit",
        "wrote models/titanic/v1",
    ]
    assert not ANSI.search(result.stderr)  # no terminal, no progress bar
    folder = tmp_path / "models" / "titanic" / "v1"
    described = yaml.safe_load((folder / "model.yml").read_text())
    frame = pd.read_csv(tmp_path / "data.csv")
    assert described["features"] == {
        "fare": "float64",
        "age": "int64",
        "sex": str(frame["sex"].dtype),
    }
    assert described["training"]["rows"] == 60
    checksum = hashlib.sha256((tmp_path / "data.csv").read_bytes()).hexdigest()
    assert described["training"]["data_sha256"] == checksum
    assert set(described["training"]["metrics"]) == {"accuracy", "classes", "note"}
    model = joblib.load(folder / "model.joblib")
    assert model.predict_proba(frame).shape == (60, 2)


def test_each_run_writes_the_next_version(tmp_path, project):
    args = [f"{project}.plain", "data.csv", "--model", "churn"]
    outputs = [train(tmp_path, *args).stdout for _ in range(2)]
    assert outputs == ["models/churn/v1\n", "models/churn/v2\n"]
    refused = train(tmp_path, *args, "--version", "v2")
    assert refused.returncode == 1
    assert refused.stderr.splitlines()[-1] == (
        "Error: version folder 'models/churn/v2' exists already: choose another --version,"
        " or leave it out for the next one"
    )
    versions = sorted(p.name for p in (tmp_path / "models" / "churn").iterdir())
    assert versions == ["v1", "v2"]  # and no hidden folder left behind


def test_the_models_folder_comes_from_the_environment(tmp_path, project):
    result = train(
        tmp_path, f"{project}.plain", "data.csv", "--model", "m", env={"FIREFLY_MODELS": "repo"}
    )
    assert result.stdout == "repo/m/v1\n"
    assert (tmp_path / "repo" / "m" / "v1" / "model.joblib").is_file()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["{m}.raises", "data.csv"], "Error: {m}.raises raised KeyError: 'churned' (--traceback"),
        (["{m}.fit", "nope.csv"], "Error: cannot read 'nope.csv': No such file or directory"),
        (["nosuch.fit", "data.csv"], "Error: cannot load 'nosuch.fit': no module named 'nosuch'"),
        (["{m}.returns_none", "data.csv"], "Error: {m}.returns_none returned NoneType"),
    ],
)
def test_an_error_is_one_line_and_writes_nothing(tmp_path, project, args, message):
    result = train(tmp_path, *[arg.format(m=project) for arg in args], "--model", "m")
    assert result.returncode == 1
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error")]
    assert len(errors) == 1 and errors[0].startswith(message.format(m=project))
    assert not (tmp_path / "models").exists()


def test_progress_shows_on_a_terminal(tmp_path, project):
    command = firefly_command("train", f"{project}.fit", "data.csv", "--model", "titanic")
    code, output = on_a_terminal(command, tmp_path, TIMEOUT)
    text = ANSI.sub("", output)
    assert code == 0, text
    assert "reading data.csv" in text  # the bar, while it reads
    assert "✓ read data.csv: 60 rows, 4 columns" in text
    assert f"✓ fitted {project}.fit: Pipeline in " in text
    assert "✓ wrote models/titanic/v1: model.joblib, model.yml" in text
    assert text.rstrip().endswith("models/titanic/v1")
    assert (tmp_path / "models" / "titanic" / "v1" / "model.yml").is_file()


def test_the_versions_trained_are_served(tmp_path, project, firefly_server):
    pytest.importorskip("firefly.models.feature", reason="firefly --models is not there yet")
    for _ in range(2):
        assert train(tmp_path, f"{project}.fit", "data.csv", "--model", "titanic").returncode == 0
    with firefly_server("--models", "models", cwd=tmp_path) as server:
        record = {"age": 30, "sex": "female", "fare": 80.5}
        for path in ("titanic/predict", "titanic/v1/predict"):
            response = requests.post(server.url + path, json=[record], timeout=10)
            assert response.status_code == 200, response.text
            assert response.json() in ([0], [1])
        assert response.headers["X-Model-Version"] == "v1"
        described = requests.get(server.url + "titanic", timeout=10).json()
        assert described["versions"] == ["v1", "v2"] and described["default_version"] == "v2"


@pytest.fixture
def onnx_available() -> None:
    for module in ("skl2onnx", "onnxruntime", "firefly.models.onnx"):
        pytest.importorskip(module, reason=f"--onnx needs {module}")


def test_onnx_writes_a_checked_copy_that_model_yml_names(tmp_path, project, onnx_available):
    result = train(tmp_path, f"{project}.fit", "data.csv", "--model", "titanic", "--onnx")
    assert result.returncode == 0, result.stderr
    assert "converted to ONNX: outputs within " in result.stderr
    folder = tmp_path / "models" / "titanic" / "v1"
    assert (folder / "model.onnx").stat().st_size > 0
    described = yaml.safe_load((folder / "model.yml").read_text())
    assert described["file"] == "model.onnx"
    assert described["training"]["onnx"]["tolerance"] == 1e-4


def test_the_onnx_copy_is_served(tmp_path, project, onnx_available, firefly_server):
    pytest.importorskip("firefly.models.feature", reason="firefly --models is not there yet")
    result = train(tmp_path, f"{project}.fit", "data.csv", "--model", "titanic", "--onnx")
    assert result.returncode == 0, result.stderr
    frame = pd.read_csv(tmp_path / "data.csv")
    expected = joblib.load(tmp_path / "models/titanic/v1/model.joblib").predict_proba(frame[:3])
    with firefly_server("--models", "models", cwd=tmp_path) as server:
        records = frame[["age", "sex", "fare"]][:3].to_dict("records")
        response = requests.post(server.url + "titanic/predict_proba", json=records, timeout=10)
        assert response.status_code == 200, response.text
        answers = [[row[label] for label in sorted(row)] for row in response.json()]
        assert abs(answers - expected).max() < 1e-4


def test_onnx_beyond_the_tolerance_writes_nothing(tmp_path, project, onnx_available):
    args = [f"{project}.fit", "data.csv", "--model", "titanic", "--onnx", "--onnx-tolerance", "0"]
    result = train(tmp_path, *args)
    assert result.returncode == 1
    last = result.stderr.splitlines()[-1]
    assert re.fullmatch(
        r"Error: the ONNX copy of the Pipeline differs from scikit-learn by up to \S+ in"
        r" predict_proba, beyond the tolerance 0; nothing was written .*",
        last,
    )
    assert not (tmp_path / "models").exists()
