"""Models served from files, in process: repository, records to DataFrame, endpoints, errors."""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import joblib
import pytest
import yaml
from openapi_spec_validator import validate

from firefly import Firefly
from firefly.config import load_config
from firefly.errors import ConfigError
from firefly.models.repository import natural_key

from .modelfiles import (
    churn_frame,
    churn_model,
    regression_model,
    save_repository,
    save_version,
    titanic_frame,
    titanic_model,
)

RECORD = {"score_1": 1.0, "score_2": 2.0, "age": 30}
OTHER = {"score_1": -1.0, "score_2": -2.0, "age": 40}


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    return save_repository(tmp_path)


def serve(models: Path | str, **settings: Any) -> Any:
    """The test client of an app serving ``models``; responses are closed by the caller."""
    return Firefly(models=str(models), **settings).test_client()


def test_one_record_gives_a_bare_result_and_the_version(repository: Path) -> None:
    client = serve(repository)
    response = client.post("/churn/predict", json=RECORD)
    assert response.status_code == 200
    assert response.json == 1
    assert response.headers["X-Model-Version"] == "v2"
    assert response.headers["Content-Type"] == "application/json"


def test_records_give_a_list_in_their_order(repository: Path) -> None:
    client = serve(repository)
    assert client.post("/churn/predict", json=[RECORD, OTHER, RECORD]).json == [1, 0, 1]
    assert client.post("/churn/predict", json=[]).json == []


def test_columns_and_data_are_accepted(repository: Path) -> None:
    client = serve(repository)
    body = {"columns": ["age", "score_2", "score_1"], "data": [[30, 2.0, 1.0], [40, -2.0, -1.0]]}
    assert client.post("/churn/predict", json=body).json == [1, 0]


def test_predictions_equal_the_models_own(repository: Path) -> None:
    frame, _ = churn_frame(rows=20, seed=5)
    expected = churn_model().predict_proba(frame)
    client = serve(repository)
    answer = client.post("/churn/predict_proba", json=frame.to_dict("records")).json
    got = [value for row in answer for value in (row["0"], row["1"])]
    assert got == pytest.approx(expected.ravel().tolist())


def test_a_version_is_chosen_by_path(repository: Path) -> None:
    client = serve(repository)
    v1 = client.post("/churn/v1/predict_proba", json=RECORD)
    v2 = client.post("/churn/v2/predict_proba", json=RECORD)
    assert v1.headers["X-Model-Version"] == "v1"
    assert v1.json != v2.json
    assert client.post("/churn/predict_proba", json=RECORD).json == v2.json


def test_the_default_version_is_the_highest_in_natural_order(tmp_path: Path) -> None:
    for version in ("v2", "v10", "v9"):
        save_version(tmp_path, "churn", version, churn_model())
    response = serve(tmp_path).post("/churn/predict", json=RECORD)
    assert response.headers["X-Model-Version"] == "v10"
    assert sorted(["v10", "v9", "v2", "1", "10", "2"], key=natural_key) == [
        "1",
        "2",
        "10",
        "v2",
        "v9",
        "v10",
    ]


def test_the_config_may_name_the_default_version(repository: Path, tmp_path: Path) -> None:
    config = tmp_path / "config.yml"
    config.write_text(
        yaml.safe_dump(
            {"models": {"churn": {"path": str(repository / "churn"), "default_version": "v1"}}}
        )
    )
    client = Firefly(settings=load_config({"config": str(config)}, {})).test_client()
    assert client.post("/churn/predict", json=RECORD).headers["X-Model-Version"] == "v1"


def test_predict_proba_answers_probabilities_by_class_label(repository: Path) -> None:
    answer = (
        serve(repository)
        .post(
            "/titanic/predict_proba",
            json={"sex": "female", "age": None, "fare": 20.0, "embarked": None},
        )
        .json
    )
    assert set(answer) == {"0", "1"}
    assert sum(answer.values()) == pytest.approx(1.0)
    assert answer["1"] > 0.5


def test_categorical_columns_and_missing_values_need_no_wrapper(repository: Path) -> None:
    frame, _ = titanic_frame(rows=30, seed=3)
    records = frame.astype(object).where(frame.notna(), None).to_dict("records")
    answer = serve(repository).post("/titanic/predict", json=records).json
    assert answer == titanic_model().predict(frame).tolist()


