"""The Open Inference Protocol (V2), in process: every route, both input layouts, binary data,
and every error."""

from __future__ import annotations

import gzip
import json
import shutil
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tritonclient.http as triton
from openapi_spec_validator import validate

from firefly import Firefly
from firefly.features import Feature
from firefly.routes.health import HealthFeature

from .modelfiles import (
    CHURN_FEATURES,
    churn_frame,
    churn_model,
    regression_model,
    save_version,
    titanic_frame,
    titanic_model,
)

TITANIC = {
    "sex": ["male", "female"],
    "age": [22.0, 5.0],
    "fare": [7.25, 71.3],
    "embarked": ["S", "C"],
}
CHURN_ROWS = [[1.0, 2.0, 30], [-1.0, -2.0, 40]]


class BrokenModel:
    """A model whose predict raises, as a bug in a model would."""

    feature_names_in_ = np.array(["x"])

    def predict(self, frame: Any) -> Any:
        raise ArithmeticError("the model is broken")


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``churn`` v1 and v2 (v2 with dtypes in model.yml), ``titanic`` 1 (no dtypes) and
    ``prices`` 1 (a regression); tests that change it copy it first."""
    models = tmp_path_factory.mktemp("v2") / "models"
    save_version(models, "churn", "v1", churn_model(c=0.01))
    save_version(models, "churn", "v2", churn_model(), {"features": CHURN_FEATURES})
    save_version(models, "titanic", "1", titanic_model())
    save_version(models, "prices", "1", regression_model())
    return models


def serve(models: Path, **settings: Any) -> Any:
    return Firefly(models=str(models), **settings).test_client()


def column(name: str, values: list[Any], datatype: str, shape: list[int] | None = None) -> dict:
    shape = [len(values)] if shape is None else shape
    return {"name": name, "shape": shape, "datatype": datatype, "data": values}


def titanic_inputs() -> list[dict[str, Any]]:
    types = {"sex": "BYTES", "age": "FP64", "fare": "FP64", "embarked": "BYTES"}
    return [column(name, values, types[name]) for name, values in TITANIC.items()]


def infer(client: Any, path: str, body: Any, **kwargs: Any) -> Any:
    """POST a JSON body as tritonclient does: without a Content-Type."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post(path, data=data, **kwargs)


