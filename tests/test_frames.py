"""Records to the DataFrame of a model's features: each dtype, nulls, and what is refused."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from firefly.errors import ValidationError
from firefly.models.frames import FrameSchema, results


def test_each_dtype_is_cast_and_null_is_missing() -> None:
    schema = FrameSchema(
        {"n": "int64", "x": "float64", "flag": "bool", "kind": "category", "when": "datetime64[ns]"}
    )
    frame, single = schema.frame(
        [
            {"n": 1, "x": 0.5, "flag": True, "kind": "a", "when": "2026-01-31T12:00:00"},
            {"n": 2, "x": None, "flag": False, "kind": None, "when": "2026-02-01"},
        ]
    )
    assert not single
    assert list(frame.columns) == ["n", "x", "flag", "kind", "when"]
    assert frame["n"].dtype == np.int64
    assert math.isnan(frame["x"][1])
    assert frame["flag"].dtype == bool
    assert isinstance(frame["kind"].dtype, pd.CategoricalDtype)
    assert frame["kind"].isna().tolist() == [False, True]
    assert frame["when"][0] == pd.Timestamp("2026-01-31T12:00:00")


def test_null_in_an_integer_column_makes_it_float() -> None:
    frame, _ = FrameSchema({"n": "int64"}).frame([{"n": 1}, {"n": None}])
    assert frame["n"].dtype == np.float64
    assert math.isnan(frame["n"][1])


def test_without_dtypes_pandas_infers_them_and_null_is_nan() -> None:
    frame, single = FrameSchema({"a": None, "b": None}).frame({"a": 1.5, "b": None})
    assert single
    assert frame["a"].dtype == np.float64
    assert math.isnan(frame["b"][0])


def test_all_float_features_make_one_block() -> None:
    frame, _ = FrameSchema({"a": "float64", "b": "float64"}).frame([{"b": 2, "a": 1}])
    assert frame.to_numpy().tolist() == [[1.0, 2.0]]


@pytest.mark.parametrize(
    ("features", "record", "message"),
    [
        ({"n": "int64"}, {"n": True}, "column 'n': expected a number or null, got True"),
        ({"n": "int64"}, {"n": "3"}, "column 'n': expected a number or null, got '3'"),
        ({"s": "object"}, {"s": [1]}, "column 's': expected a string, number or boolean"),
        (
            {"when": "datetime64[ns]"},
            {"when": "yesterday"},
            "column 'when': expected a date and time such as '2026-01-31T12:00:00'",
        ),
    ],
)
def test_a_value_that_does_not_fit_its_dtype_is_named(features, record, message) -> None:
    with pytest.raises(ValidationError) as refused:
        FrameSchema(features).frame(record)
    assert refused.value.message.startswith(message)


def test_probabilities_are_keyed_by_label() -> None:
    output = np.array([[0.25, 0.75]])
    assert results(output, "predict_proba", [np.int64(0), np.int64(1)]) == [{"0": 0.25, "1": 0.75}]
    assert results(output, "predict_proba", [False, True]) == [{"false": 0.25, "true": 0.75}]
    assert results(np.array([1, 0]), "predict", None) == [1, 0]
