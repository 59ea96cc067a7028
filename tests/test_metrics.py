"""Prometheus metrics: what they count, in one process and summed over several."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from firefly.errors import ConfigError
from firefly.telemetry.metrics import (
    MULTIPROCESS_DIRECTORY_VARIABLE,
    Metrics,
    observe_all,
    prepare_multiprocess_directory,
    remove_multiprocess_directory,
    worker_exited,
)
from firefly.telemetry.observer import RequestRecord

TEXT_FORMAT = "text/plain; version=0.0.4; charset=utf-8"


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of the sample ``name{labels}`` in a scrape, None when it has none."""
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == name and found.labels == labels:
                return found.value
    return None


def record(
    function: str | None = "square",
    status: int = 200,
    duration: float = 0.002,
    exception: str | None = None,
) -> RequestRecord:
    return RequestRecord(
        time=0.0,
        request_id="abc",
        method="POST",
        path=f"/{function}",
        function=function,
        status=status,
        duration=duration,
        bytes_sent=2,
        client="127.0.0.1",
        exception=exception,
    )


def scrape(metrics: Metrics) -> str:
    body, _ = metrics.render()
    return body.decode()


def answer(metrics: Metrics, finished: RequestRecord) -> None:
    metrics.request_started()
    metrics.request_finished(finished)


@pytest.fixture
def metrics() -> Metrics:
    return Metrics(["square", "fail"])


def test_requests_are_counted_by_function_and_status(metrics):
    for status in (200, 200, 422):
        answer(metrics, record(status=status))
    answer(metrics, record(function=None, status=404))
    text = scrape(metrics)
    assert sample(text, "firefly_requests_total", function="square", status="200") == 2
    assert sample(text, "firefly_requests_total", function="square", status="422") == 1
    assert sample(text, "firefly_requests_total", function="", status="404") == 1
    assert sample(text, "firefly_requests_total", function="fail", status="200") is None


def test_durations_fall_in_the_histogram_of_their_function(metrics):
    for duration in (0.0003, 0.002, 0.2):
        answer(metrics, record(duration=duration))
    text = scrape(metrics)
    bucket = "firefly_request_duration_seconds_bucket"
    assert sample(text, bucket, function="square", le="0.0005") == 1
    assert sample(text, bucket, function="square", le="0.0025") == 2
    assert sample(text, bucket, function="square", le="0.25") == 3
    assert sample(text, bucket, function="square", le="+Inf") == 3
    assert sample(text, "firefly_request_duration_seconds_count", function="square") == 3
    assert sample(text, "firefly_request_duration_seconds_sum", function="square") == (
        pytest.approx(0.2023)
    )


def test_every_function_has_a_histogram_from_the_start(metrics):
    text = scrape(metrics)
    for function in ("square", "fail", ""):
        assert sample(text, "firefly_request_duration_seconds_count", function=function) == 0


def test_a_function_not_named_at_start_up_is_still_counted(metrics):
    answer(metrics, record(function="cube"))
    text = scrape(metrics)
    assert sample(text, "firefly_requests_total", function="cube", status="200") == 1
    assert sample(text, "firefly_request_duration_seconds_count", function="cube") == 1


def test_the_in_progress_gauge_follows_requests_in_flight(metrics):
    metrics.request_started()
    metrics.request_started()
    assert sample(scrape(metrics), "firefly_requests_in_progress") == 2
    metrics.request_finished(record())
    assert sample(scrape(metrics), "firefly_requests_in_progress") == 1
    metrics.request_finished(record())
    assert sample(scrape(metrics), "firefly_requests_in_progress") == 0


def test_exceptions_are_counted_by_function_and_type(metrics):
    answer(metrics, record(function="fail", status=500, exception="ValueError"))
    answer(metrics, record(function="fail", status=500, exception="ValueError"))
    answer(metrics, record(function="fail", status=500, exception="KeyError"))
    answer(metrics, record(function="square"))
    text = scrape(metrics)
    assert sample(text, "firefly_exceptions_total", function="fail", type="ValueError") == 2
    assert sample(text, "firefly_exceptions_total", function="fail", type="KeyError") == 1
    assert sample(text, "firefly_requests_total", function="fail", status="500") == 3
    assert not any(
        found.labels.get("function") == "square"
        for family in text_string_to_metric_families(text)
        if family.name == "firefly_exceptions"
        for found in family.samples
    )


