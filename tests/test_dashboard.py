"""The dashboard's numbers: time buckets, percentiles, scores and drift, on a real database."""

from __future__ import annotations

import datetime as dt
import itertools
import math
import random
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from firefly.predictionlog import drift
from firefly.predictionlog.dashboard import (
    MAX_BUCKETS,
    Buckets,
    bucket_interval,
    dashboard_data,
    percentile,
)
from firefly.predictionlog.database import connect, prepare
from firefly.predictionlog.queries import Filters
from firefly.predictionlog.table import predictions

NOON = dt.datetime(2026, 3, 1, 12, 0, 0)
_ids = itertools.count()


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = connect(database_url)
    prepare(engine)
    yield engine
    engine.dispose()


def row(seconds: float, function: str = "f", **columns: Any) -> dict[str, Any]:
    """A logged call ``seconds`` after noon; its outcome, when given, recorded at once."""
    values: dict[str, Any] = {
        "prediction_id": f"p{next(_ids)}",
        "function": function,
        "version": None,
        "arguments": {},
        "result": None,
        "status": 200,
        "duration": 0.010,
        "created_at": NOON + dt.timedelta(seconds=seconds),
        "outcome": None,
        "outcome_at": None,
    }
    values.update(columns)
    if values["outcome"] is not None:
        values["outcome_at"] = values["created_at"]
    return values


def insert(engine: Engine, rows: list[dict[str, Any]]) -> None:
    with engine.begin() as connection:
        connection.execute(predictions.insert(), rows)


def read(engine: Engine, moment: dt.datetime, **filters: Any) -> dict[str, Any]:
    split = filters.pop("split", None)
    limit = filters.pop("limit", 200_000)
    with engine.connect() as connection:
        return dashboard_data(connection, Filters(**filters), split, moment, limit)


@pytest.mark.parametrize(
    "span, interval",
    [(10, 1), (60, 1), (61, 2), (600, 10), (3600, 60), (86400, 1800), (30 * 86400, 43200)],
)
def test_the_bucket_width_gives_at_most_60_buckets(span, interval):
    assert bucket_interval(span) == interval


@pytest.mark.parametrize("span", [60, 90, 250, 3601, 7 * 86400, 90 * 86400, 3 * 365 * 86400])
def test_a_range_of_a_minute_or_more_gets_24_to_60_buckets(span):
    count = Buckets.over(NOON, NOON + dt.timedelta(seconds=span)).count
    assert 24 <= count <= MAX_BUCKETS + 1  # +1: the first bucket starts on a multiple of its width


def test_buckets_start_on_multiples_of_their_width_and_keep_times_inside():
    buckets = Buckets.over(NOON + dt.timedelta(seconds=7), NOON + dt.timedelta(seconds=3600))
    assert buckets.interval == 60
    assert buckets.starts()[:2] == ["2026-03-01T12:00:00Z", "2026-03-01T12:01:00Z"]
    assert buckets.index(NOON + dt.timedelta(seconds=119)) == 1
    assert buckets.index(NOON - dt.timedelta(hours=1)) == 0
    assert buckets.index(NOON + dt.timedelta(hours=5)) == buckets.count - 1


def test_percentiles_interpolate_between_ranks():
    values = [float(n) for n in range(1, 101)]
    assert percentile(values, 50) == pytest.approx(50.5)
    assert percentile(values, 95) == pytest.approx(95.05)
    assert percentile(values, 99) == pytest.approx(99.01)
    assert percentile([3.0], 99) == 3.0
    assert percentile([], 50) is None


