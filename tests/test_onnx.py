"""ONNX models: conversion with skl2onnx, serving on onnxruntime, and the check of a copy.

Every model is trained here on a few hundred rows and run on the real onnxruntime.
"""

from __future__ import annotations

import json
import multiprocessing
import sys

import numpy as np
import pytest

pd = pytest.importorskip("pandas")
pytest.importorskip("sklearn")
pytest.importorskip("onnxruntime")
pytest.importorskip("skl2onnx")

from sklearn.base import BaseEstimator, ClassifierMixin  # noqa: E402
from sklearn.compose import ColumnTransformer  # noqa: E402
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor  # noqa: E402
from sklearn.impute import SimpleImputer  # noqa: E402
from sklearn.linear_model import LinearRegression, LogisticRegression  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler  # noqa: E402

from firefly.errors import ConfigError  # noqa: E402
from firefly.models import onnx  # noqa: E402
from firefly.models.onnx import OnnxModel  # noqa: E402
from firefly.models.onnxconvert import OnnxMismatchError, check, convert  # noqa: E402

ROWS = 300
TOLERANCE = 1e-4


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture
def numeric(rng: np.random.Generator) -> tuple[pd.DataFrame, np.ndarray]:
    """Three float columns and an integer one, and a label of 0 or 1."""
    frame = pd.DataFrame(
        {
            "a": rng.normal(size=ROWS),
            "b": rng.normal(5, 2, size=ROWS),
            "c": rng.uniform(size=ROWS),
            "count": rng.integers(0, 10, size=ROWS),
        }
    )
    label = ((frame.a + frame.b / 3 - frame["count"] / 5 + rng.normal(0, 0.3, ROWS)) > 1).to_numpy()
    return frame, label.astype(int)


@pytest.fixture
def titanic(rng: np.random.Generator) -> tuple[pd.DataFrame, np.ndarray]:
    """Passengers, with missing ages and ports; the label is survival as strings."""
    frame = pd.DataFrame(
        {
            "pclass": rng.integers(1, 4, size=ROWS),
            "sex": rng.choice(["male", "female"], size=ROWS).astype(object),
            "embarked": rng.choice(["S", "C", "Q", None], size=ROWS),
            "age": np.where(rng.random(ROWS) < 0.2, np.nan, rng.uniform(1, 80, size=ROWS)),
            "fare": rng.exponential(30, size=ROWS),
        }
    )
    survived = (frame.sex == "female") | (frame.pclass == 1) | (frame.age < 10)
    return frame, np.where(survived, "survived", "died")


def titanic_pipeline(classifier: object | None = None) -> object:
    """Categories one-hot encoded (unknown ones ignored), numbers imputed and scaled."""
    columns = ColumnTransformer(
        [
            ("categories", OneHotEncoder(handle_unknown="ignore"), ["pclass", "sex", "embarked"]),
            ("numbers", make_pipeline(SimpleImputer(), StandardScaler()), ["age", "fare"]),
        ]
    )
    return make_pipeline(columns, classifier or LogisticRegression(max_iter=1000))


def served(estimator: object, frame: pd.DataFrame, tmp_path: object) -> OnnxModel:
    """The ONNX copy of ``estimator`` written to a file, loaded as a server loads it."""
    path = tmp_path / "model.onnx"  # type: ignore[operator]
    path.write_bytes(convert(estimator, frame))
    return OnnxModel(path)


def test_numeric_pipeline_answers_as_scikit_learn(numeric, tmp_path):
    frame, label = numeric
    estimator = make_pipeline(StandardScaler(), LogisticRegression()).fit(frame, label)
    model = served(estimator, frame, tmp_path)

    assert list(model.feature_names_in_) == ["a", "b", "c", "count"]
    assert model.feature_dtypes == dict.fromkeys(["a", "b", "c", "count"], "float32")
    assert model.classes_.tolist() == [0, 1]
    np.testing.assert_array_equal(model.predict(frame), estimator.predict(frame))
    assert model.predict(frame).shape == (ROWS,)
    probabilities = model.predict_proba(frame)
    assert probabilities.shape == (ROWS, 2)
    np.testing.assert_allclose(probabilities, estimator.predict_proba(frame), atol=TOLERANCE)
    assert check(estimator, model, frame) <= TOLERANCE
    assert not hasattr(model, "transform")