def test_two_apps_in_one_process_count_apart():
    first, second = Metrics(["square"]), Metrics(["square"])
    answer(first, record())
    assert sample(scrape(first), "firefly_requests_total", function="square", status="200") == 1
    assert sample(scrape(second), "firefly_requests_total", function="square", status="200") is None


@pytest.mark.parametrize(
    ("accept", "content_type"),
    [
        (None, TEXT_FORMAT),
        ("*/*", TEXT_FORMAT),
        ("text/plain", TEXT_FORMAT),
        ("application/openmetrics-text", "application/openmetrics-text; version=1.0.0"),
    ],
)
def test_render_answers_the_format_the_scraper_accepts(metrics, accept, content_type):
    answer(metrics, record())
    body, rendered_type = metrics.render(accept)
    assert rendered_type.startswith(content_type)
    assert b"firefly_requests_total" in body or b"firefly_requests_created" in body
    assert body.endswith(b"# EOF\n") == rendered_type.startswith("application/openmetrics-text")


def test_the_mode_is_the_one_prometheus_client_was_imported_in(metrics, monkeypatch, tmp_path):
    # prometheus-client is imported in-process here; setting the variable later changes nothing.
    monkeypatch.setenv(MULTIPROCESS_DIRECTORY_VARIABLE, str(tmp_path))
    late = Metrics(["square"])
    answer(late, record())
    assert not late.multiprocess
    assert sample(scrape(late), "firefly_requests_total", function="square", status="200") == 1
    assert list(tmp_path.iterdir()) == []


def test_the_multiprocess_directory_is_fresh_and_removed(monkeypatch):
    monkeypatch.delenv(MULTIPROCESS_DIRECTORY_VARIABLE, raising=False)
    directory = prepare_multiprocess_directory()
    other = prepare_multiprocess_directory()
    try:
        assert directory != other
        assert os.environ[MULTIPROCESS_DIRECTORY_VARIABLE] == other
        assert os.listdir(directory) == []
    finally:
        remove_multiprocess_directory(directory)
        assert os.environ[MULTIPROCESS_DIRECTORY_VARIABLE] == other
        remove_multiprocess_directory(other)
    assert not os.path.exists(directory) and not os.path.exists(other)
    assert MULTIPROCESS_DIRECTORY_VARIABLE not in os.environ


def test_worker_exited_does_nothing_in_single_process_mode(metrics, monkeypatch, tmp_path):
    from prometheus_client import multiprocess

    monkeypatch.delenv(MULTIPROCESS_DIRECTORY_VARIABLE, raising=False)
    monkeypatch.chdir(tmp_path)
    marked: list[tuple[object, ...]] = []
    monkeypatch.setattr(multiprocess, "mark_process_dead", lambda *args: marked.append(args))
    answer(metrics, record())
    metrics.request_started()  # in flight in this very process
    before = scrape(metrics)

    assert worker_exited(os.getpid()) is None

    assert marked == []  # no multiprocess files to mark
    assert list(tmp_path.iterdir()) == []
    after = scrape(metrics)
    assert sample(after, "firefly_requests_in_progress") == 1  # the request is still counted
    assert sample(after, "firefly_requests_total", function="square", status="200") == 1
    assert after == before


# Multiprocess mode: the variable must be set before prometheus-client is imported,
# so these run in a fresh interpreter, whose forked children play gunicorn's workers.

WORKERS_SCRIPT = """
import json, os, sys
from firefly.telemetry.metrics import Metrics, worker_exited
from firefly.telemetry.observer import RequestRecord

def record(function, status, exception=None):
    return RequestRecord(0.0, "id", "POST", "/" + function, function, status, 0.003, 2,
                         "127.0.0.1", exception)

metrics = Metrics(["square", "fail"])  # built before the fork, as the firefly command does
children = []
for calls in (1, 2, 3):
    pid = os.fork()
    if pid == 0:
        for _ in range(calls):
            metrics.request_started()
            metrics.request_finished(record("square", 200))
        metrics.request_started()
        metrics.request_finished(record("fail", 500, "ValueError"))
        if calls == 1:
            metrics.request_started()  # still in flight when this worker dies
        metrics.flush()  # what a worker's exit does: the queued requests are added
        os._exit(0)
    children.append(pid)
for pid in children:
    os.waitpid(pid, 0)
before = metrics.render()[0].decode()
worker_exited(children[0])
after = metrics.render()[0].decode()
print(json.dumps({"multiprocess": metrics.multiprocess, "before": before, "after": after}))
"""


