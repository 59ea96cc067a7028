"""End to end: slow clients, overload, bursts and SIGTERM against real ``firefly`` processes.

The acceptance of firefly's gunicorn worker: stalled clients hold no thread and are cut after
``--read-timeout`` with a JSON 408, requests past ``--max-waiting`` get 503 with Retry-After,
and SIGTERM lets the calls in flight finish. Every client is on loopback and every wait is
bounded; ``benchmarks/slowclients.py`` measures the same probes on demand.
"""

from __future__ import annotations

import contextlib
import http.client
import io
import json
import shutil
import signal
import socket
import statistics
import subprocess
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import requests

Starter = Callable[..., Any]  # the firefly_server fixture
HOST = "127.0.0.1"
JSON = "application/json"
STALLED = 100  # clients of each kind: stalled in their headers, stalled in their body
SAMPLES = 7  # normal requests measured among them
SAMPLE_TIMEOUT = 1.0
FAST = 0.1  # seconds: the median normal request
SLOWEST = 0.5  # seconds: the slowest normal request, leaving room for a noisy CI machine
READ_TIMEOUT = 1.0
CUT_MARGIN = 2.0  # how much later than the read timeout a stalled client may be cut
TRICKLE = 0.25  # seconds between two bytes of a client that sends its headers slowly
HEADERS_START = b"POST /square HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
BODY_START = HEADERS_START + b'Content-Length: 1000\r\n\r\n{"n": '
ENDLESS_HEADER = b"X-Slow: " + b"x" * 100  # a header line that is never finished
CALLS = 10
BURST = ("--threads", "2", "--connections", "1000", "--duration", "2s", "--timeout", "2s")
BURST_SCRIPT = (  # wrk's Lua: POST square's arguments
    'wrk.method = "POST"\n'
    "wrk.body = '{\"n\": 4}'\n"
    'wrk.headers["Content-Type"] = "application/json"\n'
)


def port_of(server: Any) -> int:
    """The port a ``firefly_server`` listens on."""
    port = urlparse(server.url).port
    assert port is not None
    return port


def timed_post(url: str, arguments: Any, timeout: float) -> tuple[int | str, float]:
    """POST ``arguments`` to ``url``: the status (``timeout``, ``reset`` if none) and seconds."""
    started = time.perf_counter()
    try:
        status: int | str = requests.post(url, json=arguments, timeout=timeout).status_code
    except requests.Timeout:
        status = "timeout"
    except requests.ConnectionError:
        status = "reset"
    return status, time.perf_counter() - started


@contextlib.contextmanager
def stalled_clients(port: int, start: bytes, count: int) -> Iterator[None]:
    """``count`` connections that send ``start`` and then nothing; closed afterwards."""
    with contextlib.ExitStack() as stack:
        for _ in range(count):
            sock = stack.enter_context(socket.create_connection((HOST, port), timeout=5))
            sock.sendall(start)
        yield


def read_until_closed(sock: socket.socket, timeout: float, trickle: bytes) -> tuple[bytes, float]:
    """What the server sends until it closes ``sock``, and after how many seconds.

    Meanwhile, whenever nothing came for TRICKLE seconds, the next byte of ``trickle`` is sent.
    Fails when the connection is still open after ``timeout`` seconds.
    """
    sock.settimeout(TRICKLE)
    received = bytearray()
    started = time.monotonic()
    sent = 0
    while (elapsed := time.monotonic() - started) < timeout:
        try:
            data = sock.recv(65536)
        except TimeoutError:
            with contextlib.suppress(BlockingIOError):
                sent += sock.send(trickle[sent : sent + 1]) if sent < len(trickle) else 0
            continue
        except ConnectionResetError:
            data = b""
        if not data:
            return bytes(received), elapsed
        received += data
    pytest.fail(f"still connected after {timeout:.0f}s; the server sent {bytes(received)!r}")


