"""``firefly log export`` and ``firefly log stats`` (click's runner) on real databases."""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path

import pytest

from firefly.cli import cli
from firefly.predictionlog.table import COLUMNS

from .test_log_stats import START, add_rows, row

LATER = START + dt.timedelta(hours=1)


@pytest.fixture
def logged(database_url: str) -> str:
    """A log of three calls of two functions, one with an outcome, one failed."""
    add_rows(
        database_url,
        [
            row(
                "churn/predict",
                prediction_id="a",
                version="v1",
                arguments=[{"age": 30, "plan": "basic, monthly"}],
                result=[1],
                duration=0.002,
                outcome=1,
                outcome_at=LATER,
            ),
            row(
                "square",
                prediction_id="b",
                request_id="r-b",
                arguments={"n": "x"},
                result=None,
                status=500,
                error="TypeError: unsupported operand",
                duration=0.004,
                created_at=LATER,
            ),
            row("square", prediction_id="c", arguments={"n": 3}, result=9, created_at=LATER),
        ],
    )
    return database_url


def run(runner, *args: str, **kwargs):
    return runner.invoke(cli, ["log", *args], catch_exceptions=False, **kwargs)


FIRST = {
    "id": 1,
    "prediction_id": "a",
    "request_id": None,
    "observation_id": None,
    "function": "churn/predict",
    "version": "v1",
    "arguments": [{"age": 30, "plan": "basic, monthly"}],
    "result": [1],
    "error": None,
    "status": 200,
    "duration": 0.002,
    "created_at": "2026-12-01T10:00:00.000000Z",
    "outcome": 1,
    "outcome_at": "2026-12-01T11:00:00.000000Z",
}


def test_export_writes_json_lines_to_stdout(runner, logged):
    result = run(runner, "export", "-d", logged)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert json.loads(lines[0]) == FIRST
    assert [json.loads(line)["prediction_id"] for line in lines] == ["a", "b", "c"]
    assert json.loads(lines[1])["error"] == "TypeError: unsupported operand"
    assert lines[0] == json.dumps(FIRST, separators=(",", ":"))  # compact, in column order
    assert result.stderr == ""


def test_export_writes_csv_to_a_file_chosen_by_its_suffix(runner, logged, tmp_path):
    path = tmp_path / "rows.csv"
    result = run(runner, "export", "--database", logged, "--output", str(path))
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert result.stderr == f"exported 3 rows to {path}\n"
    text = path.read_text()
    assert text.splitlines()[0] == ",".join(COLUMNS)
    assert text.splitlines()[1] == (
        '1,a,,,churn/predict,v1,"[{""age"":30,""plan"":""basic, monthly""}]",[1],,200,0.002,'
        "2026-12-01T10:00:00.000000Z,1,2026-12-01T11:00:00.000000Z"
    )
    records = list(csv.DictReader(path.open(newline="")))
    assert [record["prediction_id"] for record in records] == ["a", "b", "c"]
    assert records[1]["result"] == "" and records[1]["error"] == "TypeError: unsupported operand"
    assert records[1]["request_id"] == "r-b" and records[1]["status"] == "500"
    assert json.loads(records[2]["arguments"]) == {"n": 3}


@pytest.mark.parametrize(
    ("name", "options", "kind"),
    [
        ("rows.jsonl", [], "jsonl"),
        ("rows.json", [], "jsonl"),
        ("rows.txt", [], "jsonl"),
        ("rows.CSV", [], "csv"),
        ("rows.jsonl", ["--format", "csv"], "csv"),
        ("rows.csv", ["-f", "jsonl"], "jsonl"),
    ],
)
def test_the_format_is_the_option_else_the_suffix(
    runner, sqlite_url, tmp_path, name, options, kind
):
    add_rows(sqlite_url, [row(prediction_id="a")])
    path = tmp_path / name
    result = run(runner, "export", "-d", sqlite_url, "-o", str(path), *options)
    assert result.exit_code == 0, result.output
    first = path.read_text().splitlines()[0]
    assert first.startswith("id,prediction_id,") if kind == "csv" else json.loads(first)["id"] == 1


def test_export_csv_to_stdout_and_the_filters(runner, logged):
    result = run(runner, "export", "-d", logged, "-f", "csv", "--function", "square")
    assert [line.split(",")[1] for line in result.stdout.splitlines()] == [
        "prediction_id",
        "b",
        "c",
    ]
    for options, expected in [
        (["--function", "churn"], ["a"]),
        (["--version", "v1"], ["a"]),
        (["--with-outcome"], ["a"]),
        (["--without-outcome"], ["b", "c"]),
        (["--since", "2026-12-01T10:30:00Z"], ["b", "c"]),
        (["--until", "2026-12-01T11:30:00+01:00"], ["a"]),
        (["--since", "2026-12-02"], []),
    ]:
        result = run(runner, "export", "-d", logged, *options)
        assert result.exit_code == 0, result.output
        found = [json.loads(line)["prediction_id"] for line in result.stdout.splitlines()]
        assert found == expected, options


def test_export_of_nothing_writes_a_csv_header_only(runner, sqlite_url, tmp_path):
    add_rows(sqlite_url, [])
    path = tmp_path / "none.csv"
    result = run(runner, "export", "-d", sqlite_url, "-o", str(path))
    assert (result.exit_code, result.stderr) == (0, f"exported 0 rows to {path}\n")
    assert path.read_text() == ",".join(COLUMNS) + "\n"


