"""The figures of ``firefly log stats`` (firefly.predictionlog.stats), on real databases."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterable
from typing import Any

from sqlalchemy import insert

from firefly.database import WRITE
from firefly.predictionlog.database import connect, prepare
from firefly.predictionlog.queries import Filters
from firefly.predictionlog.stats import compute_stats, percentile
from firefly.predictionlog.table import predictions

START = dt.datetime(2026, 12, 1, 10, 0, 0)
_ids = itertools.count(1)


def row(function: str = "square", **columns: Any) -> dict[str, Any]:
    """A row of the table: a quick successful call, unless ``columns`` say otherwise."""
    values: dict[str, Any] = {
        "prediction_id": f"p{next(_ids)}",
        "function": function,
        "version": None,
        "arguments": {"n": 2},
        "result": 4,
        "status": 200,
        "duration": 0.001,
        "created_at": START,
        "request_id": None,
        "observation_id": None,
        "error": None,
        "outcome": None,
        "outcome_at": None,
    }
    values.update(columns)
    if "outcome" in columns and "outcome_at" not in columns:
        values["outcome_at"] = START + dt.timedelta(minutes=5)
    return values


def add_rows(url: str, rows: Iterable[dict[str, Any]]) -> None:
    """Create the table in ``url`` as the server does, and insert ``rows``."""
    engine = connect(url)
    rows = list(rows)
    try:
        prepare(engine)
        if not rows:
            return
        with engine.connect().execution_options(**WRITE) as connection, connection.begin():
            connection.execute(insert(predictions), rows)
    finally:
        engine.dispose()


def stats(url: str, filters: Filters | None = None) -> list[dict[str, Any]]:
    engine = connect(url)
    try:
        return [group.as_json() for group in compute_stats(engine, filters or Filters())]
    finally:
        engine.dispose()


def test_each_function_and_version_gets_its_figures(database_url):
    add_rows(
        database_url,
        [
            *(row(duration=0.001 * n) for n in range(1, 5)),
            row(status=422, error="square(): missing required argument 'n'", result=None),
            row("churn/predict", version="v2", result=[1], outcome=1),
            row("churn/predict", version="v1", result=[0], outcome=1),
            row("churn/predict", version="v1", result=[1], outcome=1),
            row("churn/predict", version="v1", result=None, status=500, error="ValueError: x"),
        ],
    )
    assert stats(database_url) == [
        {
            "function": "churn/predict",
            "version": "v1",
            "count": 3,
            "errors": 1,
            "error_rate": 1 / 3,
            "latency_ms": {"p50": 1.0, "p95": 1.0, "p99": 1.0},
            "outcomes": 2,
            "accuracy": 0.5,
            "mean_absolute_error": None,
        },
        {
            "function": "churn/predict",
            "version": "v2",
            "count": 1,
            "errors": 0,
            "error_rate": 0.0,
            "latency_ms": {"p50": 1.0, "p95": 1.0, "p99": 1.0},
            "outcomes": 1,
            "accuracy": 1.0,
            "mean_absolute_error": None,
        },
        {
            "function": "square",
            "version": None,
            "count": 5,
            "errors": 1,
            "error_rate": 0.2,
            "latency_ms": {"p50": 2.0, "p95": 3.8, "p99": 3.96},
            "outcomes": 0,
            "accuracy": None,
            "mean_absolute_error": None,
        },
    ]


def test_percentiles_are_exact_between_the_closest_ranks(sqlite_url):
    add_rows(sqlite_url, [row(duration=n / 1000) for n in range(100, 0, -1)])
    [group] = stats(sqlite_url)
    assert group["latency_ms"] == {"p50": 50.5, "p95": 95.05, "p99": 99.01}
    assert percentile([7.0], 0.99) == 7.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5


def test_labels_give_an_accuracy_and_numbers_a_mean_absolute_error(sqlite_url):
    add_rows(
        sqlite_url,
        [
            row("price", result=10.5, outcome=12),
            row("price", result=[3.0], outcome=2.5),
            row("price", result=7.25),  # no outcome yet: not scored
            row("churn/predict_proba", result=[{"no": 0.2, "yes": 0.8}], outcome="yes"),
            row("churn/predict_proba", result=[{"no": 0.6, "yes": 0.4}], outcome="yes"),
            row("churn/predict_proba", result=[{"no": 0.1, "yes": 0.9}], outcome="yes"),
            # two records: no single prediction to compare, but the outcome was received
            row("churn/predict_proba", result=[{"no": 1.0}, {"no": 1.0}], outcome="no"),
            row("labels", result={"label": True}, outcome="true"),
        ],
    )
    found = {group["function"]: group for group in stats(sqlite_url)}
    assert found["price"]["mean_absolute_error"] == 1.0
    assert (found["price"]["accuracy"], found["price"]["outcomes"]) == (None, 2)
    assert found["churn/predict_proba"]["accuracy"] == 2 / 3
    assert found["churn/predict_proba"]["outcomes"] == 4
    assert found["churn/predict_proba"]["mean_absolute_error"] is None
    assert found["labels"]["accuracy"] == 1.0


def test_the_filters_choose_the_rows(sqlite_url):
    later = START + dt.timedelta(days=1)
    add_rows(
        sqlite_url,
        [
            row("churn/predict", version="v1", result=[1], outcome=1),
            row("churn/predict", version="v1", result=[1], created_at=later),
            row("churn/predict_proba", version="v1", result=[{"a": 1.0}], created_at=later),
            row("churner", result=1, created_at=later),
            row("square", created_at=later),
        ],
    )

    def counts(**filters: Any) -> dict[tuple[str, str | None], int]:
        found = stats(sqlite_url, Filters(**filters))
        return {(group["function"], group["version"]): group["count"] for group in found}

    assert counts(function="churn") == {
        ("churn/predict", "v1"): 2,
        ("churn/predict_proba", "v1"): 1,
    }
    assert counts(function="churn/predict", since=later) == {("churn/predict", "v1"): 1}
    assert counts(until=later) == {("churn/predict", "v1"): 1}
    assert counts(outcome=True) == {("churn/predict", "v1"): 1}
    assert counts(version="v1", outcome=False) == {
        ("churn/predict", "v1"): 1,
        ("churn/predict_proba", "v1"): 1,
    }
    assert counts(function="nothing") == {}


def test_an_empty_log_has_no_groups(sqlite_url):
    add_rows(sqlite_url, [])
    assert stats(sqlite_url) == []