def outputs(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.json
    return {output["name"]: output for output in response.json["outputs"]}


# -- server: metadata and health


def test_server_metadata_names_firefly_and_the_binary_extension(repository: Path) -> None:
    body = serve(repository).get("/v2").json
    assert body["name"] == "firefly" and body["extensions"] == ["binary_tensor_data"]
    assert isinstance(body["version"], str)


def test_the_server_is_live_and_ready(repository: Path) -> None:
    client = serve(repository)
    assert client.get("/v2/health/live").json == {"live": True}
    assert client.get("/v2/health/ready").json == {"ready": True}


def test_a_stopping_worker_is_not_ready_and_neither_are_its_models(repository: Path) -> None:
    app = Firefly(models=str(repository))
    client = app.test_client()
    assert client.get("/v2/health/ready").status_code == 200
    health = next(f for f in app.features if isinstance(f, HealthFeature)).health
    health.stop()
    response = client.get("/v2/health/ready")
    assert response.status_code == 503
    assert response.json["error"] == "not ready: stopping" and response.json["ready"] is False
    assert client.get("/v2/models/churn/ready").status_code == 503
    assert client.get("/v2/health/live").status_code == 200


def test_the_health_checks_need_no_token_but_the_rest_does(repository: Path) -> None:
    client = serve(repository, token="abcd")
    assert client.get("/v2/health/live").status_code == 200
    assert client.get("/v2/health/ready").status_code == 200
    for path in ("/v2", "/v2/models/churn", "/v2/models/churn/ready"):
        assert client.get(path).status_code == 401, path
    assert infer(client, "/v2/models/churn/infer", {}).status_code == 401
    headers = {"Authorization": "Token abcd"}
    assert client.get("/v2/models/churn", headers=headers).status_code == 200


def test_token_for_health_covers_the_v2_health_checks(repository: Path) -> None:
    client = serve(repository, token="abcd", token_for_health=True)
    assert client.get("/v2/health/live").status_code == 401
    assert client.get("/v2/health/ready").status_code == 401


# -- models: metadata and readiness


def test_model_metadata_gives_inputs_with_their_datatypes_and_outputs(repository: Path) -> None:
    body = serve(repository).get("/v2/models/churn").json
    assert body == {
        "name": "churn",
        "versions": ["v1", "v2"],
        "platform": "sklearn",
        "inputs": [
            {"name": "score_1", "datatype": "FP64", "shape": [-1]},
            {"name": "score_2", "datatype": "FP64", "shape": [-1]},
            {"name": "age", "datatype": "INT64", "shape": [-1]},
        ],
        "outputs": [
            {"name": "predict", "datatype": "INT64", "shape": [-1]},
            {
                "name": "predict_proba",
                "datatype": "FP64",
                "shape": [-1, 2],
                "parameters": {"classes": [0, 1]},
            },
            {"name": "decision_function", "datatype": "FP64", "shape": [-1]},
        ],
    }


def test_a_feature_without_a_recorded_dtype_is_bytes(repository: Path) -> None:
    body = serve(repository).get("/v2/models/churn/versions/v1").json
    assert [tensor["datatype"] for tensor in body["inputs"]] == ["BYTES"] * 3
    assert body["versions"] == ["v1", "v2"]


def test_a_regression_predicts_fp64(repository: Path) -> None:
    body = serve(repository).get("/v2/models/prices").json
    assert body["outputs"] == [{"name": "predict", "datatype": "FP64", "shape": [-1]}]


@pytest.mark.parametrize(
    "path",
    ["/v2/models/churn/ready", "/v2/models/churn/versions/v1/ready", "/v2/models/titanic/ready"],
)
def test_a_loaded_version_is_ready(repository: Path, path: str) -> None:
    response = serve(repository).get(path)
    assert response.status_code == 200 and response.json["ready"] is True


UNKNOWN_VERSION = "Trained model version 'v9' of model 'churn' was not found; versions: v1, v2"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v2/models/churn/versions/v9"),
        ("GET", "/v2/models/churn/versions/v9/ready"),
        ("POST", "/v2/models/churn/versions/v9/infer"),
    ],
)
def test_an_unknown_version_is_the_rest_endpoints_404(
    repository: Path, method: str, path: str
) -> None:
    client = serve(repository)
    response = client.open(path, method=method, data=b"{}")
    assert response.status_code == 404
    assert response.json["error"] == UNKNOWN_VERSION
    assert client.post("/churn/v9/predict", json={}).json["error"] == UNKNOWN_VERSION


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v2/models/nope"),
        ("GET", "/v2/models/nope/ready"),
        ("GET", "/v2/models/nope/versions/1"),
        ("POST", "/v2/models/nope/infer"),
        ("POST", "/v2/models/nope/versions/1/infer"),
    ],
)
def test_an_unknown_model_is_404_naming_the_models(
    repository: Path, method: str, path: str
) -> None:
    response = serve(repository).open(path, method=method, data=b"{}")
    assert response.status_code == 404
    assert response.json["error"] == "model 'nope' was not found; models: churn, prices, titanic"


# -- infer: layouts, outputs, versions


def test_one_input_per_column_predicts_as_the_rest_endpoint(repository: Path) -> None:
    client = serve(repository)
    response = infer(client, "/v2/models/titanic/infer", {"id": "42", "inputs": titanic_inputs()})
    records = [dict(zip(TITANIC, row, strict=True)) for row in zip(*TITANIC.values(), strict=True)]
    assert response.json == {
        "model_name": "titanic",
        "model_version": "1",
        "id": "42",
        "outputs": [
            {
                "name": "predict",
                "shape": [2],
                "datatype": "INT64",
                "data": client.post("/titanic/predict", json=records).json,
            }
        ],
    }
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["X-Model-Version"] == "1"