def test_stats_as_json(runner, logged):
    result = run(runner, "stats", "-d", logged, "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [
        {
            "function": "churn/predict",
            "version": "v1",
            "count": 1,
            "errors": 0,
            "error_rate": 0.0,
            "latency_ms": {"p50": 2.0, "p95": 2.0, "p99": 2.0},
            "outcomes": 1,
            "accuracy": 1.0,
            "mean_absolute_error": None,
        },
        {
            "function": "square",
            "version": None,
            "count": 2,
            "errors": 1,
            "error_rate": 0.5,
            "latency_ms": {"p50": 2.5, "p95": 3.85, "p99": 3.97},
            "outcomes": 0,
            "accuracy": None,
            "mean_absolute_error": None,
        },
    ]
    result = run(runner, "stats", "-d", logged, "-f", "json", "--since", "2026-12-01T10:30:00")
    assert [group["function"] for group in json.loads(result.stdout)] == ["square"]


def test_stats_as_a_table(runner, logged):
    result = run(runner, "stats", "-d", logged)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "function       version  calls     errors  p50 ms  p95 ms  p99 ms  outcomes  accuracy  MAE",
        "churn/predict  v1           1   0 (0.0%)    2.00    2.00    2.00         1    100.0%    -",
        "square         -            2  1 (50.0%)    2.50    3.85    3.97         0         -    -",
    ]


def test_stats_of_nothing(runner, sqlite_url):
    add_rows(sqlite_url, [])
    result = run(runner, "stats", "-d", sqlite_url)
    assert (result.exit_code, result.stdout, result.stderr) == (0, "", "no logged calls match\n")
    result = run(runner, "stats", "-d", sqlite_url, "-f", "json")
    assert (result.exit_code, result.stdout) == (0, "[]\n")


def test_the_database_comes_from_the_environment(runner, sqlite_url, monkeypatch):
    add_rows(sqlite_url, [row(prediction_id="a")])
    monkeypatch.setenv("FIREFLY_PREDICTION_LOG", sqlite_url)
    result = run(runner, "export")
    assert json.loads(result.stdout)["prediction_id"] == "a"


@pytest.mark.parametrize("command", ["export", "stats"])
def test_bad_input_is_one_line(runner, sqlite_url, tmp_path, command):
    add_rows(sqlite_url, [])
    missing = tmp_path / "missing.db"
    empty = tmp_path / "empty.db"
    empty.touch()
    for options, code, message in [
        (
            ["-d", sqlite_url, "--since", "yesterday"],
            2,
            "since: expected an ISO 8601 time such as 2026-12-01T10:00:00Z, got 'yesterday'",
        ),
        (
            ["-d", sqlite_url, "--until", "2026-13-01"],
            2,
            "until: expected an ISO 8601 time such as 2026-12-01T10:00:00Z, got '2026-13-01'",
        ),
        (["-d", "not a url"], 1, "prediction log: 'not a url' is not a database URL"),
        (
            ["-d", f"sqlite:///{missing}"],
            1,
            f"no prediction log in sqlite:///{missing}: no file {missing}",
        ),
        (
            ["-d", f"sqlite:///{empty}"],
            1,
            f"no prediction log in sqlite:///{empty}: table firefly_predictions not found",
        ),
    ]:
        result = run(runner, command, *options)
        assert (result.exit_code, result.stderr) == (code, f"Error: {message}\n"), options
        assert result.stdout == ""
    assert not missing.exists()  # a reader creates no database


def test_an_unwritable_output_is_one_line(runner, sqlite_url, tmp_path):
    add_rows(sqlite_url, [])
    path = tmp_path / "no" / "such" / "rows.csv"
    result = run(runner, "export", "-d", sqlite_url, "-o", str(path))
    assert result.exit_code == 1
    assert result.stderr == f"Error: cannot write {path}: No such file or directory\n"


def test_postgresql_without_the_table_or_unreachable(runner, postgres_url):
    result = run(runner, "stats", "-d", postgres_url)
    assert result.stderr == (
        f"Error: no prediction log in {postgres_url}: table firefly_predictions not found\n"
    )
    result = run(runner, "export", "-d", "postgresql://nobody:secret@127.0.0.1:1/log")
    assert result.exit_code == 1
    assert result.stderr.startswith(
        "Error: cannot read the prediction log in postgresql://nobody:***@127.0.0.1:1/log: "
    )
    assert "secret" not in result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_a_path_is_not_a_database(runner, tmp_path: Path):
    text = tmp_path / "notes.db"
    text.write_text("not a database\n" * 100)
    result = run(runner, "stats", "-d", f"sqlite:///{text}")
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: cannot read the prediction log in sqlite:///{text}: file is not a database\n"
    )


def test_upgrade_creates_the_table_once_and_says_its_revision(runner, database_url):
    for _ in range(2):
        result = runner.invoke(cli, ["log", "upgrade", "-d", database_url])
        assert result.exit_code == 0, result.output
        assert result.output.strip().endswith("is at revision 0001")
    exported = runner.invoke(cli, ["log", "export", "-d", database_url])
    assert (exported.exit_code, exported.output) == (0, "")  # the table is there, empty


def test_upgrade_of_an_unreachable_database_is_one_line(runner):
    result = runner.invoke(cli, ["log", "upgrade", "-d", "postgresql://nobody@127.0.0.1:1/none"])
    assert result.exit_code == 1
    assert result.output.startswith("Error: cannot upgrade the prediction log in postgresql://")
    assert result.output.count("\n") == 1
