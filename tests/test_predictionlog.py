"""The prediction log in one process: the wrappers, the writer and the table, on real SQLite."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest
import sqlalchemy

from firefly import Firefly
from firefly.config import load_config
from firefly.errors import ConfigError
from firefly.predictionlog.database import connect, prepare
from firefly.predictionlog.recorder import LoggedEndpoint
from firefly.predictionlog.table import predictions
from firefly.predictionlog.writer import Writer


def logged_rows(app: Firefly) -> list[dict]:
    feature = next(f for f in app.features if type(f).__name__ == "PredictionLogFeature")
    feature.writer.wait_written(5)
    with feature.engine.connect() as connection:
        query = sqlalchemy.select(predictions).order_by(predictions.c.id)
        return [dict(row) for row in connection.execute(query).mappings()]


@pytest.fixture
def logged_app(sqlite_url: str):
    app = Firefly(prediction_log=sqlite_url)

    @app.function(observation_id="id")
    def score(id: int, x: float) -> float:
        """Twice x."""
        return 2 * x

    @app.function
    def fail(message: str) -> None:
        raise ValueError(message)

    @app.function(log=False)
    def unlogged(n: int) -> int:
        return n

    app.prepare()
    yield app
    app.shutdown()


def test_a_logged_call_answers_its_prediction_id_and_is_one_row(logged_app):
    client = logged_app.test_client()
    response = client.post(
        "/score", json={"id": 3, "x": 1.5}, headers={"X-Request-ID": "request-1"}
    )
    assert response.json == 3.0
    [row] = logged_rows(logged_app)
    assert row["prediction_id"] == response.headers["X-Prediction-ID"]
    assert (row["request_id"], row["observation_id"], row["function"]) == (
        "request-1",
        "3",
        "score",
    )
    assert (row["arguments"], row["result"], row["error"], row["status"]) == (
        {"id": 3, "x": 1.5},
        3.0,
        None,
        200,
    )
    assert row["version"] is None and row["outcome"] is None and row["duration"] > 0


def test_the_header_wins_over_the_observation_argument(logged_app):
    client = logged_app.test_client()
    client.post("/score", json={"id": 3, "x": 1}, headers={"X-Observation-ID": "a-7"})
    assert [row["observation_id"] for row in logged_rows(logged_app)] == ["a-7"]


def test_failed_and_refused_calls_are_logged_with_their_error(logged_app):
    client = logged_app.test_client()
    assert client.post("/fail", json={"message": "no"}).status_code == 500
    assert client.post("/score", json={"id": 1, "x": "many"}).status_code == 422
    failed, refused = logged_rows(logged_app)
    assert (failed["status"], failed["error"], failed["arguments"]) == (
        500,
        "ValueError: no",
        {"message": "no"},
    )
    assert refused["status"] == 422 and refused["arguments"] is None
    assert "invalid argument 'x'" in refused["error"]


def test_a_repeated_observation_id_is_409_and_not_logged(logged_app):
    client = logged_app.test_client()
    assert client.post("/score", json={"id": 9, "x": 1}).status_code == 200
    again = client.post("/score", json={"id": 9, "x": 1})  # still queued: found in the queue
    assert again.status_code == 409 and "X-Prediction-ID" not in again.headers
    logged_rows(logged_app)
    later = client.post("/score", json={"id": 9, "x": 2})  # written: found in the database
    assert later.status_code == 409
    assert later.json["error"] == (
        "observation id '9' of score is in the prediction log already: send each observation"
        " once, or give it another id"
    )
    assert len(logged_rows(logged_app)) == 1


def test_a_function_not_logged_keeps_its_endpoint_unwrapped(logged_app):
    response = logged_app.test_client().post("/unlogged", json={"n": 1})
    assert response.json == 1 and "X-Prediction-ID" not in response.headers
    feature = next(f for f in logged_app.features if type(f).__name__ == "PredictionLogFeature")
    unlogged = next(spec for spec in logged_app.registry if spec.name == "unlogged")
    logged = next(spec for spec in logged_app.registry if spec.name == "score")
    endpoint = object()
    assert feature.wrap_endpoint((unlogged,), endpoint) is endpoint
    assert isinstance(feature.wrap_endpoint((logged,), endpoint), LoggedEndpoint)
    assert feature.wrap(unlogged, unlogged.func) is unlogged.func
    assert logged_rows(logged_app) == []


def test_with_the_log_off_no_function_is_wrapped(app):
    app.prepare()
    assert not any(type(f).__name__ == "PredictionLogFeature" for f in app.features)
    assert "X-Prediction-ID" not in app.test_client().post("/square", json={"n": 2}).headers
    assert app.test_client().post("/-/feedback", json={"id": "x", "outcome": 1}).status_code == 404


def test_log_true_switches_the_log_on_for_that_function_alone(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    app = Firefly()

    @app.function(log=True)
    def logged(n: int) -> int:
        return n

    @app.function
    def plain(n: int) -> int:
        return n

    client = app.test_client()
    assert "X-Prediction-ID" in client.post("/logged", json={"n": 1}).headers
    assert "X-Prediction-ID" not in client.post("/plain", json={"n": 1}).headers
    assert [row["function"] for row in logged_rows(app)] == ["logged"]
    app.shutdown()
    assert (tmp_path / "predictions.db").exists()  # the default URL


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("predictions.db", "expected a database URL such as sqlite:///predictions.db"),
        ("nosuchdb://x", "prediction log: no driver for nosuchdb"),
    ],
)
def test_a_bad_database_url_is_one_line(url, message):
    with pytest.raises(ConfigError, match=message) as raised:
        Firefly(prediction_log=url)
    assert "\n" not in str(raised.value)


def test_the_settings_parse_from_a_config_file(tmp_path):
    path = tmp_path / "config.yml"
    path.write_text(
        "prediction_log: sqlite:///p.db\nprediction_log_sample: 0.5\nfunctions:\n"
        "  square: {function: funcs.square, log: false, observation_id: id}\n"
    )
    config = load_config({"config": str(path)}, {})
    assert (config.prediction_log, config.prediction_log_sample) == ("sqlite:///p.db", 0.5)
    assert config.functions[0].options.log is False
    assert config.functions[0].options.observation_id == "id"
    environ = {"FIREFLY_PREDICTION_LOG_SAMPLE": "0"}
    with pytest.raises(ConfigError, match="expected a fraction above 0 and at most 1, got '0'"):
        load_config({"config": str(path)}, environ)


def test_prepare_creates_the_table_once_and_records_its_revision(sqlite_url):
    engine = connect(sqlite_url)
    prepare(engine)
    prepare(engine)  # a second worker starting: nothing to do
    with engine.connect() as connection:
        assert connection.exec_driver_sql(
            "SELECT version_num FROM firefly_alembic_version"
        ).all() == [("0001",)]
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    engine.dispose()


def row(n: int, observation_id: str | None = None) -> dict:
    return {
        "prediction_id": f"p{n}",
        "request_id": None,
        "observation_id": observation_id,
        "function": "f",
        "version": None,
        "arguments": {"n": n},
        "result": n,
        "error": None,
        "status": 200,
        "duration": 0.001,
        "created_at": time.time(),
    }


@pytest.fixture
def unavailable_engine(tmp_path: Path):
    """A SQLite URL in a folder that is a file: every connection fails, as a database down does."""
    (tmp_path / "blocked").write_text("")
    return sqlalchemy.create_engine(f"sqlite:///{tmp_path / 'blocked' / 'p.db'}")


def test_a_full_queue_drops_and_counts_and_says_so_once(unavailable_engine, caplog):
    writer = Writer(unavailable_engine, capacity=10)
    with caplog.at_level(logging.WARNING, logger="firefly"):
        assert all(writer.put(row(n)) for n in range(10))
        assert not any(writer.put(row(n)) for n in range(10, 25))
        writer.drain_timeout = 0.3
        writer.stop()
    assert writer.counts.dropped["queue_full"] == 15
    assert writer.counts.dropped["stopped"] == 10
    assert writer.counts.written == 0 and writer.counts.failed >= 1
    messages = [record.getMessage() for record in caplog.records]
    assert sum("the queue is full" in message for message in messages) == 1
    assert any("10 rows could not be written before the worker stopped" in m for m in messages)


def test_the_writer_writes_in_batches_and_drops_a_duplicate_alone(sqlite_url, caplog):
    engine = connect(sqlite_url)
    prepare(engine)
    writer = Writer(engine, capacity=10_000)
    writer.batch_size = 100
    for n in range(250):
        writer.put(row(n, observation_id="same" if n in (5, 6) else None))
    assert ("f", "same") in writer.pending
    with caplog.at_level(logging.WARNING, logger="firefly"):
        writer.stop()
    assert writer.counts.written == 249 and writer.counts.dropped["duplicate"] == 1
    assert writer.pending == set()
    assert any(
        "observation id 'same' of f was logged before" in r.getMessage() for r in caplog.records
    )
    with engine.connect() as connection:
        assert (
            connection.execute(
                sqlalchemy.select(sqlalchemy.func.count()).select_from(predictions)
            ).scalar()
            == 249
        )
    engine.dispose()


def test_a_row_the_database_refuses_is_dropped_and_the_others_written(sqlite_url):
    engine = connect(sqlite_url)
    prepare(engine)
    writer = Writer(engine, capacity=100)
    bad = row(1)
    bad["status"] = None  # NOT NULL
    writer.put(row(0))
    writer.put(bad)
    writer.put(row(2))
    writer.stop()
    assert writer.counts.written == 2 and writer.counts.dropped["unwritable"] == 1
    engine.dispose()


def test_values_json_cannot_hold_are_logged_as_their_repr(sqlite_url):
    app = Firefly(prediction_log=sqlite_url)

    @app.function
    def echo(n: int) -> dict:
        return {"n": n, "handle": object()}

    @app.function
    def estimate(x: float) -> float:
        return 110.0

    client = app.test_client()
    assert client.post("/echo", json={"n": 1}).status_code == 500  # the answer cannot hold it
    client.post("/estimate", json={"x": 1})
    echoed, estimated = logged_rows(app)
    assert echoed["result"]["n"] == 1 and echoed["result"]["handle"].startswith("<object object")
    assert type(estimated["result"]) is float  # not the integer 110 of SQLite's JSON affinity
    assert type(estimated["arguments"]["x"]) is float
    app.shutdown()


def test_a_model_version_asking_for_the_log_is_logged_on_rest_and_v2(tmp_path, monkeypatch):
    from .modelfiles import CHURN_FEATURES, churn_model, save_repository, save_version

    monkeypatch.chdir(tmp_path)
    repository = save_repository(tmp_path)
    save_version(
        repository, "churn", "v3", churn_model(), {"features": CHURN_FEATURES, "log": True}
    )
    app = Firefly(models=str(repository))
    client = app.test_client()
    record = {"score_1": 0.5, "score_2": 1.2, "age": 40}
    proba = client.post("/churn/v3/predict_proba", json=[record])
    assert proba.headers["X-Model-Version"] == "v3" and proba.headers["X-Prediction-ID"]
    assert "X-Prediction-ID" not in client.post("/churn/v1/predict", json=record).headers
    inputs = [
        {
            "name": name,
            "shape": [1],
            "datatype": "INT64" if name == "age" else "FP64",
            "data": [value],
        }
        for name, value in record.items()
    ]
    v2 = client.post("/v2/models/churn/versions/v3/infer", json={"inputs": inputs})
    assert v2.status_code == 200 and v2.headers["X-Prediction-ID"]
    logged = logged_rows(app)
    assert [(row["function"], row["version"]) for row in logged] == [
        ("churn/predict_proba", "v3"),
        ("churn/predict", "v3"),
    ]
    assert logged[0]["arguments"] == [record]
    assert logged[0]["result"] == proba.json
    app.shutdown()
    assert (tmp_path / "predictions.db").exists()


def test_a_call_queued_to_run_in_the_background_is_no_prediction_yet(tmp_path):
    app = Firefly(
        prediction_log=f"sqlite:///{tmp_path / 'p.db'}",
        executions=f"sqlite:///{tmp_path / 'e.db'}",
    )

    @app.function
    def double(n: int) -> int:
        return 2 * n

    client = app.test_client()
    queued = client.post("/double", json={"n": 2}, headers={"Prefer": "respond-async"})
    assert queued.status_code == 202 and "X-Prediction-ID" not in queued.headers
    answered = client.post("/double", json={"n": 3})
    assert answered.json == 6
    assert [row["prediction_id"] for row in logged_rows(app)] == [
        answered.headers["X-Prediction-ID"]
    ]
    app.shutdown()
