"""Health checks: /-/alive, /-/ready, warm-up and the token rule."""

import threading

import pytest

from firefly import Firefly
from firefly.routes.health import Health, Status
from firefly.version import __version__


def test_alive_and_ready_name_the_app_its_version_and_functions(client):
    for path, status in [("/-/alive", "alive"), ("/-/ready", "ready")]:
        response = client.get(path)
        assert response.status_code == 200
        assert response.json == {
            "status": status,
            "app": "firefly",
            "version": __version__,
            "title": "Firefly",
            "api_version": "0.1.0",
            "functions": ["square", "plus"],
        }
        assert response.headers["X-Request-ID"]


def test_title_and_version_come_from_the_settings():
    app = Firefly(title="Iris", api_version="2.1")
    body = app.test_client().get("/-/alive").json
    assert (body["title"], body["api_version"]) == ("Iris", "2.1")


def test_app_and_version_mean_the_same_in_the_index_and_the_health_checks():
    client = Firefly(title="Iris", api_version="2.1").test_client()
    index, alive = client.get("/").json, client.get("/-/alive").json
    for key in ("app", "version", "title", "api_version"):
        assert index[key] == alive[key]
    assert (index["app"], index["version"]) == ("firefly", __version__)


def test_health_checks_need_no_token_unless_configured():
    app = Firefly(auth_token="abcd1234")
    client = app.test_client()
    assert client.get("/-/alive").status_code == 200
    assert client.get("/-/ready").status_code == 200
    assert client.get("/").status_code == 401

    strict = Firefly(auth_token="abcd1234", token_for_health=True).test_client()
    assert strict.get("/-/ready").status_code == 401
    ok = strict.get("/-/ready", headers={"Authorization": "Token abcd1234"})
    assert ok.status_code == 200


def test_ready_waits_for_the_warm_up_call():
    release = threading.Event()
    calls = []
    app = Firefly()

    @app.function(warmup={"n": "3"})
    def load_model(n: int) -> int:
        calls.append(n)
        release.wait(10)
        return n

    client = app.test_client()
    starting = client.get("/-/ready")
    assert starting.status_code == 503
    assert starting.json["error"] == "not ready: starting"
    assert starting.json["status"] == "starting"
    assert starting.json["functions"] == ["load_model"]
    assert starting.json["request_id"] == starting.headers["X-Request-ID"]
    assert client.get("/-/alive").status_code == 200
    release.set()
    _wait_for(lambda: client.get("/-/ready").status_code == 200)
    assert calls == [3]  # validated and coerced like a request's arguments


def test_a_failing_warm_up_is_reported_by_the_readiness_check_and_logged_once(caplog):
    app = Firefly()

    @app.function(warmup={})
    def broken() -> None:
        raise RuntimeError("model file missing")

    client = app.test_client()
    client.get("/-/alive")  # the first request starts the warm-up
    _wait_for(lambda: client.get("/-/ready").json["status"] == "failed")
    response = client.get("/-/ready")
    assert response.status_code == 503
    assert response.json["warmup_error"] == "broken: RuntimeError: model file missing"
    assert response.json["error"] == (
        "not ready: the warm-up call of broken: RuntimeError: model file missing"
    )
    assert caplog.text.count("warm-up call of 'broken' failed") == 1
    assert "RuntimeError: model file missing" in caplog.text  # with its traceback


def test_a_stopping_worker_is_not_ready(client):
    client.get("/-/alive")
    client.application.health.stop()
    response = client.get("/-/ready")
    assert response.status_code == 503
    assert response.json["status"] == "stopping"
    assert client.get("/-/alive").status_code == 200


def test_health_starts_once_and_never_leaves_stopping_for_ready():
    health = Health()
    gate = threading.Event()
    health.start([("f", gate.wait)])
    health.start([("f", lambda: pytest.fail("started twice"))])
    health.stop()
    gate.set()
    _wait_for(lambda: not any(t.name == "firefly-warmup" for t in threading.enumerate()))
    assert health.status is Status.STOPPING


def test_health_paths_are_reserved():
    app = Firefly()
    with pytest.raises(Exception, match="reserved"):
        app.add_route("/-/ready", lambda: 1, "ready")


def _wait_for(condition, timeout=10.0):
    done = threading.Event()
    for _ in range(int(timeout / 0.01)):
        if condition():
            return
        done.wait(0.01)
    raise AssertionError("condition not met in time")
