"""The deadline of a call under servers without one: 504 at ``timeout``, the call's context kept."""

from __future__ import annotations

import threading
import time

import pytest

from firefly import Firefly
from firefly.logs import current_request_id
from firefly.server.deadline import DeadlineFeature


@pytest.fixture
def app():
    app = Firefly(metrics=False, access_log=None)

    @app.function
    def pause(seconds: float = 0.0):
        time.sleep(seconds)
        return {"thread": threading.current_thread().name, "request_id": current_request_id.get()}

    app.add_feature(DeadlineFeature(0.3, threads=2))
    yield app
    app.shutdown()


def test_a_call_within_the_deadline_runs_on_a_helper_thread_with_its_request_id(app):
    response = app.test_client().post("/pause", json={}, headers={"X-Request-ID": "rid-1"})
    assert response.status_code == 200
    assert response.json["thread"].startswith("firefly-call")
    assert response.json["request_id"] == "rid-1"


def test_a_call_past_the_deadline_gets_504_naming_the_function_and_the_limit(app):
    started = time.monotonic()
    response = app.test_client().post("/pause", json={"seconds": 2})
    assert time.monotonic() - started < 1.5
    assert response.status_code == 504
    assert response.json["error"] == "pause ran past the 0.3 s timeout"
    assert response.json["timeout"] == 0.3