def test_one_row_at_a_time_answers_as_the_batch(numeric, tmp_path):
    frame, label = numeric
    estimator = make_pipeline(StandardScaler(), LogisticRegression()).fit(frame, label)
    model = served(estimator, frame, tmp_path)
    rows = [model.predict_proba(frame.iloc[[index]])[0] for index in range(5)]
    np.testing.assert_allclose(rows, model.predict_proba(frame.head(5)), atol=1e-6)


def test_titanic_pipeline_with_missing_values(titanic, tmp_path):
    frame, survived = titanic
    estimator = titanic_pipeline().fit(frame, survived)
    model = served(estimator, frame, tmp_path)

    assert list(model.feature_names_in_) == ["pclass", "sex", "embarked", "age", "fare"]
    assert model.feature_dtypes == {
        "pclass": "float32",
        "sex": "object",
        "embarked": "object",
        "age": "float32",
        "fare": "float32",
    }
    assert model.classes_.tolist() == ["died", "survived"]
    assert frame.embarked.isna().any() and frame.age.isna().any()
    np.testing.assert_array_equal(model.predict(frame), estimator.predict(frame))
    np.testing.assert_allclose(
        model.predict_proba(frame), estimator.predict_proba(frame), atol=TOLERANCE
    )
    assert check(estimator, model, frame) <= TOLERANCE


def test_missing_strings_are_none_or_nan_and_unknown_ones_are_ignored(titanic, tmp_path):
    frame, survived = titanic
    estimator = titanic_pipeline().fit(frame, survived)
    model = served(estimator, frame, tmp_path)
    calls = pd.DataFrame(
        {
            "pclass": [1, 3, 2, 2],
            "sex": ["female", "male", None, "unknown"],
            "embarked": [None, np.nan, "S", "Southampton"],
            "age": [np.nan, 30.0, 5.0, 40.0],
            "fare": [80.0, 7.5, 20.0, 10.0],
        }
    )
    np.testing.assert_allclose(
        model.predict_proba(calls), estimator.predict_proba(calls), atol=TOLERANCE
    )


def test_string_imputers_are_converted_to_look_for_the_missing_string(titanic, tmp_path):
    frame, survived = titanic
    categories = make_pipeline(
        SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore")
    )
    columns = ColumnTransformer(
        [
            ("categories", categories, ["sex", "embarked"]),
            ("numbers", SimpleImputer(), ["pclass", "age", "fare"]),
        ]
    )
    estimator = make_pipeline(columns, RandomForestClassifier(n_estimators=20, random_state=0))
    estimator.fit(frame, survived)
    model = served(estimator, frame, tmp_path)
    assert check(estimator, model, frame) <= TOLERANCE
    imputer = estimator[0].named_transformers_["categories"][0]
    assert np.isnan(imputer.missing_values)  # the estimator itself is left as it was


def test_regressor(numeric, tmp_path):
    frame, _ = numeric
    price = 100_000 + 20_000 * frame.a + 3_000 * frame["count"]
    estimator = make_pipeline(StandardScaler(), LinearRegression()).fit(frame, price)
    model = served(estimator, frame, tmp_path)

    assert not hasattr(model, "classes_")
    assert not hasattr(model, "predict_proba")
    predictions = model.predict(frame)
    assert predictions.shape == (ROWS,)
    np.testing.assert_allclose(predictions, estimator.predict(frame), rtol=TOLERANCE)
    # float32 keeps about 7 digits: a price is compared relative to its size
    assert check(estimator, model, frame) <= TOLERANCE


def test_forest_regressor_without_scaling(numeric, tmp_path):
    frame, _ = numeric
    target = frame.a * 3 + frame.c
    estimator = RandomForestRegressor(n_estimators=10, random_state=0).fit(frame, target)
    model = served(estimator, frame, tmp_path)
    np.testing.assert_allclose(model.predict(frame), estimator.predict(frame), atol=TOLERANCE)


def test_transformer(numeric, tmp_path):
    frame, _ = numeric
    estimator = StandardScaler().fit(frame)
    model = served(estimator, frame, tmp_path)

    assert not hasattr(model, "predict")
    np.testing.assert_allclose(model.transform(frame), estimator.transform(frame), atol=1e-5)
    assert check(estimator, model, frame) <= TOLERANCE


