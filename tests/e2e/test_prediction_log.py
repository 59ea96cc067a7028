"""The prediction log end to end: real firefly and gunicorn processes writing to a real SQLite
file and a real PostgreSQL database, stopped gracefully, recycled, reloaded, and cut off from it."""

from __future__ import annotations

import concurrent.futures
import re
import signal
import time

import pytest
import requests
import sqlalchemy
from sqlalchemy.engine import make_url

from firefly.predictionlog.table import predictions

from ..conftest import APPS, firefly_command, free_port, serve, stop
from ..modelfiles import save_repository
from .tcpproxy import TcpProxy

pytestmark = pytest.mark.timeout(180)


def rows(url: str) -> list[dict]:
    """Every row of the log at ``url``, in write order."""
    engine = sqlalchemy.create_engine(make_url(url).set(drivername=_driver(url)))
    try:
        with engine.connect() as connection:
            query = sqlalchemy.select(predictions).order_by(predictions.c.id)
            return [dict(row) for row in connection.execute(query).mappings()]
    finally:
        engine.dispose()


def _driver(url: str) -> str:
    return "sqlite" if url.startswith("sqlite") else "postgresql+psycopg"


def call_square(url: str, count: int, threads: int = 16, **headers: str) -> list[str]:
    """POST /square ``count`` times from ``threads`` threads; the X-Prediction-ID of each."""

    def call(n: int) -> str:
        response = requests.post(url + "square", json={"n": n}, headers=headers, timeout=30)
        assert response.status_code == 200, response.text
        assert response.json() == n * n
        return response.headers["X-Prediction-ID"]

    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        return list(pool.map(call, range(count)))


def metric(url: str, name: str) -> float:
    text = requests.get(url + "-/metrics", timeout=10).text
    found = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
    assert found, f"{name} not in the metrics:\n{text}"
    return float(found.group(1))