class RawAnswer:
    """A stand-in socket for http.client: the bytes a server sent, parsed as one response."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def makefile(self, *args: Any, **kwargs: Any) -> io.BytesIO:
        return io.BytesIO(self.data)


def parse_answer(data: bytes) -> tuple[int, http.client.HTTPMessage, bytes]:
    """The status, headers and body of the HTTP response in ``data``."""
    response = http.client.HTTPResponse(RawAnswer(data))  # type: ignore[arg-type]
    response.begin()
    return response.status, response.headers, response.read()


def assert_json_error(content_type: str | None, body: bytes) -> None:
    """The answer is JSON ``{"error": message}``."""
    assert content_type == JSON, content_type
    message = json.loads(body)["error"]
    assert isinstance(message, str) and message, body


@pytest.mark.parametrize(
    "options", [[], ["-w", "4"], ["--threads", "8"]], ids=["default", "w4", "threads8"]
)
def test_stalled_clients_do_not_slow_down_a_normal_request(
    firefly_server: Starter, options: list[str]
) -> None:
    # the read timeout outlasts the measurement, so every stalled client stays connected
    with firefly_server("funcs.square", "--read-timeout", "10", *options) as server:
        url, port = server.url + "square", port_of(server)
        for _ in range(8):  # every worker has booted and answered once
            assert timed_post(url, {"n": 4}, 5)[0] == 200
        with (
            stalled_clients(port, HEADERS_START, STALLED),
            stalled_clients(port, BODY_START, STALLED),
        ):
            time.sleep(0.3)
            replies = [timed_post(url, {"n": 4}, SAMPLE_TIMEOUT) for _ in range(SAMPLES)]
    assert [status for status, _ in replies] == [200] * SAMPLES, replies
    seconds = [elapsed for _, elapsed in replies]
    assert statistics.median(seconds) < FAST, seconds
    assert max(seconds) < SLOWEST, seconds


@pytest.mark.parametrize(
    "start, trickle",
    [(HEADERS_START, ENDLESS_HEADER), (BODY_START, b"")],
    ids=["partial-headers", "partial-body"],
)
def test_a_stalled_client_is_cut_after_the_read_timeout_with_a_json_408(
    firefly_server: Starter, start: bytes, trickle: bytes
) -> None:
    with firefly_server("funcs.square", "--read-timeout", str(READ_TIMEOUT)) as server:
        with socket.create_connection((HOST, port_of(server)), timeout=5) as sock:
            sock.sendall(start)
            data, seconds = read_until_closed(sock, READ_TIMEOUT + CUT_MARGIN, trickle)
    # a client still sending its headers byte by byte is cut all the same
    assert seconds >= READ_TIMEOUT / 2, seconds
    status, headers, body = parse_answer(data)
    assert status == 408, data
    assert headers.get("X-Request-ID"), data
    assert_json_error(headers.get("Content-Type"), body)


def test_requests_past_max_waiting_get_503_with_retry_after(firefly_server: Starter) -> None:
    with firefly_server("funcs.slow", "--threads", "1", "--max-waiting", "2") as server:
        url = server.url + "slow"

        def call(_: int) -> requests.Response:
            return requests.post(url, json={"seconds": 0.5}, timeout=CALLS * 0.5 + 5)

        with ThreadPoolExecutor(CALLS) as pool:
            responses = list(pool.map(call, range(CALLS)))
        fresh, seconds = timed_post(url, {"seconds": 0}, 5)
    statuses = [response.status_code for response in responses]
    assert 200 in statuses and 503 in statuses, statuses
    assert set(statuses) == {200, 503}, statuses
    for response in responses:
        if response.status_code == 503:
            assert response.headers.get("Retry-After", "").isdigit(), response.headers
            assert_json_error(response.headers.get("Content-Type"), response.content)
    assert fresh == 200 and seconds < SLOWEST, (fresh, seconds)


@pytest.mark.skipif(shutil.which("wrk") is None, reason="the burst needs wrk")
def test_a_fresh_request_is_fast_soon_after_a_burst_of_connections(
    firefly_server: Starter, tmp_path: Path
) -> None:
    script = tmp_path / "post.lua"
    script.write_text(BURST_SCRIPT)
    with firefly_server("funcs.square") as server:
        url = server.url + "square"
        wrk = subprocess.run(
            ["wrk", *BURST, "--script", str(script), url],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert wrk.returncode == 0, wrk.stderr
        time.sleep(1)
        status, seconds = timed_post(url, {"n": 4}, 5)
    assert status == 200, wrk.stdout
    assert seconds < 0.3, (seconds, wrk.stdout)


def test_sigterm_lets_the_calls_in_flight_finish(firefly_server: Starter) -> None:
    timeout, delay = 5, 1.0  # the graceful timeout is their sum
    # more threads than calls, so that /-/ready can answer while they run
    options = ("--threads", "12", "--timeout", str(timeout), "--shutdown-delay", str(delay))
    with firefly_server("funcs.slow", *options) as server:
        with ThreadPoolExecutor(CALLS) as pool:
            calls = [
                pool.submit(timed_post, server.url + "slow", {"seconds": 1.5}, 10)
                for _ in range(CALLS)
            ]
            time.sleep(0.3)
            server.process.send_signal(signal.SIGTERM)
            stopped = time.monotonic()
            ready = []
            while time.monotonic() < stopped + delay * 0.8:
                with contextlib.suppress(requests.RequestException):
                    ready.append(requests.get(server.url + "-/ready", timeout=0.5).status_code)
                time.sleep(0.05)
            statuses = [call.result()[0] for call in calls]
        code = server.process.wait(timeout=timeout + delay + 5)
        stop_seconds = time.monotonic() - stopped
    assert 503 in ready, ready
    assert statuses == [200] * CALLS, statuses
    assert code == 0, server.log()
    assert stop_seconds < timeout + delay, stop_seconds