def test_metadata_holds_the_kind_classes_and_methods(titanic):
    frame, survived = titanic
    model = OnnxModel(convert(titanic_pipeline().fit(frame, survived), frame))
    assert model.metadata[onnx.KIND_KEY] == "classifier"
    assert json.loads(model.metadata[onnx.CLASSES_KEY]) == ["died", "survived"]
    assert json.loads(model.metadata[onnx.METHODS_KEY]) == ["predict", "predict_proba"]
    assert model.metadata[onnx.ESTIMATOR_KEY] == "Pipeline"


def test_the_frame_may_hold_more_columns_than_the_features(numeric):
    frame, label = numeric
    estimator = LogisticRegression().fit(frame[["a", "b"]], label)
    model = OnnxModel(convert(estimator, frame))  # c and count are not features
    assert list(model.feature_names_in_) == ["a", "b"]
    assert check(estimator, model, frame) <= TOLERANCE


def test_check_refuses_a_copy_of_another_model(numeric):
    frame, label = numeric
    estimator = make_pipeline(StandardScaler(), LogisticRegression()).fit(frame, label)
    other = make_pipeline(StandardScaler(), LogisticRegression(C=0.001)).fit(frame, label)
    with pytest.raises(OnnxMismatchError, match=r"tolerance 0\.0001$|another label"):
        check(estimator, convert(other, frame), frame)
    assert issubclass(OnnxMismatchError, ConfigError)


def test_check_refuses_probabilities_beyond_the_tolerance(numeric):
    frame, label = numeric
    estimator = make_pipeline(StandardScaler(), LogisticRegression()).fit(frame, label)
    nearly = make_pipeline(StandardScaler(), LogisticRegression(C=0.9)).fit(frame, label)
    assert (nearly.predict(frame) == estimator.predict(frame)).all()
    message = r"differs from scikit-learn by up to \S+ in predict_proba, beyond the tolerance 1e-06"
    with pytest.raises(OnnxMismatchError, match=message):
        check(estimator, convert(nearly, frame), frame, tolerance=1e-6)


def test_check_refuses_a_regressor_off_beyond_the_tolerance(numeric):
    frame, _ = numeric
    estimator = LinearRegression().fit(frame, frame.a * 2)
    shifted = LinearRegression().fit(frame, frame.a * 2 + 0.01)
    with pytest.raises(OnnxMismatchError, match=r"in predict, beyond the tolerance 0\.0001"):
        check(estimator, convert(shifted, frame), frame)


class Constant(ClassifierMixin, BaseEstimator):
    """A classifier skl2onnx has no converter for."""

    def fit(self, frame, label):
        self.classes_ = np.unique(label)
        return self

    def predict(self, frame):
        return np.full(len(frame), self.classes_[0])


@pytest.mark.parametrize(
    "make, reason",
    [
        (Constant, "Unable to find a shape calculator for type"),
        (lambda: make_pipeline(FunctionTransformer(np.log1p), LogisticRegression()), "Function"),
    ],
)
def test_an_unconvertible_estimator_is_one_clear_config_error(numeric, make, reason):
    frame, label = numeric
    estimator = make().fit(frame[["c"]], label)
    with pytest.raises(ConfigError) as caught:
        convert(estimator, frame)
    message = str(caught.value)
    assert message.startswith(f"cannot convert {type(estimator).__name__} to ONNX: skl2onnx says:")
    assert reason in message
    assert "\n" not in message


def test_a_column_of_dates_cannot_be_an_input(numeric):
    frame, label = numeric
    estimator = LogisticRegression().fit(frame[["a"]], label)
    frame = frame.assign(a=pd.Timestamp("2024-01-01"))
    with pytest.raises(ConfigError, match=r"feature 'a' is of dtype 'datetime64"):
        convert(estimator, frame)


def test_run_time_errors_are_value_errors(numeric):
    frame, label = numeric
    model = OnnxModel(convert(LogisticRegression().fit(frame, label), frame))
    with pytest.raises(ValueError, match=r"missing features: 'b', 'count'"):
        model.predict(frame[["a", "c"]])
    with pytest.raises(ValueError, match=r"feature 'a' cannot be converted to float32"):
        model.predict(frame.assign(a="many"))


