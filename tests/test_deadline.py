"""The deadline of a call under granian: interrupted at ``timeout`` and answered 504."""

from __future__ import annotations

import time

import pytest

from firefly import Firefly
from firefly.logs import current_request_id
from firefly.server.deadline import DeadlineFeature

TIMEOUT = 0.3


@pytest.fixture
def app():
    app = Firefly(metrics=False, access_log=None)

    @app.function
    def spin(seconds: float = 0.0, swallow: bool = False):
        """Compute in Python for ``seconds``; with ``swallow``, catch every Exception."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                sum(range(100))
            except Exception:
                if not swallow:
                    raise
        return current_request_id.get()

    @app.function
    def pause(seconds: float):
        time.sleep(seconds)
        return "done"

    app.add_feature(DeadlineFeature(TIMEOUT))
    app.prepare()
    yield app
    app.shutdown()


def call(app, function: str, **arguments):
    started = time.monotonic()
    response = app.test_client().post(f"/{function}", json=arguments, headers={"X-Request-ID": "r"})
    return response, time.monotonic() - started


def test_a_call_within_the_deadline_is_answered_with_its_request_id(app):
    response, _ = call(app, "spin")
    assert (response.status_code, response.json) == (200, "r")


@pytest.mark.parametrize("swallow", [False, True], ids=["plain", "except-Exception"])
def test_a_call_past_the_deadline_is_interrupted_and_gets_504(app, swallow):
    response, seconds = call(app, "spin", seconds=5, swallow=swallow)
    assert seconds < 1.5  # the deadline and a tick of the watchdog, not the 5 s
    assert response.status_code == 504
    assert response.json["error"] == "spin ran past the 0.3 s timeout"
    assert response.json["timeout"] == TIMEOUT
    after, _ = call(app, "spin")  # the thread serves on, no interruption left over
    assert after.status_code == 200


def test_a_call_waiting_in_c_is_answered_504_once_it_returns(app):
    response, seconds = call(app, "pause", seconds=0.8)
    assert 0.8 <= seconds < 1.5
    assert response.status_code == 504
    assert call(app, "pause", seconds=0)[0].status_code == 200