def test_columns_may_be_n_by_1_nested_and_in_any_order(repository: Path) -> None:
    inputs = [
        column(
            name,
            [[value] for value in values],
            "FP64" if name in ("age", "fare") else "BYTES",
            [2, 1],
        )
        for name, values in reversed(TITANIC.items())
    ]
    predict = outputs(infer(serve(repository), "/v2/models/titanic/infer", {"inputs": inputs}))
    assert predict["predict"]["data"] == [0, 1]


@pytest.mark.parametrize(
    "data", [[1.0, 2.0, 30, -1.0, -2.0, 40], CHURN_ROWS], ids=["flat", "nested"]
)
def test_one_2d_input_holds_the_features_in_order(repository: Path, data: list[Any]) -> None:
    body = {"inputs": [{"name": "input-0", "shape": [2, 3], "datatype": "FP64", "data": data}]}
    predict = outputs(infer(serve(repository), "/v2/models/churn/infer", body))["predict"]
    assert predict == {"name": "predict", "shape": [2], "datatype": "INT64", "data": [1, 0]}


def test_predict_proba_is_n_by_classes_with_the_class_labels(repository: Path) -> None:
    frame, _ = titanic_frame(rows=5, seed=3)
    frame = frame.fillna({"embarked": "S"})
    inputs = [  # a missing age is null in JSON
        column(
            name,
            frame[name].astype(object).where(frame[name].notna(), None).tolist(),
            "BYTES" if name in ("sex", "embarked") else "FP64",
        )
        for name in frame.columns
    ]
    assert None in inputs[1]["data"]
    body = {"inputs": inputs, "outputs": [{"name": "predict_proba"}, {"name": "predict"}]}
    got = outputs(infer(serve(repository), "/v2/models/titanic/infer", body))
    proba = got["predict_proba"]
    assert proba["shape"] == [5, 2] and proba["datatype"] == "FP64"
    assert proba["parameters"] == {"classes": [0, 1]}
    expected = titanic_model().predict_proba(frame)
    assert proba["data"] == pytest.approx(expected.ravel().tolist())
    assert list(got) == ["predict_proba", "predict"]


def test_the_default_and_a_named_version_answer(repository: Path) -> None:
    client = serve(repository)
    body = {
        "inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP64", "data": [[0.3, 0.1, 50]]}],
        "outputs": [{"name": "predict_proba"}],
    }
    v2 = infer(client, "/v2/models/churn/infer", body)
    v1 = infer(client, "/v2/models/churn/versions/v1/infer", body)
    assert v2.json["model_version"] == "v2" and v1.json["model_version"] == "v1"
    assert v1.headers["X-Model-Version"] == "v1"
    assert v1.json["outputs"][0]["data"] != v2.json["outputs"][0]["data"]


def test_a_regression_answers_fp64(repository: Path) -> None:
    frame, _ = churn_frame(rows=3)
    body = {"inputs": [column(name, frame[name].tolist(), "FP64") for name in frame.columns]}
    predict = outputs(infer(serve(repository), "/v2/models/prices/infer", body))["predict"]
    assert predict["datatype"] == "FP64"
    assert predict["data"] == pytest.approx(regression_model().predict(frame).tolist())


def test_no_rows_give_empty_outputs(repository: Path) -> None:
    body = {
        "inputs": [{"name": "x", "shape": [0, 3], "datatype": "FP64", "data": []}],
        "outputs": [{"name": "predict"}, {"name": "predict_proba"}],
    }
    got = outputs(infer(serve(repository), "/v2/models/churn/infer", body))
    assert got["predict"] == {"name": "predict", "shape": [0], "datatype": "INT64", "data": []}
    assert got["predict_proba"]["shape"] == [0, 2] and got["predict_proba"]["data"] == []