def test_unknown_version_names_the_versions(repository: Path) -> None:
    client = serve(repository)
    for path in ("/churn/v9/predict", "/churn/v9"):
        response = client.post(path, json=RECORD) if "predict" in path else client.get(path)
        assert response.status_code == 404
        assert response.json["error"] == (
            "Trained model version 'v9' of model 'churn' was not found; versions: v1, v2"
        )
        assert response.json["versions"] == ["v1", "v2"]


def test_unserved_method_is_404_naming_the_methods(repository: Path) -> None:
    response = serve(repository).post("/churn/transform", json=RECORD)
    assert response.status_code == 404
    assert response.json["error"] == (
        "model 'churn' version 'v2' has no method 'transform';"
        " methods: predict, predict_proba, decision_function"
    )


def test_missing_keys_are_named(repository: Path) -> None:
    client = serve(repository)
    response = client.post("/churn/predict", json={"age": 3})
    assert response.status_code == 422
    assert response.json["error"] == "Missing keys: 'score_1', 'score_2'"
    assert response.headers["X-Model-Version"] == "v2"
    batch = client.post("/churn/predict", json=[RECORD, {"score_1": 1, "age": 3}, {"age": 1}])
    assert batch.status_code == 422
    assert batch.json["error"] == "Missing keys: 'score_2' (row 1, and 1 more rows)"
    assert batch.json["errors"] == [
        {"row": 1, "missing": ["score_2"]},
        {"row": 2, "missing": ["score_1", "score_2"]},
    ]


def test_extra_keys_are_ignored_or_refused_as_configured(repository: Path, tmp_path: Path) -> None:
    extra = {**RECORD, "customer": "a-12"}
    assert serve(repository).post("/churn/predict", json=extra).json == 1
    config = tmp_path / "config.yml"
    config.write_text(
        yaml.safe_dump(
            {"models": {"churn": {"path": str(repository / "churn"), "extra": "forbid"}}}
        )
    )
    client = Firefly(settings=load_config({"config": str(config)}, {})).test_client()
    response = client.post("/churn/predict", json=extra)
    assert response.status_code == 422
    assert response.json["error"] == "Unknown keys: 'customer'"


def test_a_value_of_the_wrong_type_names_row_and_column(repository: Path) -> None:
    client = serve(repository)
    response = client.post("/churn/predict", json=[RECORD, {**RECORD, "age": "thirty"}])
    assert response.status_code == 422
    assert response.json["error"] == "row 1, column 'age': expected a number or null, got 'thirty'"
    nested = client.post("/churn/predict", json={**RECORD, "score_1": [1, 2]})
    assert nested.json["error"] == "column 'score_1': expected a number or null, got a JSON array"
    flag = client.post(
        "/titanic/predict", json={"sex": {"a": 1}, "age": 3, "fare": 1, "embarked": "S"}
    )
    assert flag.status_code == 422
    assert "column 'sex'" in flag.json["error"]


def test_null_in_an_integer_feature_is_a_missing_value(repository: Path) -> None:
    response = serve(repository).post("/churn/predict", json={**RECORD, "age": None})
    assert response.status_code == 500  # the pipeline has no imputer: its error is the answer
    assert response.json["error"].startswith("ValueError: ")


def test_malformed_bodies_are_400(repository: Path) -> None:
    client = serve(repository)
    assert client.post("/churn/predict", data=b"{").status_code == 400
    number = client.post("/churn/predict", json=3)
    assert number.status_code == 400
    assert "got a JSON number" in number.json["error"]
    row = client.post("/churn/predict", json=[RECORD, 3])
    assert row.status_code == 422
    assert row.json["error"] == "row 1: expected a JSON object of features, got a JSON number"
    split = client.post("/churn/predict", json={"columns": ["score_1"], "data": [[1]]})
    assert split.json["error"] == "Missing keys: 'score_2', 'age'"
    ragged = client.post(
        "/churn/predict", json={"columns": list(RECORD), "data": [[1, 2, 3], [1, 2]]}
    )
    assert ragged.status_code == 422
    assert ragged.json["error"].startswith('row 1 of "data": expected an array of 3 values')


def test_more_rows_than_max_rows_is_413(tmp_path: Path) -> None:
    save_version(tmp_path, "churn", "v1", churn_model(), {"max_rows": 2})
    client = serve(tmp_path)
    assert client.post("/churn/predict", json=[RECORD, RECORD]).status_code == 200
    response = client.post("/churn/predict", json=[RECORD] * 3)
    assert response.status_code == 413
    assert (
        response.json["error"] == "3 rows is more than the limit of 2 rows per request (max_rows)"
    )


