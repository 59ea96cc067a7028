"""Health checks, warm-up, graceful drain and request ids in the logs, on a real server."""

import signal
import threading
import time

import requests

from tests.conftest import APPS, on_each_server


def _poll(check, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


@on_each_server
def test_ready_after_the_warm_up_call(firefly_server, tmp_path):
    config = tmp_path / "config.yml"
    config.write_text(
        "functions:\n"
        "  slow:\n"
        "    function: funcs.slow\n"
        "    warmup: {seconds: 1.5}\n"
        "  square:\n"
        "    function: funcs.square\n"
    )
    with firefly_server("-c", str(config)) as server:
        first = requests.get(server.url + "-/ready", timeout=5)
        assert first.status_code == 503
        assert first.json()["status"] == "starting"
        assert requests.get(server.url + "-/alive", timeout=5).status_code == 200
        assert requests.post(server.url + "square", json={"n": 3}, timeout=5).json() == 9
        ready = _poll(lambda: requests.get(server.url + "-/ready", timeout=5).ok)
        assert ready


@on_each_server
def test_sigterm_makes_the_worker_unready_but_serving_for_the_shutdown_delay(firefly_server):
    with firefly_server("funcs.square", "--shutdown-delay", "3") as server:
        assert requests.get(server.url + "-/ready", timeout=5).status_code == 200
        stopped_at = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        draining = _poll(lambda: requests.get(server.url + "-/ready", timeout=5).status_code == 503)
        assert draining
        assert requests.get(server.url + "-/ready", timeout=5).json()["status"] == "stopping"
        assert requests.post(server.url + "square", json={"n": 5}, timeout=5).json() == 25
        server.process.wait(timeout=20)
        assert time.monotonic() - stopped_at >= 3
        assert server.process.returncode == 0


@on_each_server
def test_log_lines_of_a_request_carry_its_id(firefly_server):
    with firefly_server("funcs.fail", "--access-log", "off") as server:
        response = requests.post(
            server.url + "fail", headers={"X-Request-ID": "trace-77"}, timeout=5
        )
        assert response.status_code == 500
        assert response.json()["request_id"] == "trace-77"
        log = _poll(lambda: "ValueError" in server.log() and server.log())
    lines = [line for line in log.splitlines() if "function 'fail' failed" in line]
    assert lines and all("[trace-77]" in line for line in lines), log


@on_each_server
def test_sigterm_answers_the_calls_in_flight_before_the_worker_stops(firefly_server):
    with firefly_server("funcs.slow") as server:
        answers = []
        call = threading.Thread(
            target=lambda: answers.append(
                requests.post(server.url + "slow", json={"seconds": 1.5}, timeout=10)
            )
        )
        call.start()
        time.sleep(0.5)  # the call is running
        server.process.send_signal(signal.SIGTERM)
        call.join(timeout=10)
        server.process.wait(timeout=20)
    assert [(answer.status_code, answer.json()) for answer in answers] == [(200, "done")]
    assert server.process.returncode == 0


def test_health_checks_under_gunicorn_need_no_token(gunicorn_server):
    env = {"FIREFLY_FUNCTIONS": "funcs.square", "FIREFLY_TOKEN": "abcd1234"}
    with gunicorn_server("firefly.main:app", env=env, cwd=APPS) as server:
        assert requests.get(server.url + "-/ready", timeout=5).json()["functions"] == ["square"]
        assert requests.get(server.url + "-/alive", timeout=5).status_code == 200
        assert requests.get(server.url, timeout=5).status_code == 401
