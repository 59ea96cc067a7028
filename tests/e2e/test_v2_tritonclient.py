"""The Open Inference Protocol (V2) of a real ``firefly --models`` process, called with
tritonclient's HTTP client from PyPI, unchanged: health, metadata, and infer with binary
tensor data (its default) and without."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pytest
import tritonclient.http as triton
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from tritonclient.utils import InferenceServerException

from ..conftest import on_each_server
from ..modelfiles import churn_frame, churn_model, save_version

#: The passengers' features as ``firefly train`` records them in model.yml.
PASSENGER_DTYPES = {
    "pclass": "int64",
    "sex": "object",
    "age": "float64",
    "fare": "float64",
    "embarked": "object",
}
NUMPY_TYPES = {"INT64": np.int64, "FP64": np.float64, "BYTES": object}


def passengers(rows: int, seed: int) -> pd.DataFrame:
    """A class, two categorical columns and two numbers, with missing ages."""
    rng = np.random.default_rng(seed)
    age = rng.uniform(1, 80, size=rows)
    age[rng.random(rows) < 0.2] = np.nan
    return pd.DataFrame(
        {
            "pclass": rng.integers(1, 4, size=rows),
            "sex": rng.choice(["male", "female"], size=rows).astype(object),
            "age": age,
            "fare": rng.uniform(5, 100, size=rows),
            "embarked": rng.choice(["S", "C", "Q"], size=rows).astype(object),
        }
    )


def passenger_model() -> Any:
    """A classifier pipeline: one-hot categories, imputed and scaled numbers."""
    frame = passengers(300, seed=0)
    label = ((frame.sex == "female") | (frame.pclass == 1)).astype(int)
    columns = ColumnTransformer(
        [
            ("categories", OneHotEncoder(handle_unknown="ignore"), ["sex", "embarked"]),
            (
                "numbers",
                make_pipeline(SimpleImputer(), StandardScaler()),
                ["pclass", "age", "fare"],
            ),
        ]
    )
    return make_pipeline(columns, LogisticRegression()).fit(frame, label)


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``passengers`` 1 (with its dtypes in model.yml) and ``churn`` v1 and v2."""
    models = tmp_path_factory.mktemp("v2e2e") / "models"
    save_version(models, "passengers", "1", passenger_model(), {"features": PASSENGER_DTYPES})
    save_version(models, "churn", "v1", churn_model(c=0.01))
    save_version(models, "churn", "v2", churn_model())
    return models


@contextlib.contextmanager
def triton_client(url: str, **kwargs: Any) -> Iterator[triton.InferenceServerClient]:
    """tritonclient's client of a server at ``url`` (``http://host:port/``), always closed."""
    address = url.removeprefix("http://").rstrip("/")
    client = triton.InferenceServerClient(
        address, connection_timeout=10.0, network_timeout=30.0, **kwargs
    )
    try:
        yield client
    finally:
        client.close()


def column_inputs(
    metadata: dict[str, Any], frame: pd.DataFrame, binary: bool
) -> list[triton.InferInput]:
    """One input per feature, of the datatype the model's metadata gives."""
    inputs = []
    for tensor in metadata["inputs"]:
        name, datatype = tensor["name"], tensor["datatype"]
        array = frame[name].to_numpy(dtype=NUMPY_TYPES[datatype])
        infer_input = triton.InferInput(name, [len(frame)], datatype)
        inputs.append(infer_input.set_data_from_numpy(array, binary_data=binary))
    return inputs


def test_health_and_metadata(firefly_server, repository: Path) -> None:
    with firefly_server("--models", str(repository)) as server, triton_client(server.url) as client:
        assert client.is_server_live()
        assert client.is_server_ready()
        assert client.is_model_ready("passengers")
        assert client.is_model_ready("churn", "v1")
        assert not client.is_model_ready("churn", "v9")
        assert not client.is_model_ready("nope")
        assert client.get_server_metadata()["extensions"] == ["binary_tensor_data"]
        metadata = client.get_model_metadata("passengers")
        assert metadata["platform"] == "sklearn" and metadata["versions"] == ["1"]
        assert [(t["name"], t["datatype"]) for t in metadata["inputs"]] == [
            ("pclass", "INT64"),
            ("sex", "BYTES"),
            ("age", "FP64"),
            ("fare", "FP64"),
            ("embarked", "BYTES"),
        ]
        proba = next(t for t in metadata["outputs"] if t["name"] == "predict_proba")
        assert proba["shape"] == [-1, 2] and proba["parameters"]["classes"] == [0, 1]
        assert client.get_model_metadata("churn", "v1")["versions"] == ["v1", "v2"]