def test_calls_go_through_the_call_pipeline_of_the_model_method(repository: Path) -> None:
    calls = []

    class Recorder(Feature):
        def wrap(self, spec: Any, invoke: Any) -> Any:
            def recorded(**arguments: Any) -> Any:
                calls.append((spec.name, list(arguments)))
                return invoke(**arguments)

            return recorded

    app = Firefly(models=str(repository))
    app.add_feature(Recorder())
    body = {"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP64", "data": [1, 2, 3]}]}
    body["outputs"] = [{"name": "predict"}, {"name": "predict_proba"}]
    assert infer(app.test_client(), "/v2/models/churn/versions/v1/infer", body).status_code == 200
    assert calls == [("churn/v1/predict", ["frame"]), ("churn/v1/predict_proba", ["frame"])]


# -- the binary tensor data extension, as tritonclient sends and reads it


def triton_inputs(binary: bool) -> list[Any]:
    frame, _ = titanic_frame(rows=4, seed=1)
    frame = frame.fillna({"embarked": "S"})
    inputs = []
    for name in frame.columns:
        if name in ("sex", "embarked"):
            array, datatype = frame[name].to_numpy(dtype=object), "BYTES"
        else:
            array, datatype = frame[name].to_numpy(dtype="float64"), "FP64"
        tensor = triton.InferInput(name, [len(array)], datatype)
        inputs.append(tensor.set_data_from_numpy(array, binary_data=binary))
    return inputs


def triton_call(client: Any, path: str, inputs: list[Any], outputs: list[Any] | None) -> Any:
    body, header_length = triton.InferenceServerClient.generate_request_body(inputs, outputs)
    headers = {} if header_length is None else {"Inference-Header-Content-Length": header_length}
    response = client.post(path, data=body, headers=headers)
    assert response.status_code == 200, response.data[:500]
    length = response.headers.get("Inference-Header-Content-Length")
    result = triton.InferenceServerClient.parse_response_body(
        response.data, header_length=None if length is None else int(length)
    )
    return response, result


@pytest.mark.parametrize("binary_inputs", [True, False], ids=["binary-in", "json-in"])
@pytest.mark.parametrize("binary_outputs", [True, False], ids=["binary-out", "json-out"])
def test_tritonclients_bodies_are_read_and_its_answers_decoded(
    repository: Path, binary_inputs: bool, binary_outputs: bool
) -> None:
    frame, _ = titanic_frame(rows=4, seed=1)
    frame = frame.fillna({"embarked": "S"})
    model = titanic_model()
    asked = [
        triton.InferRequestedOutput("predict", binary_data=binary_outputs),
        triton.InferRequestedOutput("predict_proba", binary_data=binary_outputs),
    ]
    response, result = triton_call(
        serve(repository), "/v2/models/titanic/infer", triton_inputs(binary_inputs), asked
    )
    assert result.as_numpy("predict").tolist() == model.predict(frame).tolist()
    assert result.as_numpy("predict_proba") == pytest.approx(model.predict_proba(frame))
    assert result.get_output("predict_proba")["parameters"]["classes"] == [0, 1]
    content_type = "application/octet-stream" if binary_outputs else "application/json"
    assert response.headers["Content-Type"] == content_type


def test_without_outputs_tritonclient_asks_for_binary_data(repository: Path) -> None:
    response, result = triton_call(
        serve(repository), "/v2/models/titanic/infer", triton_inputs(True), None
    )
    predict = result.get_output("predict")
    assert predict["parameters"]["binary_data_size"] == 4 * 8
    assert result.as_numpy("predict").dtype == np.int64
    header = int(response.headers["Inference-Header-Content-Length"])
    assert len(response.data) == header + 4 * 8