def test_other_methods_on_a_model_endpoint(repository: Path) -> None:
    client = serve(repository)
    response = client.get("/churn/predict")
    assert response.status_code == 405
    assert response.headers["Allow"] == "POST, OPTIONS"
    assert client.options("/churn/v1/predict").status_code == 204


def test_describe_a_model_and_a_version(repository: Path) -> None:
    client = serve(repository)
    model = client.get("/churn").json
    assert model["versions"] == ["v1", "v2"]
    assert model["default_version"] == "v2"
    assert model["methods"] == ["predict", "predict_proba", "decision_function"]
    assert model["features"] == [
        {"name": "score_1", "dtype": "float64"},
        {"name": "score_2", "dtype": "float64"},
        {"name": "age", "dtype": "int64"},
    ]
    version = client.get("/churn/v1").json
    assert version["features"][2] == {"name": "age", "dtype": None}  # v1 has no model.yml
    assert version["classes"] == [0, 1]
    assert version["format"] == "joblib"
    assert len(version["sha256"]) == 64
    assert version["loaded_at"].endswith("+00:00")
    assert client.post("/churn/v1").status_code == 405


def test_models_are_in_the_index_ready_and_openapi(repository: Path) -> None:
    client = serve(repository)
    index = client.get("/", headers={"Accept": "application/json"}).json
    assert index["models"]["churn"] == {
        "path": "/churn",
        "versions": ["v1", "v2"],
        "default_version": "v2",
        "methods": ["predict", "predict_proba", "decision_function"],
    }
    ready = client.get("/-/ready").json
    assert ready["models"] == {
        "churn": {"v1": "loaded", "v2": "loaded"},
        "titanic": {"v1": "loaded"},
    }
    document = client.get("/openapi.json").json
    validate(document)
    operation = document["paths"]["/churn/predict"]["post"]
    record = operation["requestBody"]["content"]["application/json"]["schema"]["oneOf"][0]
    assert record["required"] == ["score_1", "score_2", "age"]
    assert record["properties"]["age"] == {"type": ["number", "null"]}
    assert "/churn/v1/predict_proba" in document["paths"]
    assert "/churn" in document["paths"]


def test_functions_and_models_are_served_together(repository: Path) -> None:
    app = Firefly(models=str(repository))

    @app.function
    def square(n: int) -> int:
        return n * n

    client = app.test_client()
    assert client.post("/square", json={"n": 4}).json == 16
    assert client.post("/churn/predict", json=RECORD).json == 1


def test_a_function_cannot_take_a_models_path(repository: Path) -> None:
    app = Firefly(models=str(repository))
    with pytest.raises(ConfigError, match="'/churn'"):
        app.add_route("/churn", lambda: 1, "churn")


def test_one_file_is_served_as_version_1(tmp_path: Path) -> None:
    joblib.dump(regression_model(), tmp_path / "score.joblib")
    config = load_config({"model": ["score=" + str(tmp_path / "score.joblib")]}, {})
    client = Firefly(settings=config).test_client()
    response = client.post("/score/1/predict", json=RECORD)
    assert response.headers["X-Model-Version"] == "1"
    assert response.json == pytest.approx(5.0)


def test_pickle_files_are_served(tmp_path: Path) -> None:
    folder = tmp_path / "churn" / "v1"
    folder.mkdir(parents=True)
    (folder / "model.pkl").write_bytes(pickle.dumps(churn_model()))
    assert serve(tmp_path).post("/churn/predict", json=RECORD).json == 1