def test_a_file_that_is_not_onnx_is_a_config_error(tmp_path):
    path = tmp_path / "model.onnx"
    path.write_bytes(b"not a model")
    with pytest.raises(ConfigError, match=r"cannot load '.*model\.onnx' with onnxruntime"):
        OnnxModel(path)


def test_a_model_without_firefly_metadata_is_served(numeric):
    """A file converted elsewhere: its classes come from the graph's classifier node."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    frame, label = numeric
    estimator = make_pipeline(StandardScaler(), LogisticRegression())
    estimator.fit(frame[["a", "b"]], np.where(label, "yes", "no"))
    initial_types = [(name, FloatTensorType([None, 1])) for name in ("a", "b")]
    options = {id(estimator): {"zipmap": False}}
    plain = convert_sklearn(estimator, initial_types=initial_types, options=options)
    model = OnnxModel(plain.SerializeToString())
    assert model.metadata == {}
    assert model.classes_.tolist() == ["no", "yes"]
    np.testing.assert_array_equal(model.predict(frame), estimator.predict(frame[["a", "b"]]))
    np.testing.assert_allclose(
        model.predict_proba(frame), estimator.predict_proba(frame[["a", "b"]]), atol=TOLERANCE
    )
    # with skl2onnx's default ZipMap, the probabilities are dictionaries: not served
    with_zipmap = OnnxModel(
        convert_sklearn(estimator, initial_types=initial_types).SerializeToString()
    )
    assert not hasattr(with_zipmap, "predict_proba")


def _predict_in_child(model: OnnxModel, frame: pd.DataFrame, queue: multiprocessing.Queue) -> None:
    queue.put(model.predict_proba(frame))


def test_a_model_loaded_before_a_fork_runs_in_the_child(numeric):
    """Servers load models before forking their workers."""
    frame, label = numeric
    model = OnnxModel(convert(LogisticRegression().fit(frame, label), frame))
    expected = model.predict_proba(frame)
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_predict_in_child, args=(model, frame, queue))
    child.start()
    try:
        np.testing.assert_array_equal(queue.get(timeout=30), expected)
    finally:
        child.join(timeout=30)
    assert child.exitcode == 0


def test_a_frame_of_just_the_features_and_one_in_another_order_answer_alike(numeric):
    """The first is converted in one piece, the second a column at a time."""
    frame, label = numeric
    model = OnnxModel(convert(LogisticRegression().fit(frame, label), frame))
    reordered = frame[["count", "c", "b", "a"]]
    np.testing.assert_array_equal(model.predict_proba(reordered), model.predict_proba(frame))
    with_missing = frame.astype(object)
    with_missing.loc[0, "a"] = None
    with_missing.loc[1, "b"] = pd.NA
    expected = model.predict_proba(with_missing[["count", "c", "b", "a"]])
    np.testing.assert_array_equal(model.predict_proba(with_missing), expected)


def test_booleans_are_numbers_and_categories_strings(rng, tmp_path):
    frame = pd.DataFrame(
        {
            "member": rng.random(ROWS) < 0.5,
            "plan": pd.Categorical(rng.choice(["basic", "pro", None], size=ROWS)),
            "visits": rng.poisson(3, size=ROWS),
        }
    )
    churned = (~frame.member & (frame.visits < 3)).to_numpy()
    columns = ColumnTransformer(
        [
            ("plan", OneHotEncoder(handle_unknown="ignore"), ["plan"]),
            ("numbers", StandardScaler(), ["member", "visits"]),
        ]
    )
    estimator = make_pipeline(columns, LogisticRegression()).fit(frame, churned)
    model = served(estimator, frame, tmp_path)
    assert model.feature_dtypes == {"member": "float32", "plan": "object", "visits": "float32"}
    assert model.classes_.tolist() == [False, True]
    assert model.predict(frame).dtype == bool
    np.testing.assert_array_equal(model.predict(frame), estimator.predict(frame))
    assert check(estimator, model, frame) <= TOLERANCE


def test_without_onnxruntime_serving_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime fails
    with pytest.raises(ConfigError) as caught:
        OnnxModel(tmp_path / "model.onnx")
    assert str(caught.value) == (
        "serving .onnx files needs onnxruntime: pip install firefly-python[onnx]"
    )