@pytest.mark.parametrize(
    ("values", "datatype"),
    [(["yes", "no", "yes"], "BYTES"), ([True, False, True], "BOOL")],
    ids=["bytes", "bool"],
)
def test_labels_are_answered_in_their_datatype(
    tmp_path: Path, values: list[Any], datatype: str
) -> None:
    from sklearn.tree import DecisionTreeClassifier

    frame, label = churn_frame(rows=30)
    labels = [values[0] if flag else values[1] for flag in label]
    save_version(tmp_path, "tree", "1", DecisionTreeClassifier().fit(frame, labels))
    asked = [triton.InferRequestedOutput("predict")]
    array = frame.to_numpy(dtype="float64")[:3]
    tensor = triton.InferInput("x", list(array.shape), "FP64").set_data_from_numpy(array)
    _, result = triton_call(serve(tmp_path), "/v2/models/tree/infer", [tensor], asked)
    assert result.get_output("predict")["datatype"] == datatype
    expected = [values[0] if flag else values[1] for flag in label[:3]]
    answered = result.as_numpy("predict").tolist()
    assert [v.decode() if isinstance(v, bytes) else v for v in answered] == expected


def test_an_int64_column_in_binary(repository: Path) -> None:
    frame, _ = churn_frame(rows=3)
    inputs = []
    for name in frame.columns:
        array = frame[name].to_numpy()
        datatype = "INT64" if array.dtype == np.int64 else "FP64"
        inputs.append(triton.InferInput(name, [3], datatype).set_data_from_numpy(array))
    _, result = triton_call(serve(repository), "/v2/models/churn/infer", inputs, None)
    assert result.as_numpy("predict").tolist() == churn_model().predict(frame).tolist()


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [("gzip", gzip.compress), ("deflate", zlib.compress)],
)
def test_a_compressed_body_is_read(repository: Path, encoding: str, compress: Any) -> None:
    body, length = triton.InferenceServerClient.generate_request_body(triton_inputs(True))
    response = serve(repository).post(
        "/v2/models/titanic/infer",
        data=compress(body),
        headers={"Content-Encoding": encoding, "Inference-Header-Content-Length": str(length)},
    )
    assert response.status_code == 200


def test_the_openapi_document_has_the_v2_operations(repository: Path) -> None:
    document = serve(repository).get("/openapi.json").json
    validate(document)
    for path, method in [
        ("/v2", "get"),
        ("/v2/health/ready", "get"),
        ("/v2/models/churn", "get"),
        ("/v2/models/churn/ready", "get"),
        ("/v2/models/churn/infer", "post"),
        ("/v2/models/churn/versions/v1/infer", "post"),
    ]:
        assert document["paths"][path][method]["tags"] == ["v2"], path


def test_a_version_loaded_after_the_worker_started_is_503_until_the_next_worker(
    repository: Path, tmp_path: Path
) -> None:
    repository = Path(shutil.copytree(repository, tmp_path / "models"))
    app = Firefly(models=str(repository))
    client = app.test_client()
    assert client.get("/v2/models/churn/versions/v3").status_code == 404
    save_version(repository, "churn", "v3", churn_model())
    app.reload()
    assert client.get("/v2/models/churn/versions/v3").status_code == 200
    response = infer(client, "/v2/models/churn/versions/v3/infer", {})
    assert response.status_code == 503 and "was loaded after this worker" in response.json["error"]


# -- errors


def infer_error(repository: Path, body: Any, status: int, **kwargs: Any) -> str:
    response = infer(serve(repository), "/v2/models/churn/infer", body, **kwargs)
    assert response.status_code == status, response.json
    assert set(response.json) >= {"error", "request_id"}
    return response.json["error"]