def test_pre_and_postprocessors_run_around_the_method(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "processors.py").write_text(
        "def double_age(frame):\n"
        "    frame = frame.copy()\n"
        "    frame['age'] = frame['age'] * 2\n"
        "    return frame\n"
        "def labels(results):\n"
        "    return [{1: 'churn', 0: 'stays'}[r] for r in results]\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    manifest = {"preprocess": "processors.double_age", "postprocess": "processors.labels"}
    save_version(tmp_path / "models", "churn", "v1", churn_model(), manifest)
    client = serve(tmp_path / "models")
    assert client.post("/churn/predict", json=[RECORD, OTHER]).json == ["churn", "stays"]


@pytest.mark.parametrize(
    ("layout", "message"),
    [
        ({"churn/v1/model.txt": b"x"}, "no model file in"),
        ({"churn/v1/model.joblib": b"not a model"}, "cannot load"),
        ({"churn/predict/model.joblib": None}, "version 'predict' is named like a method"),
        ({"churn/v1/model.joblib": None, "churn/v1/model.pkl": None}, "holds several model files"),
        ({"v2/v1/model.joblib": None}, "model name 'v2' is reserved"),
        ({"churn/v1/model.yml": b"methods: [predict]\n"}, "no model file"),
        (
            {"churn/v1/model.joblib": None, "churn/v1/model.yml": b"methods: [transform]\n"},
            "has no method 'transform' (it has: predict, predict_proba, decision_function)",
        ),
        (
            {"churn/v1/model.joblib": None, "churn/v1/model.yml": b"metods: [predict]\n"},
            "unknown option 'metods'",
        ),
        (
            {"churn/v1/model.joblib": None, "churn/v1/model.yml": b"preprocess: nowhere.fn\n"},
            "preprocess: cannot load 'nowhere.fn'",
        ),
    ],
)
def test_problems_are_one_line_at_start_up(
    tmp_path: Path, layout: dict[str, bytes | None], message: str
) -> None:
    model = pickle.dumps(churn_model())
    for name, content in layout.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(model if content is None else content)
    with pytest.raises(ConfigError, match=None) as raised:
        Firefly(models=str(tmp_path))
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


def test_a_model_file_of_an_unknown_kind_is_refused(tmp_path: Path) -> None:
    (tmp_path / "churn.h5").write_bytes(b"x")
    with pytest.raises(
        ConfigError, match=r"unknown kind '\.h5'; expected one of \.joblib, \.pkl, \.skops, \.onnx"
    ):
        Firefly(settings=load_config({"model": [f"churn={tmp_path / 'churn.h5'}"]}, {}))


def test_a_model_without_feature_names_is_refused(tmp_path: Path) -> None:
    frame, label = churn_frame()
    save_version(tmp_path, "churn", "v1", churn_model().fit(frame.to_numpy(), label))
    with pytest.raises(ConfigError, match="has no feature names: fit it on a pandas DataFrame"):
        Firefly(models=str(tmp_path))


def test_model_flag_and_settings_are_validated() -> None:
    with pytest.raises(ConfigError, match="option --model: expected NAME=FILE"):
        load_config({"model": ["churn.joblib"]}, {})
    with pytest.raises(ConfigError, match="models: churn: expected a path"):
        Firefly(models={"churn": {"version": 1}})
    with pytest.raises(ConfigError, match=r"churn\.methods: unknown method 'fit'"):
        Firefly(models={"churn": {"path": "x", "methods": ["fit"]}})


def test_models_alone_need_no_functions(repository: Path) -> None:
    config = load_config({}, {"FIREFLY_MODELS": str(repository)})
    assert config.functions == ()
    assert config.models[0].path == str(repository)


def test_skops_files_load_trusted_types_only(tmp_path: Path) -> None:
    skops_io = pytest.importorskip("skops.io")
    folder = tmp_path / "models" / "churn" / "v1"
    folder.mkdir(parents=True)
    skops_io.dump(churn_model(), folder / "model.skops")
    assert serve(tmp_path / "models").post("/churn/predict", json=RECORD).json == 1

    (tmp_path / "custom.py").write_text(
        "from sklearn.linear_model import LogisticRegression\n"
        "class Custom(LogisticRegression):\n    pass\n"
    )
    sys.path.insert(0, str(tmp_path))
    try:
        import custom  # type: ignore[import-not-found]

        frame, label = churn_frame()
        skops_io.dump(custom.Custom().fit(frame, label), folder / "model.skops")
        with pytest.raises(ConfigError) as refused:
            Firefly(models=str(tmp_path / "models"))
        assert "model.skops holds types that are not trusted: custom.Custom" in str(refused.value)
        (folder / "model.yml").write_text("trusted: [custom.Custom]\n")
        assert serve(tmp_path / "models").post("/churn/predict", json=RECORD).json == 1
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("custom", None)


def test_without_pandas_serving_models_says_what_to_install(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "sys.modules['pandas'] = None  # as if it were not installed\n"
        "from firefly import Firefly\n"
        "from firefly.errors import ConfigError\n"
        "try:\n"
        f"    Firefly(models={str(tmp_path)!r})\n"
        "except ConfigError as err:\n"
        "    print(err)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == (
        "serving models needs pandas: pip install firefly-python[models]"
    )