def test_calls_are_counted_timed_and_scored_per_bucket(engine):
    rows = [row(0, duration=0.001 * (k + 1)) for k in range(10)]  # 1 ms to 10 ms
    rows += [row(30, status=500, duration=0.5), row(31, status=422, duration=0.002)]
    rows += [row(120, result="yes", outcome=label) for label in ("yes", "yes", "yes", "no")]
    rows += [row(121, result=[{"no": 0.2, "yes": 0.8}], outcome="yes")]
    rows += [row(122, result="no")]
    insert(engine, rows)
    data = read(engine, NOON + dt.timedelta(seconds=600))
    assert data["since"] == "2026-03-01T12:00:00Z"
    assert data["until"] == "2026-03-01T12:10:00Z"
    assert data["interval"] == 10
    assert len(data["buckets"]) == 60
    assert (data["rows"], data["truncated"]) == (len(rows), False)
    (series,) = data["series"]
    buckets, totals = series["buckets"], series["totals"]
    assert buckets["count"][:4] == [10, 0, 0, 2]
    assert buckets["count"][12] == 6
    assert buckets["errors"][3] == 2 and buckets["error_rate"][3] == 1.0
    assert buckets["error_rate"][1] is None  # no call, no rate: a gap in the chart
    assert buckets["latency_ms"]["p50"][0] == pytest.approx(5.5)
    assert buckets["latency_ms"]["p99"][0] == pytest.approx(9.91)
    assert buckets["coverage"][12] == pytest.approx(5 / 6)
    assert buckets["accuracy"][12] == pytest.approx(4 / 5)
    assert totals["count"] == 18 and totals["errors"] == 2
    assert totals["error_rate"] == pytest.approx(2 / 18, abs=1e-6)
    assert (totals["outcomes"], totals["accuracy_count"]) == (5, 5)
    assert totals["mean_absolute_error"] is None


def test_numbers_are_scored_by_their_mean_absolute_error(engine):
    rows = [row(k, result=2.5, outcome=outcome) for k, outcome in enumerate([2.0, 3.5, 2.5])]
    insert(engine, rows)
    totals = read(engine, NOON + dt.timedelta(seconds=60))["series"][0]["totals"]
    assert totals["mean_absolute_error"] == pytest.approx(0.5)
    assert (totals["absolute_error_count"], totals["accuracy_count"]) == (3, 0)


def test_each_function_and_version_is_a_series_busiest_first(engine):
    rows = [row(1, "churn/predict", version="2") for _ in range(3)]
    rows += [row(2, "churn/predict", version="1"), row(3, "square"), row(4, "square")]
    insert(engine, rows)
    moment = NOON + dt.timedelta(minutes=5)
    found = [
        (s["function"], s["version"], s["totals"]["count"]) for s in read(engine, moment)["series"]
    ]
    assert found == [("churn/predict", "2", 3), ("square", None, 2), ("churn/predict", "1", 1)]
    only = read(engine, moment, function="churn", version="1")["series"]
    assert [(s["function"], s["version"]) for s in only] == [("churn/predict", "1")]


def test_the_last_24_hours_are_read_by_default_and_the_buckets_begin_at_the_first_row(engine):
    insert(engine, [row(-25 * 3600), row(-3600), row(-1800)])
    data = read(engine, NOON)
    assert data["rows"] == 2
    assert data["since"] == "2026-03-01T11:00:00Z"
    assert data["interval"] == 60
    every = read(engine, NOON, since=NOON - dt.timedelta(days=30))
    assert every["rows"] == 3 and every["since"] == "2026-02-28T11:00:00Z"


def test_past_the_limit_the_newest_rows_are_read_and_it_says_so(engine):
    insert(engine, [row(k * 60) for k in range(10)])
    data = read(engine, NOON + dt.timedelta(hours=1), limit=4)
    assert (data["rows"], data["max_rows"], data["truncated"]) == (4, 4, True)
    assert data["since"] == "2026-03-01T12:06:00Z"
    assert sum(data["series"][0]["buckets"]["count"]) == 4


