"""Firefly's gunicorn worker, end to end: timeouts, errors met outside the app, threads, health.

The slow-client, overload and graceful-stop probes are in test_slow_clients.py.
"""

from __future__ import annotations

import concurrent.futures
import json
import re
import socket
import time

import pytest
import requests

from tests.conftest import APPS, EXAMPLES, Server
from tests.test_docs import DOCS, console_calls, named_block
from tests.test_metrics import sample

TIMEOUT = 15
CLI_PAGE = DOCS / "cli.rst"
DEPLOYMENT_PAGE = DOCS / "deployment.rst"


def receive_all(url: str, data: bytes, wait: float = 5.0) -> bytes:
    """Send raw bytes to the server of ``url``; all it sends back until it closes."""
    host, port = url.split("//")[1].rstrip("/").split(":")
    with socket.create_connection((host, int(port)), timeout=wait) as sock:
        sock.sendall(data)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    return received


def logged(server: Server, text: str) -> None:
    """Wait until the server's log holds ``text`` (access log lines are written in batches)."""
    deadline = time.monotonic() + 5
    while text not in server.log():
        assert time.monotonic() < deadline, f"{text!r} not logged:\n{server.log()}"
        time.sleep(0.05)


def exchange(url: str, data: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes to the server of ``url``; its answer as (status, headers, body)."""
    head, _, body = receive_all(url, data).partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in header_lines)
    return int(status_line.split()[1]), headers, body


def test_a_call_past_the_timeout_gets_a_json_504_and_the_worker_serves_on(firefly_server):
    with firefly_server("--timeout", "1", "funcs.slow") as server:
        started = time.monotonic()
        answer = requests.post(
            server.url + "slow",
            json={"seconds": 3},
            headers={"X-Request-ID": "late-call"},
            timeout=TIMEOUT,
        )
        elapsed = time.monotonic() - started
        assert answer.status_code == 504
        assert answer.headers["Content-Type"] == "application/json"
        assert answer.headers["X-Request-ID"] == "late-call"
        assert answer.json() == {
            "error": "function 'slow' ran past the 1 s timeout",
            "timeout": 1,
            "request_id": "late-call",
        }
        assert 1 <= elapsed < 2.5
        after = requests.post(server.url + "slow", json={"seconds": 0}, timeout=TIMEOUT)
        assert after.json() == "done"
        time.sleep(2.5)  # the abandoned call ends: it must not be logged as answered
        logged(server, "rid=late-call")
        late_lines = [line for line in server.log().splitlines() if "rid=late-call" in line]
        assert len(late_lines) == 1 and '"POST /slow" 504' in late_lines[0]
        logged_ms = re.search(r'" 504 \d+B ([\d.]+)ms', late_lines[0])
        assert logged_ms and float(logged_ms.group(1)) >= 1000  # timed from the request's arrival
        assert "answered 504" in server.log()


def test_the_documented_timeout_example_answers_as_shown(firefly_server):
    (serve_words, _), (curl_words, shown) = console_calls(named_block(CLI_PAGE, "timeout-example"))
    assert serve_words[0] == "firefly" and curl_words[:3] == ["curl", "-i", "-d"]
    shown_head, _, shown_body = shown.partition("\n\n")
    with firefly_server(*serve_words[1:], cwd=EXAMPLES) as server:
        path = curl_words[4].split("/", 3)[3]
        answer = requests.post(server.url + path, data=curl_words[3], timeout=TIMEOUT)
    status_line, *header_lines = shown_head.splitlines()
    assert status_line == f"HTTP/1.1 {answer.status_code} {answer.reason}"
    for name, value in (line.split(": ", 1) for line in header_lines):
        if name != "X-Request-ID":
            assert answer.headers[name] == value
    body = answer.json()
    assert body.pop("request_id") == answer.headers["X-Request-ID"]
    documented = json.loads(shown_body)
    documented.pop("request_id")
    assert body == documented


def test_with_threads_a_timed_out_call_leaves_the_other_calls_running(firefly_server):
    with firefly_server("--timeout", "1", "--threads", "2", "funcs.slow") as server:
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            stuck = pool.submit(
                requests.post, server.url + "slow", json={"seconds": 3}, timeout=TIMEOUT
            )
            time.sleep(0.2)
            quick = [
                pool.submit(
                    requests.post, server.url + "slow", json={"seconds": 0.3}, timeout=TIMEOUT
                )
                for _ in range(3)
            ]
            assert [future.result().json() for future in quick] == ["done"] * 3
            assert stuck.result().status_code == 504
        assert requests.post(server.url + "slow", json={"seconds": 0}, timeout=TIMEOUT).ok


def test_threads_run_that_many_calls_at_once(firefly_server):
    with firefly_server("--threads", "3", "funcs.slow") as server:
        started = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(3) as pool:
            calls = [
                pool.submit(
                    requests.post, server.url + "slow", json={"seconds": 0.6}, timeout=TIMEOUT
                )
                for _ in range(3)
            ]
            assert [call.result().json() for call in calls] == ["done"] * 3
        assert time.monotonic() - started < 1.5


def test_health_checks_answer_while_the_only_thread_is_busy(firefly_server):
    with firefly_server("funcs.slow") as server:
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            busy = pool.submit(
                requests.post, server.url + "slow", json={"seconds": 2}, timeout=TIMEOUT
            )
            time.sleep(0.3)
            started = time.monotonic()
            assert requests.get(server.url + "-/ready", timeout=TIMEOUT).status_code == 200
            assert requests.get(server.url + "-/alive", timeout=TIMEOUT).status_code == 200
            assert time.monotonic() - started < 0.5
            assert busy.result().json() == "done"


POST = b"POST /square HTTP/1.1\r\nHost: test\r\nX-Request-ID: rid-%d\r\n"
#: requests the server refuses before they reach the app, with the status it answers
MALFORMED = [
    (b"NOT A REQUEST\r\n\r\n", 400),
    (b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\n\r\n", 414),
    (b"GET / HTTP/1.1\r\nX-Big: " + b"b" * 9000 + b"\r\n\r\n", 431),
    (POST % 4 + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
    (POST % 5 + b"Content-Length: 999999999\r\n\r\n", 413),
    (POST % 6 + b"Content-Length: 100\r\n\r\n{", 408),
]


def test_errors_met_outside_the_app_are_json_with_a_request_id_logged_and_counted(
    firefly_server,
):
    with firefly_server(
        "--read-timeout", "0.5", "--max-content-length", "1000", "funcs.square"
    ) as server:
        for request, status in MALFORMED:
            answered, headers, body = exchange(server.url, request)
            assert answered == status, body
            assert headers["Content-Type"] == "application/json"
            assert headers["Connection"] == "close"
            error = json.loads(body)
            assert error["error"] and error["request_id"] == headers["X-Request-ID"]
        assert headers["X-Request-ID"] == "rid-6"  # the caller's id, read from its headers
        metrics = requests.get(server.url + "-/metrics", timeout=TIMEOUT).text
        counted = {
            status: sample(metrics, "firefly_requests_total", function="", status=str(status))
            for status in (400, 408, 413, 414, 431)
        }
        assert counted == {400: 2, 408: 1, 413: 1, 414: 1, 431: 1}
        for line in ('"POST /square" 413 ', '"POST /square" 408 '):
            logged(server, line)
        assert "rid=rid-5" in server.log() and "rid=rid-6" in server.log()
        assert "Traceback" not in server.log()


def test_a_client_expecting_100_continue_gets_it_before_sending_its_body(firefly_server):
    with firefly_server("funcs.square") as server:
        port = int(server.url.rstrip("/").rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            head = POST % 7 + b"Expect: 100-continue\r\nContent-Length: 8\r\nConnection: close\r\n"
            sock.sendall(head + b"\r\n")
            assert sock.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
            sock.sendall(b'{"n": 4}')
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 200 OK") and answer.endswith(b"\r\n\r\n16")


def test_gunicorn_users_get_the_same_protection_with_the_worker_class(gunicorn_server):
    ((words, _),) = console_calls(named_block(DEPLOYMENT_PAGE, "gunicorn-worker-example"))
    assert words[0] == "gunicorn" and words[-2:] == ["-e", "FIREFLY_FUNCTIONS=funcs.square"]
    args = [*words[1:-2], "--timeout", "1", "-e", "FIREFLY_FUNCTIONS=funcs.square,funcs.slow"]
    with gunicorn_server(*args, env={"FIREFLY_READ_TIMEOUT": "0.5"}, cwd=APPS) as server:
        port = int(server.url.rstrip("/").rsplit(":", 1)[1])
        stalled = [socket.create_connection(("127.0.0.1", port)) for _ in range(20)]
        try:
            for sock in stalled:
                sock.sendall(b"POST /square HTTP/1.1\r\nContent-Length: 50\r\n\r\n{")
            started = time.monotonic()
            assert requests.post(server.url + "square", json={"n": 3}, timeout=TIMEOUT).json() == 9
            assert time.monotonic() - started < 0.5
            late = requests.post(server.url + "slow", json={"seconds": 3}, timeout=TIMEOUT)
            assert late.status_code == 504
            assert b'"error"' in stalled[0].recv(65536).split(b"\r\n\r\n", 1)[1]
        finally:
            for sock in stalled:
                sock.close()


@pytest.mark.parametrize("threads", ["1", "4"])
def test_the_worker_answers_keep_alive_and_pipelined_requests_in_order(firefly_server, threads):
    with firefly_server("--threads", threads, "funcs.square") as server:
        with requests.Session() as session:
            answers = [
                session.post(server.url + "square", json={"n": n}, timeout=TIMEOUT)
                for n in range(20)
            ]
        assert [answer.json() for answer in answers] == [n * n for n in range(20)]
        pipelined = b"".join(
            b"POST /square HTTP/1.1\r\nContent-Length: 8\r\n\r\n" + b'{"n": %d}' % n
            for n in range(1, 4)
        )
        last = b"GET /-/alive HTTP/1.1\r\nConnection: close\r\n\r\n"
        received = receive_all(server.url, pipelined + last)
        assert received.count(b"HTTP/1.1 200 OK\r\n") == 4
        assert re.findall(rb"\r\n\r\n(\d+)", received) == [b"1", b"4", b"9"]


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_a_body_that_keeps_coming_is_not_cut_by_the_read_timeout(firefly_server, framing):
    body = b'{"n": 12}'
    if framing == "chunked":
        head = b"Transfer-Encoding: chunked\r\n\r\n"
        parts = [b"%x\r\n%s\r\n" % (1, bytes([byte])) for byte in body] + [b"0\r\n\r\n"]
    else:
        head = b"Content-Length: %d\r\n\r\n" % len(body)
        parts = [bytes([byte]) for byte in body]
    with firefly_server("--read-timeout", "1", "funcs.square") as server:
        port = int(server.url.rstrip("/").rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(POST % 8 + b"Connection: close\r\n" + head)
            for part in parts:  # about 2.5 s in all, each part within the timeout of the last
                time.sleep(0.25)
                sock.sendall(part)
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
    assert answer.startswith(b"HTTP/1.1 200 OK") and answer.endswith(b"\r\n\r\n144")


def test_a_worker_recycled_by_max_requests_loses_no_request(gunicorn_server):
    args = ["-k", "firefly.server.worker.FireflyWorker", "--max-requests", "5", "firefly.main:app"]
    with gunicorn_server(*args, env={"FIREFLY_FUNCTIONS": "funcs.square"}, cwd=APPS) as server:
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            answers = list(
                pool.map(
                    lambda n: requests.post(server.url + "square", json={"n": n}, timeout=TIMEOUT),
                    range(40),
                )
            )
        assert [answer.json() for answer in answers] == [n * n for n in range(40)]
        assert server.log().count("Autorestarting worker") >= 5
