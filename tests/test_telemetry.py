"""TelemetryMiddleware: one record per request, with what the observers need."""

import io

import pytest

from firefly import Firefly
from firefly.telemetry.observer import RequestRecord, TelemetryMiddleware


class Recorder:
    """An observer that keeps what it is told."""

    def __init__(self):
        self.started = 0
        self.records: list[RequestRecord] = []

    def request_started(self):
        self.started += 1

    def request_finished(self, record):
        self.records.append(record)


@pytest.fixture
def observed():
    """An app whose telemetry reports to a Recorder (access log and metrics off)."""
    app = Firefly(access_log=None, metrics=False)

    @app.function
    def square(n):
        return n**2

    @app.function
    def fail():
        raise KeyError("missing")

    @app.function
    def download():
        return io.BytesIO(b"x" * 5000)

    recorder = Recorder()
    app.wsgi_app = TelemetryMiddleware(app.wsgi_app, [recorder])  # type: ignore[method-assign]
    return app.test_client(), recorder


def test_a_function_call_is_recorded(observed):
    client, recorder = observed
    response = client.post("/square?x=1", json={"n": 4}, headers={"X-Request-ID": "abc-1"})
    assert response.data == b"16"
    assert recorder.records == []  # reported once the server has sent the body and closed it
    response.close()
    (record,) = recorder.records
    assert recorder.started == 1
    assert (record.method, record.path, record.function) == ("POST", "/square", "square")
    assert (record.status, record.bytes_sent, record.exception) == (200, 2, None)
    assert record.request_id == "abc-1"
    assert record.client == "127.0.0.1"
    assert 0 < record.duration < 10
    assert record.time > 1.7e9


def test_other_routes_have_no_function(observed):
    client, recorder = observed
    client.get("/nowhere").close()  # a server closes every response: that reports it
    client.get("/-/alive").close()
    assert [(r.path, r.function, r.status) for r in recorder.records] == [
        ("/nowhere", None, 404),
        ("/-/alive", None, 200),
    ]


def test_the_exception_a_function_raised_is_recorded(observed):
    client, recorder = observed
    with client.post("/fail") as response:
        assert response.status_code == 500
    assert (recorder.records[0].status, recorder.records[0].exception) == (500, "KeyError")


def test_a_streamed_body_is_recorded_when_it_is_closed(observed):
    client, recorder = observed
    response = client.post("/download")
    assert len(response.data) == 5000
    response.close()
    (record,) = recorder.records
    assert (record.function, record.status, record.bytes_sent) == ("download", 200, 5000)


def test_no_observer_means_no_middleware():
    app = Firefly(access_log=None, metrics=False)
    stack = app.prepare()
    chain = []
    while stack is not None:
        chain.append(type(stack).__name__)
        stack = getattr(stack, "app", None)
    assert "TelemetryMiddleware" not in chain


def test_an_app_that_raises_is_recorded_as_a_500_and_the_error_goes_on():
    recorder = Recorder()

    def broken_app(environ, start_response):
        start_response("200 OK", [])  # started, then failed: the server answers 500
        raise RuntimeError("broken")

    middleware = TelemetryMiddleware(broken_app, [recorder])
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/x", "REMOTE_ADDR": "127.0.0.1"}
    with pytest.raises(RuntimeError, match="broken"):
        middleware(environ, lambda status, headers, exc_info=None: None)
    (record,) = recorder.records
    assert (record.path, record.status, record.bytes_sent) == ("/x", 500, 0)