ONE = {"name": "x", "shape": [1, 3], "datatype": "FP64", "data": [1, 2, 3]}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{", "request body is not valid JSON"),
        ([], 'the inference request must be a JSON object with "inputs"'),
        ({}, '"inputs" must be a non-empty array of tensors'),
        ({"inputs": []}, '"inputs" must be a non-empty array of tensors'),
        ({"inputs": [1]}, 'inputs[0] must be a tensor: an object with a "name" string'),
        ({"inputs": [{**ONE, "shape": [1, -3]}]}, "input 'x': \"shape\" must be an array"),
        ({"inputs": [{**ONE, "datatype": "BF16"}]}, "input 'x': datatype 'BF16' is not supported"),
        (
            {"inputs": [{**ONE, "data": [1, 2]}]},
            "input 'x': shape [1, 3] holds 3 elements, its data 2",
        ),
        (
            {"inputs": [{**ONE, "data": [{"a": 1}, 2, 3]}]},
            "input 'x': \"data\" holds a JSON object",
        ),
        (
            {"inputs": [{"name": "x", "shape": [1], "datatype": "FP64"}]},
            "input 'x' has no \"data\"",
        ),
        ({"inputs": [ONE, ONE]}, "input 'x' is given twice"),
        ({"inputs": [{**ONE, "parameters": []}]}, "input 'x': parameters must be a JSON object"),
        (
            {"inputs": [{**ONE, "parameters": {"shared_memory_region": "r"}}]},
            "input 'x': shared memory is not supported",
        ),
        ({"inputs": [ONE], "id": 7}, '"id" must be a string, got 7'),
        ({"inputs": [ONE], "outputs": {}}, '"outputs" must be an array'),
        ({"inputs": [ONE], "outputs": [{}]}, 'outputs[0] must be an object with a "name" string'),
        (
            {"inputs": [ONE], "outputs": [{"name": "explain"}]},
            "model 'churn' version 'v2' has no output 'explain';"
            " outputs: predict, predict_proba, decision_function",
        ),
        (
            {
                "inputs": [ONE],
                "outputs": [{"name": "predict", "parameters": {"classification": 2}}],
            },
            "output 'predict': classification is not supported",
        ),
        (
            {
                "inputs": [ONE],
                "outputs": [{"name": "predict", "parameters": {"shared_memory_region": "r"}}],
            },
            "output 'predict': shared memory is not supported",
        ),
    ],
)
def test_a_malformed_request_is_400(repository: Path, body: Any, message: str) -> None:
    assert infer_error(repository, body, 400).startswith(message)


def binary_body(size: int, data: bytes, header_length: int | None = None) -> tuple[bytes, dict]:
    header = json.dumps(
        {"inputs": [{**ONE, "data": None, "parameters": {"binary_data_size": size}}]}
    ).replace(', "data": null', "")
    length = len(header) if header_length is None else header_length
    return header.encode() + data, {"Inference-Header-Content-Length": str(length)}


@pytest.mark.parametrize(
    ("size", "data", "header_length", "message"),
    [
        (24, np.zeros(3).tobytes(), "x", "invalid Inference-Header-Content-Length header 'x'"),
        (24, np.zeros(3).tobytes(), 10**6, "Inference-Header-Content-Length 1000000 is not"),
        (16, np.zeros(2).tobytes(), None, "input 'x': 16 bytes of binary data do not hold shape"),
        (32, np.zeros(3).tobytes(), None, "input 'x': binary_data_size 32 does not fit"),
        (24, np.zeros(4).tobytes(), None, "the body holds 8 bytes more than its inputs'"),
    ],
)
def test_malformed_binary_data_is_400(
    repository: Path, size: int, data: bytes, header_length: Any, message: str
) -> None:
    body, headers = binary_body(size, data)
    if header_length is not None:
        headers["Inference-Header-Content-Length"] = str(header_length)
    assert infer_error(repository, body, 400, headers=headers).startswith(message)


def test_malformed_bytes_elements_are_400_and_non_utf8_text_422(repository: Path) -> None:
    client = serve(repository)
    for raw, status, message in [
        (b"\x05\x00", 400, "input 'sex': BYTES data ends inside an element's length"),
        (b"\x05\x00\x00\x00ab", 400, "input 'sex': BYTES element 0 of 5 bytes ends past"),
        (b"\x02\x00\x00\x00\xff\xfe", 422, "input 'sex': element 0 is not UTF-8 text"),
    ]:
        tensor = {"name": "sex", "shape": [1], "datatype": "BYTES"}
        tensor["parameters"] = {"binary_data_size": len(raw)}
        header = json.dumps({"inputs": [tensor]}).encode()
        response = client.post(
            "/v2/models/titanic/infer",
            data=header + raw,
            headers={"Inference-Header-Content-Length": str(len(header))},
        )
        assert response.status_code == status and response.json["error"].startswith(message)