@on_each_server
@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_infer_one_input_per_column(firefly_server, repository: Path, binary: bool) -> None:
    frame = passengers(25, seed=7)
    model = joblib.load(repository / "passengers" / "1" / "model.joblib")
    with firefly_server("--models", str(repository)) as server, triton_client(server.url) as client:
        inputs = column_inputs(client.get_model_metadata("passengers"), frame, binary)
        outputs = [
            triton.InferRequestedOutput("predict", binary_data=binary),
            triton.InferRequestedOutput("predict_proba", binary_data=binary),
        ]
        result = client.infer("passengers", inputs, outputs=outputs, request_id="r-1")
    assert result.as_numpy("predict").tolist() == model.predict(frame).tolist()
    assert result.as_numpy("predict_proba") == pytest.approx(model.predict_proba(frame))
    response = result.get_response()
    assert response["id"] == "r-1" and response["model_version"] == "1"
    assert result.get_output("predict_proba")["parameters"]["classes"] == [0, 1]


@on_each_server
@pytest.mark.parametrize("version", ["", "v1"], ids=["default", "v1"])
def test_infer_one_2d_input(firefly_server, repository: Path, version: str) -> None:
    frame, _ = churn_frame(rows=10, seed=4)
    matrix = frame.to_numpy(dtype=np.float64)
    model = joblib.load(repository / "churn" / (version or "v2") / "model.joblib")
    with firefly_server("--models", str(repository)) as server, triton_client(server.url) as client:
        tensor = triton.InferInput("input-0", list(matrix.shape), "FP64")
        tensor.set_data_from_numpy(matrix)
        result = client.infer("churn", [tensor], model_version=version)  # default: binary outputs
    assert result.get_output("predict")["parameters"]["binary_data_size"] == 10 * 8
    assert result.as_numpy("predict").tolist() == model.predict(frame).tolist()
    assert result.get_response()["model_version"] == (version or "v2")


def test_an_unknown_version_and_bad_data_raise(firefly_server, repository: Path) -> None:
    frame, _ = churn_frame(rows=2)
    matrix = frame.to_numpy(dtype=np.float64)
    tensor = triton.InferInput("x", list(matrix.shape), "FP64").set_data_from_numpy(matrix)
    narrow = triton.InferInput("x", [2, 2], "FP64").set_data_from_numpy(matrix[:, :2].copy())
    with firefly_server("--models", str(repository)) as server, triton_client(server.url) as client:
        with pytest.raises(InferenceServerException) as unknown:
            client.infer("churn", [tensor], model_version="v9")
        with pytest.raises(InferenceServerException) as metadata:
            client.get_model_metadata("churn", "v9")
        with pytest.raises(InferenceServerException) as misfit:
            client.infer("churn", [narrow])
    message = "Trained model version 'v9' of model 'churn' was not found; versions: v1, v2"
    for error in (unknown.value, metadata.value):
        assert error.status() == "404" and error.message() == message
    assert misfit.value.status() == "422"
    assert misfit.value.message().startswith("input 'x' has 2 columns, but model 'churn'")


def test_a_token_is_sent_as_a_header_and_the_health_checks_need_none(
    firefly_server, repository: Path
) -> None:
    frame = passengers(3, seed=1)
    with (
        firefly_server("--models", str(repository), "--token", "abcd1234") as server,
        triton_client(server.url) as client,
    ):
        assert client.is_server_live() and client.is_server_ready()
        with pytest.raises(InferenceServerException) as refused:
            client.get_model_metadata("passengers")
        headers = {"Authorization": "Token abcd1234"}
        metadata = client.get_model_metadata("passengers", headers=headers)
        result = client.infer("passengers", column_inputs(metadata, frame, True), headers=headers)
    assert refused.value.status() == "401"
    assert len(result.as_numpy("predict")) == 3