def wait_for(condition, timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


@pytest.mark.timeout(240)
def test_every_call_of_four_workers_is_one_row_after_a_graceful_stop(firefly_server, database_url):
    with firefly_server(
        "--workers", "4", "--threads", "4", "--prediction-log", database_url, "funcs.square"
    ) as server:
        prediction_ids = call_square(server.url, 2000)
        stop(server.process)
        assert server.process.returncode == 0, server.log()
    logged = rows(database_url)
    assert len(logged) == 2000
    assert sorted(row["prediction_id"] for row in logged) == sorted(prediction_ids)
    assert sorted(row["arguments"]["n"] for row in logged) == list(range(2000))
    assert all(row["status"] == 200 and row["function"] == "square" for row in logged)
    assert "database is locked" not in server.log()


def test_a_worker_recycled_by_max_requests_writes_its_rows(gunicorn_server, sqlite_url):
    env = {"FIREFLY_FUNCTIONS": "funcs.square", "FIREFLY_PREDICTION_LOG": sqlite_url}
    args = [
        "-k", "firefly.server.worker.FireflyWorker", "--workers", "2",
        "--max-requests", "25", "firefly.main:app",
    ]  # fmt: skip
    with gunicorn_server(*args, env=env) as server:
        prediction_ids = call_square(server.url, 300, threads=4)
        # recycled workers wrote theirs as they exited; the two alive write on the stop
        stop(server.process)
    assert sorted(row["prediction_id"] for row in rows(sqlite_url)) == sorted(prediction_ids)


def test_a_reload_keeps_every_row(firefly_server, sqlite_url):
    with firefly_server("--workers", "2", "--prediction-log", sqlite_url, "funcs.square") as server:
        first = call_square(server.url, 200, threads=4)
        server.process.send_signal(signal.SIGHUP)
        time.sleep(1.0)
        second = call_square(server.url, 200, threads=4)
        stop(server.process)
    assert sorted(row["prediction_id"] for row in rows(sqlite_url)) == sorted(first + second)


def test_the_database_down_and_back_loses_no_row(firefly_server, postgres_url):
    server_url = make_url(postgres_url)
    port = free_port()
    proxied = server_url.set(host="127.0.0.1", port=port).render_as_string(hide_password=False)
    with TcpProxy((server_url.host or "127.0.0.1", server_url.port or 5432), port) as proxy:
        with firefly_server("--prediction-log", proxied, "funcs.square") as server:
            before = call_square(server.url, 50, threads=2)
            wait_for(lambda: metric(server.url, "firefly_prediction_log_written_total") == 50)
            proxy.cut()
            started = time.monotonic()
            during = call_square(server.url, 100, threads=2)
            assert time.monotonic() - started < 10  # served meanwhile, not waiting on the database
            wait_for(lambda: metric(server.url, "firefly_prediction_log_failed_total") >= 1)
            # the gauge is set at each attempt, which come at most 5 s apart while it is down
            wait_for(lambda: metric(server.url, "firefly_prediction_log_queue_depth") == 100)
            health = requests.get(server.url + "-/ready", timeout=5).json()
            assert health["prediction_log"] == {"queue": 100, "database_available": False}
            proxy.restore()
            wait_for(
                lambda: metric(server.url, "firefly_prediction_log_written_total") == 150,
                timeout=30,
                what="the rows that waited",
            )
            assert metric(server.url, "firefly_prediction_log_queue_depth") == 0
            stop(server.process)
        assert "prediction log: cannot write to the database" in server.log()
        assert "prediction log: the database is back" in server.log()
    assert sorted(row["prediction_id"] for row in rows(postgres_url)) == sorted(before + during)


def test_what_overflows_the_queue_is_dropped_and_counted(firefly_server, postgres_url):
    server_url = make_url(postgres_url)
    port = free_port()
    proxied = server_url.set(host="127.0.0.1", port=port).render_as_string(hide_password=False)
    with TcpProxy((server_url.host or "127.0.0.1", server_url.port or 5432), port) as proxy:
        args = ("--prediction-log", proxied, "--prediction-log-queue", "20", "funcs.square")
        with firefly_server(*args) as server:
            call_square(server.url, 5, threads=1)
            wait_for(lambda: metric(server.url, "firefly_prediction_log_written_total") == 5)
            proxy.cut()
            call_square(server.url, 100, threads=4)  # every call is still answered
            dropped = 'firefly_prediction_log_dropped_total{reason="queue_full"}'
            wait_for(lambda: metric(server.url, dropped) == 80, what="80 rows counted as dropped")
            assert metric(server.url, "firefly_prediction_log_queue_depth") == 20
            proxy.restore()
            wait_for(lambda: metric(server.url, "firefly_prediction_log_written_total") == 25)
            call_square(server.url, 10, threads=1)
            stop(server.process)
        log = server.log()
        assert "prediction log: the queue is full (20 rows wait); dropping rows" in log
        assert "prediction log: the queue has room again; 80 rows were dropped in all" in log
    assert len(rows(postgres_url)) == 35


def test_a_repeated_observation_id_is_409_across_workers(firefly_server, database_url):
    with firefly_server(
        "--workers", "2", "--prediction-log", database_url, "funcs.square"
    ) as server:
        headers = {"X-Observation-ID": "customer-7"}
        first = requests.post(server.url + "square", json={"n": 3}, headers=headers, timeout=10)
        assert first.status_code == 200
        time.sleep(0.5)  # written: the other worker finds it in the database
        for _ in range(4):
            again = requests.post(server.url + "square", json={"n": 3}, headers=headers, timeout=10)
            assert again.status_code == 409
            assert (
                "observation id 'customer-7' of square is in the prediction log"
                in again.json()["error"]
            )
            assert "X-Prediction-ID" not in again.headers
        stop(server.process)
    assert [row["observation_id"] for row in rows(database_url)] == ["customer-7"]


@pytest.mark.timeout(240)
def test_feedback_single_and_bulk(firefly_server, database_url):
    config = APPS / "configs" / "logged.yml"
    with firefly_server(
        "-c", str(config), "--workers", "2", "--prediction-log", database_url
    ) as server:
        ids = call_square(server.url, 3000, threads=8)
        one = requests.post(
            server.url + "-/feedback", json={"id": ids[0], "outcome": 0}, timeout=10
        )
        assert one.status_code == 200
        assert one.json()["prediction_id"] == ids[0] and one.json()["outcome"] == 0
        assert one.json()["outcome_at"].endswith("Z")
        unknown = requests.post(
            server.url + "-/feedback", json={"id": "nope", "outcome": 1}, timeout=10
        )
        assert unknown.status_code == 404
        assert unknown.json()["error"] == "no logged call has prediction id 'nope'"
        items = [{"id": prediction_id, "outcome": n * n} for n, prediction_id in enumerate(ids)]
        items += [{"id": f"unknown-{n}", "outcome": 1} for n in range(6990)]
        items += [{"outcome": 1}] * 5 + [{"id": 5, "outcome": 1}] * 5
        started = time.monotonic()
        bulk = requests.post(server.url + "-/feedback", json=items, timeout=120)
        elapsed = time.monotonic() - started
        assert bulk.status_code == 200
        answer = bulk.json()
        assert (answer["updated"], answer["not_found"], answer["invalid"]) == (3000, 6990, 10)
        assert len(answer["results"]) == 10_000
        assert answer["results"][0] == {"status": "updated", "id": ids[0]}
        assert answer["results"][3000] == {"status": "not_found", "id": "unknown-0"}
        assert answer["results"][-1]["status"] == "invalid"
        assert elapsed < 60
        stop(server.process)
    logged = rows(database_url)
    assert all(row["outcome"] == row["result"] for row in logged)
    assert all(row["outcome_at"] is not None for row in logged)


def test_the_client_sends_feedback_and_reads_the_prediction_id(firefly_server, sqlite_url):
    from firefly import Client, ConflictError, NotFoundError

    config = APPS / "configs" / "logged.yml"
    with firefly_server(
        "-c", str(config), "--token", "abc", "--prediction-log", sqlite_url
    ) as server:
        client = Client(server.url, auth_token="abc")
        assert client.square(n=4) == 16
        prediction_id = client.last_prediction_id
        assert prediction_id
        row = client.feedback(prediction_id, 16)
        assert (row["prediction_id"], row["outcome"]) == (prediction_id, 16)
        assert client.scored(id=12, x=1.5) == 3.0  # observation id from the argument 'id'
        row = client.feedback(function="scored", observation_id=12, outcome=2.5)
        assert row["observation_id"] == "12" and row["outcome"] == 2.5
        with pytest.raises(ConflictError, match="observation id '12' of scored"):
            client.scored(id=12, x=1.0)
        with pytest.raises(NotFoundError):
            client.feedback("nope", 1)
        summary = client.feedback([{"id": prediction_id, "outcome": 17}, {"id": "x", "outcome": 1}])
        assert (summary["updated"], summary["not_found"]) == (1, 1)
        assert client.cube(n=2) == 8
        assert client.last_prediction_id is None  # log: false in the config
        stop(server.process)


def test_predictions_are_read_with_filters_and_cursors(firefly_server, sqlite_url):
    with firefly_server("--prediction-log", sqlite_url, "funcs.square", "funcs.fail") as server:
        ids = call_square(server.url, 25, threads=1)
        failed = requests.post(server.url + "fail", json={"message": "no"}, timeout=10)
        assert failed.status_code == 500
        invalid = requests.post(server.url + "square", json={"m": 1}, timeout=10)
        assert invalid.status_code == 422
        requests.post(server.url + "-/feedback", json={"id": ids[3], "outcome": 9}, timeout=10)
        seen, cursor = [], None
        while True:
            params = {"function": "square", "limit": 10, **({"cursor": cursor} if cursor else {})}
            page = requests.get(server.url + "-/predictions", params=params, timeout=10).json()
            seen += [row["prediction_id"] for row in page["predictions"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen[:25] == ids and len(seen) == 26  # the 422 is logged too
        failures = requests.get(server.url + "-/predictions?function=fail", timeout=10).json()
        [failure] = failures["predictions"]
        assert (failure["status"], failure["error"]) == (500, "ValueError: no")
        with_outcome = requests.get(server.url + "-/predictions?outcome=true", timeout=10).json()
        assert [row["prediction_id"] for row in with_outcome["predictions"]] == [ids[3]]
        bad = requests.get(server.url + "-/predictions?since=yesterday", timeout=10)
        assert bad.status_code == 400 and "since: expected an ISO 8601 time" in bad.json()["error"]
        stop(server.process)


def test_model_calls_are_logged_with_their_version(firefly_server, tmp_path, sqlite_url):
    repository = save_repository(tmp_path / "models")
    with firefly_server("--models", str(repository), "--prediction-log", sqlite_url) as server:
        default = requests.post(
            server.url + "churn/predict",
            json={"score_1": 0.5, "score_2": 1.2, "age": 40},
            timeout=10,
        )
        assert default.status_code == 200 and "X-Prediction-ID" in default.headers
        stop(server.process)
    [row] = rows(sqlite_url)
    assert row["function"] == "churn/predict"
    assert row["version"] == default.headers["X-Model-Version"]
    assert row["prediction_id"] == default.headers["X-Prediction-ID"]


def test_a_function_asking_for_the_log_gets_the_default_sqlite_file(firefly_server, tmp_path):
    config = APPS / "configs" / "logged.yml"
    with firefly_server("-c", str(config), cwd=tmp_path, env={"PYTHONPATH": str(APPS)}) as server:
        assert requests.post(server.url + "scored", json={"id": 1, "x": 2}, timeout=10).json() == 4
        square = requests.post(server.url + "square", json={"n": 2}, timeout=10)
        assert "X-Prediction-ID" not in square.headers  # prediction_log unset: square is not logged
        stop(server.process)
    [row] = rows(f"sqlite:///{tmp_path / 'predictions.db'}")
    assert (row["function"], row["observation_id"], row["result"]) == ("scored", "1", 4)


def test_sampling_logs_a_fraction_of_the_calls(firefly_server, sqlite_url):
    args = ("--prediction-log", sqlite_url, "--prediction-log-sample", "0.25", "funcs.square")
    with firefly_server(*args) as server:
        call_square_sampled = [
            "X-Prediction-ID"
            in requests.post(server.url + "square", json={"n": n}, timeout=10).headers
            for n in range(400)
        ]
        stop(server.process)
    logged = sum(call_square_sampled)
    assert 50 <= logged <= 150  # 100 expected; the bounds are 5 standard deviations off
    assert len(rows(sqlite_url)) == logged


def test_granian_workers_write_every_row_on_a_graceful_stop(tmp_path, sqlite_url):
    port = free_port()
    args = firefly_command(
        "--server", "granian", "--bind", f"127.0.0.1:{port}", "--workers", "2",
        "--prediction-log", sqlite_url, "funcs.square",
    )  # fmt: skip
    with serve(args, port, log_dir=tmp_path) as server:
        prediction_ids = call_square(server.url, 500, threads=8)
        stop(server.process)
        assert server.process.returncode == 0, server.log()
    assert sorted(row["prediction_id"] for row in rows(sqlite_url)) == sorted(prediction_ids)