def test_drift_compares_the_older_half_with_the_newer_one(engine):
    rng = random.Random(3)
    rows = [row(k, arguments={"x": rng.gauss(0, 1), "c": "ab"[k % 2]}) for k in range(500)]
    rows += [row(500 + k, arguments={"x": rng.gauss(1.5, 1), "c": "ab"[k % 2]}) for k in range(500)]
    insert(engine, rows)
    report = read(engine, NOON + dt.timedelta(hours=1))["series"][0]["drift"]
    assert (report["reference_count"], report["current_count"]) == (500, 500)
    assert report["reference_until"] == "2026-03-01T12:08:20Z"
    features = {f["name"]: f for f in report["features"]}
    assert features["x"]["kind"] == "numeric" and features["x"]["level"] == "significant"
    assert features["c"]["kind"] == "categorical" and features["c"]["psi"] == 0.0
    later = read(engine, NOON + dt.timedelta(hours=1), split=NOON + dt.timedelta(seconds=900))
    assert later["series"][0]["drift"]["reference_count"] == 900
    assert later["series"][0]["drift"]["reference_until"] == "2026-03-01T12:15:00Z"


def test_identical_distributions_do_not_drift():
    rng = random.Random(1)
    values = [rng.gauss(10, 3) for _ in range(2000)]
    assert drift.numeric_psi(values, list(reversed(values))) == pytest.approx(0.0, abs=1e-12)
    same = [rng.gauss(10, 3) for _ in range(20_000)], [rng.gauss(10, 3) for _ in range(20_000)]
    assert drift.numeric_psi(*same) < 0.01
    assert drift.categorical_psi(list("aabbc") * 10, list("abcab") * 10) == 0.0


def test_shifted_distributions_drift():
    rng = random.Random(2)
    reference = [rng.gauss(0, 1) for _ in range(5000)]
    assert drift.numeric_psi(reference, [rng.gauss(1, 1) for _ in range(5000)]) > 0.25
    assert 0.1 > drift.numeric_psi(reference, [rng.gauss(0.1, 1) for _ in range(5000)])
    assert drift.categorical_psi(list("ab") * 50, list("aaab") * 25) > 0.1
    assert drift.categorical_psi(list("ab") * 50, list("c") * 100) > 0.25


def test_the_index_is_the_sum_over_bins_and_empty_bins_count_as_epsilon():
    reference, current = [0.5, 0.5], [0.25, 0.75]
    expected = (0.25 - 0.5) * math.log(0.25 / 0.5) + (0.75 - 0.5) * math.log(0.75 / 0.5)
    assert drift.index(reference, current) == pytest.approx(expected)
    alone = (1 - drift.EPSILON) * math.log(1 / drift.EPSILON)
    assert drift.index([1.0, 0.0], [0.0, 1.0]) == pytest.approx(2 * alone)


def test_a_numeric_feature_is_binned_at_the_reference_deciles():
    reference = [float(k) for k in range(100)]
    assert drift.numeric_psi(reference, [float(k) for k in range(0, 100, 10)]) == 0.0
    constant = [5.0] * 100
    assert drift.numeric_psi(constant, constant) == 0.0
    assert drift.numeric_psi(constant, [6.0] * 100) > 0.25


@pytest.mark.parametrize(
    "psi, level", [(0.0, "stable"), (0.099, "stable"), (0.1, "moderate"), (0.25, "significant")]
)
def test_levels_follow_the_usual_thresholds(psi, level):
    assert drift.level(psi) == level


def test_features_are_the_numbers_and_strings_of_each_record():
    calls = [
        {"n": 1, "name": "a", "flag": True, "items": [1], "none": None},
        [{"n": 2.5, "name": "b"}, {"n": 3, "name": "c"}, "not a record"],
        None,
    ]
    assert drift.feature_values(calls) == {"n": [1, 2.5, 3], "name": ["a", "b", "c"]}


def test_a_feature_mixing_numbers_and_strings_is_categorical_and_an_empty_window_has_no_index():
    mixed = drift.feature_drift("zip", [75001, "75002"], [75001, "75002"])
    assert (mixed.kind, mixed.psi, mixed.level) == ("categorical", 0.0, "stable")
    new = drift.drift([{}], [{"x": 1.0}])
    assert [(f.name, f.psi, f.level, f.current_count) for f in new] == [("x", None, None, 1)]