def test_nan_in_the_json_is_a_missing_number_as_tritonclient_writes_it(repository: Path) -> None:
    inputs = titanic_inputs()
    inputs[1]["data"] = ["NaN", 5.0]
    body = json.dumps({"inputs": inputs}).replace('"NaN"', "NaN").encode()
    response = infer(serve(repository), "/v2/models/titanic/infer", body)
    assert response.status_code == 200, response.json
    assert infer_error(repository, b'{"inputs": NaN, ]', 400).startswith("request body is not")


def test_an_unsupported_or_broken_compression_is_400(repository: Path) -> None:
    message = "Content-Encoding 'br' is not supported: send gzip, deflate or none"
    assert infer_error(repository, b"{}", 400, headers={"Content-Encoding": "br"}) == message
    broken = infer_error(repository, b"{}", 400, headers={"Content-Encoding": "gzip"})
    assert broken.startswith("the body is not valid gzip data")
    cut = gzip.compress(json.dumps({"inputs": [ONE]}).encode())[:-12]
    truncated = infer_error(repository, cut, 400, headers={"Content-Encoding": "gzip"})
    assert truncated == "the body is not valid gzip data: it ends too soon"


def test_a_body_too_large_uncompressed_is_413(repository: Path) -> None:
    body = gzip.compress(json.dumps({"inputs": [ONE], "pad": "x" * 5000}).encode())
    response = (
        Firefly(models=str(repository), max_content_length=2000)
        .test_client()
        .post("/v2/models/churn/infer", data=body, headers={"Content-Encoding": "gzip"})
    )
    assert response.status_code == 413


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        (
            [column("score_1", [1.0], "FP64"), column("age", [3], "INT64")],
            "Missing keys: 'score_2'",
        ),
        (
            [
                column("score_1", [1.0, 2.0], "FP64"),
                column("score_2", ["a", 2.0], "BYTES"),
                column("age", [3, 4], "INT64"),
            ],
            "row 0, column 'score_2': expected a number or null, got 'a'",
        ),
        (
            [{**ONE, "shape": [1, 2], "data": [1, 2]}],
            "input 'x' has 2 columns, but model 'churn'"
            " version 'v2' has 3 features: score_1, score_2, age",
        ),
        (
            [column("score_1", [1.0, 2.0], "FP64"), column("score_2", [1.0], "FP64")],
            "input 'score_2' has 1 rows, input 'score_1' 2",
        ),
        (
            [column("score_1", [1.0, 2.0], "FP64", [1, 2]), column("age", [3], "INT64")],
            "input 'score_1' has shape [1, 2]: a feature column has shape [n] or [n, 1]",
        ),
        ([column("score_1", [1.0], "FP64", [])], "input 'score_1' has shape []"),
    ],
)
def test_data_that_does_not_fit_the_model_is_422(
    repository: Path, inputs: list[Any], message: str
) -> None:
    assert infer_error(repository, {"inputs": inputs}, 422).startswith(message)


def test_more_rows_than_max_rows_is_413(tmp_path: Path) -> None:
    save_version(tmp_path, "churn", "1", churn_model(), {"max_rows": 1})
    body = {"inputs": [{"name": "x", "shape": [2, 3], "datatype": "FP64", "data": CHURN_ROWS}]}
    assert infer(serve(tmp_path), "/v2/models/churn/infer", body).status_code == 413


def test_a_model_that_raises_is_500_naming_the_exception(tmp_path: Path) -> None:
    save_version(tmp_path, "broken", "1", BrokenModel())
    body = {"inputs": [column("x", [1.0], "FP64")]}
    response = infer(serve(tmp_path), "/v2/models/broken/infer", body)
    assert response.status_code == 500
    assert response.json["error"] == "ArithmeticError: the model is broken"
    assert response.json["type"] == "ArithmeticError"


def test_infer_takes_only_post(repository: Path) -> None:
    response = serve(repository).get("/v2/models/churn/infer")
    assert response.status_code == 405
    assert response.headers["Allow"] == "POST, OPTIONS"
