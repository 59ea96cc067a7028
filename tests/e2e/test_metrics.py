"""End to end: ``GET /-/metrics`` of real servers, several workers adding up, and docs/metrics.rst.

Every test starts a real ``firefly`` or gunicorn process on a free loopback
port and scrapes it over HTTP, as Prometheus would.
"""

from __future__ import annotations

import concurrent.futures
import os
import shlex
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import on_each_server
from tests.test_docs import CODE_DIRECTIVE, DOCS, directive_blocks
from tests.test_metrics import sample

TOKEN = "abcd1234"
TIMEOUT = 10
#: Longer than a worker keeps the requests it answered before it adds them to the files.
BATCH_SECONDS = 0.2
WORKERS = 3
SQUARE_CALLS = 30
FAIL_CALLS = 4
METRICS_PAGE = DOCS / "metrics.rst"
# What Prometheus 2.x sends when it scrapes.
PROMETHEUS_ACCEPT = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
    "text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)


def docs_block(name: str) -> str:
    """The code block of docs/metrics.rst with ``:name: name``."""
    (content,) = [
        content
        for _, options, content in directive_blocks(METRICS_PAGE.read_text(), CODE_DIRECTIVE)
        if options.get("name") == name
    ]
    return content


def scrape(url: str, **headers: str) -> str:
    response = requests.get(url + "-/metrics", headers=headers, timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return response.text


def call_concurrently(url: str, calls: list[tuple[str, dict[str, object]]]) -> list[int]:
    """POST each ``(function, arguments)`` from several threads, each on a new connection."""

    def post(call: tuple[str, dict[str, object]]) -> int:
        function, arguments = call
        return requests.post(url + function, json=arguments, timeout=TIMEOUT).status_code

    with concurrent.futures.ThreadPoolExecutor(max_workers=WORKERS * 2) as pool:
        return list(pool.map(post, calls))


def worker_files(directory: Path, prefix: str) -> set[str]:
    """The pids of the processes whose ``prefix`` files are in a multiprocess directory."""
    return {path.stem.rpartition("_")[2] for path in directory.glob(f"{prefix}_*.db")}


def wait_for(condition: Callable[[], bool], what: str, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def assert_totals(text: str, slow_calls: int) -> None:
    """The scrape counts exactly the calls ``exercise_workers`` made."""
    assert sample(text, "firefly_requests_total", function="square", status="200") == SQUARE_CALLS
    assert sample(text, "firefly_requests_total", function="fail", status="500") == FAIL_CALLS
    assert sample(text, "firefly_exceptions_total", function="fail", type="ValueError") == (
        FAIL_CALLS
    )
    count = "firefly_request_duration_seconds_count"
    assert sample(text, count, function="square") == SQUARE_CALLS
    assert sample(
        text, "firefly_request_duration_seconds_bucket", function="square", le="+Inf"
    ) == (SQUARE_CALLS)
    assert sample(text, count, function="fail") == FAIL_CALLS
    assert sample(text, count, function="slow") == slow_calls
    assert sample(text, "firefly_exceptions_total", function="square", type="ValueError") is None


def exercise_workers(url: str, directory: Path | None = None) -> int:
    """Busy every worker with slow calls, then spread square and fail calls over them.

    Concurrent slow calls each take a worker of their own; they are repeated
    until every worker has counted one (in ``directory``, when given), since a
    worker may still be starting. Returns how many slow calls were made.
    """
    slow_calls = 0
    deadline = time.monotonic() + TIMEOUT
    while not slow_calls or (directory and len(worker_files(directory, "counter")) < WORKERS):
        assert time.monotonic() < deadline, "not every worker answered a slow call"
        statuses = call_concurrently(url, [("slow", {"seconds": 0.5})] * WORKERS)
        assert statuses == [200] * WORKERS
        slow_calls += WORKERS
    calls = [("square", {"n": n}) for n in range(SQUARE_CALLS)] + [("fail", {})] * FAIL_CALLS
    statuses = call_concurrently(url, calls)
    assert statuses == [200] * SQUARE_CALLS + [500] * FAIL_CALLS
    return slow_calls


def settle() -> None:
    """Wait for every worker to add the requests it answered (every 50 ms, in batches).

    A scrape adds its own worker's at once, the others' as they come.
    """
    time.sleep(BATCH_SECONDS)


@on_each_server
def test_every_worker_adds_to_the_same_totals(firefly_server, tmp_path, server_name):
    # The firefly command makes its metrics directory with tempfile: under TMPDIR.
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    args = ["-w", str(WORKERS), "funcs.square", "funcs.fail", "funcs.slow"]
    with firefly_server(*args, env={"TMPDIR": str(temporary)}) as server:
        (directory,) = temporary.glob("firefly-metrics-*")
        slow_calls = exercise_workers(server.url, directory)
        # Each scrape is answered by whichever worker accepts it: all must agree.
        for _ in range(2 * WORKERS):
            settle()  # the previous scrape is no longer in progress
            text = scrape(server.url)
            assert_totals(text, slow_calls)
            assert sample(text, "firefly_requests_in_progress") == 1  # the scrape itself
        settle()
        scrapes = sample(scrape(server.url), "firefly_requests_total", function="", status="200")
        assert scrapes == 2 * WORKERS
        if server_name == "gunicorn":  # granian has no signal for one worker fewer
            one_worker_fewer(server, directory, slow_calls)
    assert not directory.exists()


def one_worker_fewer(server, directory: Path, slow_calls: int) -> None:
    """SIGTTOU stops one of gunicorn's workers: its share of the gauge goes, its counts stay."""
    live = worker_files(directory, "gauge_livesum")
    os.kill(server.process.pid, signal.SIGTTOU)
    wait_for(lambda: len(worker_files(directory, "gauge_livesum")) == len(live) - 1, "exit")
    text = scrape(server.url)
    assert_totals(text, slow_calls)
    assert sample(text, "firefly_requests_in_progress") == 1


@pytest.mark.parametrize(
    ("args", "env", "status_without_token"),
    [
        ([], {}, 401),
        (["--no-token-for-metrics"], {}, 200),
        ([], {"FIREFLY_TOKEN_FOR_METRICS": "false"}, 200),
    ],
    ids=["token-needed", "flag-off", "env-off"],
)
@on_each_server
def test_the_token_rule_for_metrics(firefly_server, args, env, status_without_token):
    with firefly_server("--token", TOKEN, *args, "funcs.square", env=env) as server:
        without = requests.get(server.url + "-/metrics", timeout=TIMEOUT)
        assert without.status_code == status_without_token
        if status_without_token == 401:
            assert without.headers["WWW-Authenticate"].startswith("Token")
            assert "firefly_requests_total" not in without.text
        assert "firefly_requests_total" in scrape(server.url, Authorization=f"Token {TOKEN}")
        # The functions keep needing the token either way.
        call = requests.post(server.url + "square", json={"n": 4}, timeout=TIMEOUT)
        assert call.status_code == 401


@on_each_server
def test_metrics_can_be_turned_off(firefly_server):
    with firefly_server("--no-metrics", "funcs.square") as server:
        assert requests.post(server.url + "square", json={"n": 4}, timeout=TIMEOUT).json() == 16
        assert requests.get(server.url + "-/metrics", timeout=TIMEOUT).status_code == 404


# docs/metrics.rst


@on_each_server
def test_the_sample_scrape_is_what_the_documented_calls_give(firefly_server):
    with firefly_server("funcs.square", "funcs.fail") as server:
        outputs = []
        for line in docs_block("metrics-sample-calls").splitlines():
            command = shlex.split(line.removeprefix("$ ").replace("http://127.0.0.1:8000/", ""))
            command[-1] = server.url + command[-1]
            outputs.append(subprocess.run(command, capture_output=True, text=True, timeout=30))
        assert [output.returncode for output in outputs] == [0] * len(outputs)
        real = list(text_string_to_metric_families(outputs[-1].stdout))
    documented = list(text_string_to_metric_families(docs_block("metrics-sample-scrape")))
    # Families come in the order of the workers' files: compare them as sets.
    assert {family.name for family in documented} == {family.name for family in real}
    real_samples = {
        (found.name, tuple(sorted(found.labels.items()))): found.value
        for family in real
        for found in family.samples
    }
    # The fixture's readiness probes (GET /-/none) are other routes the docs did not make.
    probes = real_samples.pop(("firefly_requests_total", (("function", ""), ("status", "404"))))
    assert probes >= 1
    for family in documented:
        for found in family.samples:
            key = (found.name, tuple(sorted(found.labels.items())))
            assert key in real_samples, f"documented sample {key} is not in a real scrape"
            timed = found.name.endswith("_sum") or found.labels.get("le", "+Inf") != "+Inf"
            if not timed:
                extra = probes if found.labels.get("function") == "" else 0
                assert found.value + extra == real_samples[key], key


@on_each_server
def test_the_prometheus_scrape_config_scrapes_a_server_with_a_token(firefly_server):
    (job,) = yaml.safe_load(docs_block("metrics-prometheus-config"))["scrape_configs"]
    authorization = job["authorization"]
    assert authorization["credentials"] == TOKEN
    assert job["static_configs"][0]["targets"] == ["127.0.0.1:8000"]
    with firefly_server("--token", TOKEN, "funcs.square") as server:
        url = server.url.rstrip("/") + job["metrics_path"]
        headers = {
            "Authorization": f"{authorization['type']} {authorization['credentials']}",
            "Accept": PROMETHEUS_ACCEPT,
        }
        response = requests.get(url, headers=headers, timeout=TIMEOUT)
        assert response.status_code == 200
        assert response.headers["Content-Type"].startswith("application/openmetrics-text")
        assert "# TYPE firefly_requests counter" in response.text
        assert response.text.endswith("# EOF\n")
        assert requests.get(url, timeout=TIMEOUT).status_code == 401


def test_the_documented_gunicorn_setup_adds_up_workers(gunicorn_server, tmp_path):
    (tmp_path / "gunicorn.conf.py").write_text(docs_block("metrics-gunicorn-conf"))
    commands = [
        shlex.split(line.removeprefix("$ "))
        for line in docs_block("metrics-gunicorn-command").splitlines()
    ]
    directory = tmp_path / "firefly-metrics"
    assert commands[0] == [
        "rm",
        "-rf",
        "/tmp/firefly-metrics",
        "&&",
        "mkdir",
        "/tmp/firefly-metrics",
    ]
    assert commands[1] == ["export", "PROMETHEUS_MULTIPROC_DIR=/tmp/firefly-metrics"]
    directory.mkdir()
    gunicorn_args = commands[2]
    assert gunicorn_args[0] == "gunicorn"
    gunicorn_args = [
        str(tmp_path / "gunicorn.conf.py") if arg == "gunicorn.conf.py" else arg
        for arg in gunicorn_args[1:]
    ]
    gunicorn_args[-1] += ",funcs.fail,funcs.slow"
    env = {"PROMETHEUS_MULTIPROC_DIR": str(directory)}
    with gunicorn_server(*gunicorn_args, env=env) as server:
        slow_calls = exercise_workers(server.url, directory)
        settle()
        for _ in range(WORKERS):
            assert_totals(scrape(server.url), slow_calls)

        live = worker_files(directory, "gauge_livesum")
        os.kill(server.process.pid, signal.SIGTTOU)  # the child_exit hook runs
        wait_for(lambda: len(worker_files(directory, "gauge_livesum")) == len(live) - 1, "exit")
        assert_totals(scrape(server.url), slow_calls)


def test_plain_gunicorn_without_the_directory_counts_per_worker(gunicorn_server):
    args = ["--preload", "--workers", str(WORKERS), "firefly.main:app"]
    env = {"FIREFLY_FUNCTIONS": "funcs.square,funcs.fail,funcs.slow"}
    with gunicorn_server(*args, env=env) as server:
        wait_for(lambda: server.log().count("Booting worker") == WORKERS, "the workers")
        slow_calls = exercise_workers(server.url)
        # The concurrent slow calls went to different workers, and each counts only its own.
        counted = [
            sample(scrape(server.url), "firefly_request_duration_seconds_count", function="slow")
            for _ in range(2 * WORKERS)
        ]
    assert all((count or 0) < slow_calls for count in counted), counted
