"""The real ``firefly log export`` and ``firefly log stats`` reading what a real server logged."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import requests

from firefly.predictionlog.table import COLUMNS

from ..conftest import firefly_command
from ..test_log_stats import add_rows, row
from .terminal import on_a_terminal

TIMEOUT = 60
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
#: The calls made, as (path, body, status, result).
CALLS = [
    ("square", {"n": 1}, 200, 1),
    ("square", {"n": 2}, 200, 4),
    ("square", {"n": 3}, 200, 9),
    ("add", {"a": 0.5, "b": 1}, 200, 1.5),
    ("add", {"a": 2, "b": 0.25}, 200, 2.25),
    ("fail", {}, 500, None),
    ("square", {}, 422, None),
]
#: The outcomes sent, by the index of their call: two labels (one right), two numbers.
OUTCOMES = {0: 1, 1: 5, 3: 2, 4: 2}


def firefly_log(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        firefly_command("log", *args),
        cwd=cwd,
        env={k: v for k, v in os.environ.items() if not k.startswith("FIREFLY_")},
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture
def logged(firefly_server, database_url: str) -> tuple[str, list[str]]:
    """The database of a server that answered :data:`CALLS` and got :data:`OUTCOMES`, and
    the calls' prediction ids; the server is stopped, so that every row is written."""
    ids = []
    with firefly_server(
        "--prediction-log", database_url, "funcs.square", "funcs.add", "funcs.fail"
    ) as server:
        for path, body, status, _ in CALLS:
            response = requests.post(server.url + path, json=body, timeout=10)
            assert response.status_code == status, response.text
            ids.append(response.headers["X-Prediction-ID"])
        feedback = [{"id": ids[index], "outcome": value} for index, value in OUTCOMES.items()]
        response = requests.post(server.url + "-/feedback", json=feedback, timeout=10)
        assert [item["status"] for item in response.json()["results"]] == ["updated"] * 4
    return database_url, ids


@pytest.mark.timeout(TIMEOUT)
def test_export_and_stats_read_what_the_server_logged(logged, tmp_path):
    url, ids = logged
    result = firefly_log("export", "-d", url, "-o", "rows.csv", cwd=tmp_path)
    assert (result.returncode, result.stdout) == (0, ""), result.stderr
    assert result.stderr == "exported 7 rows to rows.csv\n"
    text = (tmp_path / "rows.csv").read_text()
    assert text.splitlines()[0] == ",".join(COLUMNS)
    records = {record["prediction_id"]: record for record in csv.DictReader(io.StringIO(text))}
    assert sorted(records) == sorted(ids)
    for index, (path, body, status, value) in enumerate(CALLS):
        record = records[ids[index]]
        assert record["function"] == path
        assert record["version"] == record["observation_id"] == ""
        assert record["status"] == str(status)
        assert record["result"] == ("" if value is None else json.dumps(value))
        assert record["outcome"] == (json.dumps(OUTCOMES[index]) if index in OUTCOMES else "")
        assert bool(ISO_UTC.match(record["outcome_at"])) is (index in OUTCOMES)
        assert ISO_UTC.match(record["created_at"]) and float(record["duration"]) > 0
        assert re.fullmatch("[0-9a-f]{32}", record["request_id"])
        if status == 200:
            assert json.loads(record["arguments"]) == body and record["error"] == ""
    assert records[ids[5]]["error"] == "ValueError: boom"
    assert records[ids[6]]["error"] == "square(): missing required argument 'n'"

    result = firefly_log("export", "-d", url, "--with-outcome", "--function", "add", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert sorted(line["prediction_id"] for line in lines) == sorted([ids[3], ids[4]])
    assert list(lines[0]) == list(COLUMNS)
    assert sorted((line["result"], line["outcome"]) for line in lines) == [(1.5, 2), (2.25, 2)]

    result = firefly_log("stats", "-d", url, "--format", "json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    groups = json.loads(result.stdout)
    for group in groups:
        latency = group.pop("latency_ms")
        assert 0 < latency["p50"] <= latency["p95"] <= latency["p99"] < 1000
    assert groups == [
        {
            "function": "add",
            "version": None,
            "count": 2,
            "errors": 0,
            "error_rate": 0.0,
            "outcomes": 2,
            "accuracy": None,
            "mean_absolute_error": 0.375,
        },
        {
            "function": "fail",
            "version": None,
            "count": 1,
            "errors": 1,
            "error_rate": 1.0,
            "outcomes": 0,
            "accuracy": None,
            "mean_absolute_error": None,
        },
        {
            "function": "square",
            "version": None,
            "count": 4,
            "errors": 1,
            "error_rate": 0.25,
            "outcomes": 2,
            "accuracy": 0.5,
            "mean_absolute_error": None,
        },
    ]

    result = firefly_log("stats", "-d", url, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == [
        "function", "version", "calls", "errors", "p50", "ms", "p95", "ms", "p99", "ms",
        "outcomes", "accuracy", "MAE",
    ]  # fmt: skip
    cells = [line.split() for line in lines[1:]]
    assert [c[:5] + c[8:] for c in cells] == [
        ["add", "-", "2", "0", "(0.0%)", "2", "-", "0.375"],
        ["fail", "-", "1", "1", "(100.0%)", "0", "-", "-"],
        ["square", "-", "4", "1", "(25.0%)", "2", "50.0%", "-"],
    ]


@pytest.mark.timeout(TIMEOUT)
def test_a_progress_bar_on_a_terminal(tmp_path):
    url = f"sqlite:///{tmp_path / 'log.db'}"
    add_rows(url, [row() for _ in range(2500)])
    command = firefly_command("log", "export", "-d", url, "-o", "rows.jsonl")
    code, output = on_a_terminal(command, tmp_path, TIMEOUT)
    assert code == 0, output
    assert "exporting" in output
    assert output.rstrip().endswith("exported 2500 rows to rows.jsonl")
    assert len((tmp_path / "rows.jsonl").read_text().splitlines()) == 2500


@pytest.mark.timeout(TIMEOUT)
def test_a_reader_that_leaves_ends_the_export_quietly(tmp_path):
    url = f"sqlite:///{tmp_path / 'log.db'}"
    add_rows(url, [row() for _ in range(3000)])
    process = subprocess.Popen(
        firefly_command("log", "export", "-d", url),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    assert process.stdout is not None and process.stderr is not None
    assert json.loads(process.stdout.readline())["id"] == 1
    process.stdout.close()  # as 'head -1' does
    assert process.wait(timeout=TIMEOUT) == 1
    assert process.stderr.read() == b""