def run_python(code: str, directory: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, MULTIPROCESS_DIRECTORY_VARIABLE: str(directory)}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_counts_of_every_worker_are_summed(tmp_path):
    result = run_python(WORKERS_SCRIPT, tmp_path)
    assert result.returncode == 0, result.stderr
    scrapes = json.loads(result.stdout)
    assert scrapes["multiprocess"] is True
    before, after = scrapes["before"], scrapes["after"]
    assert sample(before, "firefly_requests_total", function="square", status="200") == 6
    assert sample(before, "firefly_requests_total", function="fail", status="500") == 3
    assert sample(before, "firefly_exceptions_total", function="fail", type="ValueError") == 3
    count = "firefly_request_duration_seconds_count"
    assert sample(before, count, function="square") == 6
    assert sample(before, "firefly_request_duration_seconds_sum", function="square") == (
        pytest.approx(0.018)
    )
    assert sample(before, "firefly_requests_in_progress") == 1
    assert sample(after, "firefly_requests_in_progress") == 0
    assert sample(after, "firefly_requests_total", function="square", status="200") == 6


def test_multiprocess_mode_without_its_directory_is_a_config_error(tmp_path):
    code = """
    import os
    from firefly.telemetry.metrics import Metrics
    os.rmdir(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    Metrics(["square"])
    """
    (tmp_path / "gone").mkdir()
    result = run_python(code, tmp_path / "gone")
    assert result.returncode == 1
    assert f"{ConfigError.__name__}: prometheus-client is in multiprocess mode" in result.stderr


def test_importing_firefly_metrics_leaves_prometheus_client_unimported(tmp_path):
    code = "import sys, firefly.telemetry.metrics; print('prometheus_client' in sys.modules)"
    result = run_python(code, tmp_path)
    assert result.stdout.strip() == "False", result.stderr


def test_the_app_serves_its_metrics(client):
    for path, arguments, answer in (("/square", {"n": 4}, 16), ("/math/add", {"a": 1}, 1)):
        with client.post(path, json=arguments) as call:  # closed as a server closes it
            assert call.get_json() == answer
    response = client.get("/-/metrics")
    assert response.status_code == 200
    assert response.content_type == TEXT_FORMAT
    text = response.get_data(as_text=True)
    assert sample(text, "firefly_requests_total", function="square", status="200") == 1
    assert sample(text, "firefly_requests_total", function="plus", status="200") == 1
    assert sample(text, "firefly_requests_in_progress") == 1


@pytest.mark.parametrize("multiprocess", [False, True])
def test_the_mode_is_read_from_the_value_class_prometheus_client_chose(tmp_path, multiprocess):
    # prometheus-client has no public flag for its mode: this pins what multiprocess_mode reads.
    env = {k: v for k, v in os.environ.items() if k != MULTIPROCESS_DIRECTORY_VARIABLE}
    if multiprocess:
        env[MULTIPROCESS_DIRECTORY_VARIABLE] = str(tmp_path)
    code = (
        "from prometheus_client import values; from firefly.telemetry.metrics import"
        " multiprocess_mode; print(multiprocess_mode(), values.ValueClass.__name__)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    mode, value_class = result.stdout.split()
    assert mode == str(multiprocess)
    assert (value_class == "MutexValue") is not multiprocess


def test_observing_a_batch_at_once_scrapes_as_observing_each_value():
    from prometheus_client import CollectorRegistry, Histogram
    from prometheus_client.exposition import generate_latest

    values = [0.00005, 0.0001, 0.0003, 0.002, 0.002, 0.7, 30.0, 45.0]
    scrapes = []
    for observe in ("each", "batch"):
        registry = CollectorRegistry()
        histogram = Histogram("h", "h", ["f"], buckets=Metrics.buckets, registry=registry)
        child = histogram.labels("square")
        if observe == "each":
            for value in values:
                child.observe(value)
        else:
            observe_all(child, (*Metrics.buckets, float("inf")), values)
        scrapes.append(
            [
                line
                for line in generate_latest(registry).decode().splitlines()
                if "_created" not in line
            ]
        )
    assert scrapes[0] == scrapes[1]
