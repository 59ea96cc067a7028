"""The access log: its lines in text and JSON, and its feature writing one per request."""

from __future__ import annotations

import datetime
import json
import logging
import os
import re
from urllib.parse import unquote_to_bytes

import pytest
from hypothesis import given
from hypothesis import strategies as st

from firefly import Firefly
from firefly.telemetry.accesslog import MAX_PATH, AccessLog
from firefly.telemetry.logfile import FdSink, open_sink
from firefly.telemetry.observer import RequestRecord
from tests.test_docs import CODE_DIRECTIVE, DOCS, directive_blocks, read

PIPE_BUF = 4096
ARRIVED = datetime.datetime(2026, 11, 23, 4, 50, 29, 123000, tzinfo=datetime.UTC).timestamp()
TEXT_LINE = re.compile(
    r'(?P<time>\S+) (?P<client>\S+) "(?P<method>\S+) (?P<path>\S+)" (?P<status>\d+)'
    r" (?P<bytes>\d+)B (?P<duration>\d+\.\d{3})ms (?P<function>\S+) rid=(?P<request_id>\S+)"
    r"(?: exc=(?P<exception>\S+))?\n"
)


def record(**fields: object) -> RequestRecord:
    values: dict[str, object] = {
        "time": ARRIVED,
        "request_id": "3f2a9c",
        "method": "POST",
        "path": "/square",
        "function": "square",
        "status": 200,
        "duration": 0.001234,
        "bytes_sent": 2,
        "client": "127.0.0.1",
        "exception": None,
    }
    values.update(fields)
    return RequestRecord(**values)  # type: ignore[arg-type]


@pytest.fixture
def devnull() -> FdSink:
    sink = FdSink(os.open(os.devnull, os.O_WRONLY))
    yield sink
    sink.close()


def text(line: bytes) -> dict[str, str]:
    match = TEXT_LINE.fullmatch(line.decode("ascii"))
    assert match, line
    return match.groupdict()


# The lines


def test_a_text_line_has_every_field(devnull):
    line = AccessLog(devnull).format(record())
    assert line == (
        b'2026-11-23T04:50:29.123+00:00 127.0.0.1 "POST /square" 200 2B 1.234ms square rid=3f2a9c\n'
    )


def test_a_json_line_has_every_field(devnull):
    line = AccessLog(devnull, line_format="json").format(record(exception="ValueError"))
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert json.loads(line) == {
        "time": "2026-11-23T04:50:29.123+00:00",
        "request_id": "3f2a9c",
        "method": "POST",
        "path": "/square",
        "function": "square",
        "status": 200,
        "duration_ms": 1.234,
        "bytes": 2,
        "client": "127.0.0.1",
        "exception": "ValueError",
    }


def test_missing_fields_are_a_dash_in_text_and_null_in_json(devnull):
    missing = record(function=None, request_id="", client="", status=404)
    fields = text(AccessLog(devnull).format(missing))
    assert (fields["function"], fields["request_id"], fields["client"]) == ("-", "-", "-")
    assert json.loads(AccessLog(devnull, line_format="json").format(missing))["function"] is None


def test_the_exception_ends_the_text_line(devnull):
    fields = text(AccessLog(devnull).format(record(status=500, exception="ZeroDivisionError")))
    assert (fields["status"], fields["exception"]) == ("500", "ZeroDivisionError")
    assert text(AccessLog(devnull).format(record()))["exception"] is None


@pytest.mark.parametrize(
    ("path", "logged"),
    [
        ("/square", "/square"),
        ("/a b", "/a%20b"),
        ('/quote"d', "/quote%22d"),
        ("/new\nline", "/new%0Aline"),
        ("/nul\x00\x1b[31m", "/nul%00%1B%5B31m"),
        ("/back\\slash", "/back%5Cslash"),
        ("/50%", "/50%25"),
        ("/caf\xc3\xa9", "/caf%C3%A9"),  # PATH_INFO holds the URL's bytes as latin-1
        ("/x?y#z", "/x%3Fy%23z"),
    ],
)
def test_paths_are_percent_encoded_unless_plain(devnull, path, logged):
    assert text(AccessLog(devnull).format(record(path=path)))["path"] == logged
    assert json.loads(AccessLog(devnull, line_format="json").format(record(path=path)))["path"] == (
        logged
    )


def test_a_long_path_is_cut_and_marked(devnull):
    fields = text(AccessLog(devnull).format(record(path="/" + "%" * 5000)))
    assert len(fields["path"]) <= MAX_PATH
    assert re.fullmatch(r"/(%25)+\.\.\.", fields["path"])


printable = st.characters(codec="latin-1")


@given(
    method=st.text(printable, max_size=300),
    path=st.text(printable, max_size=6000),
    function=st.none() | st.text(printable, max_size=300),
    client=st.text(printable, max_size=300),
    request_id=st.text(printable, max_size=300),
    exception=st.none() | st.text(printable, max_size=300),
)
def test_any_request_makes_one_short_printable_line(
    method, path, function, client, request_id, exception
):
    fields = dict(method=method, path=path, function=function, client=client)
    line = AccessLog(FdSink(-1)).format(
        record(request_id=request_id, exception=exception, **fields)
    )
    assert len(line) < PIPE_BUF // 2
    parsed = text(line)  # printable ASCII, fields in place, one newline at the end
    if 0 < len(path) <= 100:
        assert unquote_to_bytes(parsed["path"]) == path.encode("latin-1")
    json_line = AccessLog(FdSink(-1), line_format="json").format(record(**fields))
    assert len(json_line) < PIPE_BUF // 2 and json_line.count(b"\n") == 1
    assert json.loads(json_line)["path"] == parsed["path"]


@given(st.floats(min_value=0, max_value=4e9))
def test_times_are_iso_8601_utc_with_milliseconds(when):
    log = AccessLog(FdSink(-1))
    expected = datetime.datetime.fromtimestamp(int(when * 1000) / 1000, datetime.UTC)
    for _ in range(2):  # computed, then from the cached second
        assert log.timestamp(when) == expected.isoformat(timespec="milliseconds")
    assert datetime.datetime.fromisoformat(log.timestamp(when)).tzinfo == datetime.UTC


def test_the_cached_second_follows_the_clock():
    log = AccessLog(FdSink(-1))
    assert log.timestamp(ARRIVED) == "2026-11-23T04:50:29.123+00:00"
    assert log.timestamp(ARRIVED + 0.9) == "2026-11-23T04:50:30.023+00:00"
    assert log.timestamp(ARRIVED - 60) == "2026-11-23T04:49:29.123+00:00"


# The docs show real lines


def docs_sample(name: str) -> bytes:
    page = read(DOCS / "logging.rst")
    (sample,) = [
        body for _, opts, body in directive_blocks(page, CODE_DIRECTIVE) if opts.get("name") == name
    ]
    return sample.encode() + b"\n"


def test_the_docs_show_the_text_format(devnull):
    assert docs_sample("access-log-text") == AccessLog(devnull).format(
        record(request_id="3f2a9c0d5e6b4a1f")
    )


def test_the_docs_show_the_json_format(devnull):
    line = AccessLog(devnull, line_format="json").format(record(request_id="3f2a9c0d5e6b4a1f"))
    assert json.loads(docs_sample("access-log-json")) == json.loads(line)


# Sinks


def test_request_finished_writes_the_line_to_the_sink(tmp_path):
    sink = open_sink(str(tmp_path / "access.log"), max_bytes=0, backups=5)
    log = AccessLog(sink)
    log.request_started()
    log.request_finished(record())
    log.request_finished(record(path="/cube"))
    log.close()  # writes the lines still waiting, then closes the sink
    lines = (tmp_path / "access.log").read_bytes().splitlines(keepends=True)
    assert lines == [log.format(record()), log.format(record(path="/cube"))]
    assert not (tmp_path / "access.log.lock").exists()


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_failing_sink_is_reported_once_and_never_raises(caplog):
    sink = open_sink("/dev/full", max_bytes=0, backups=5)
    log = AccessLog(sink)
    with caplog.at_level(logging.ERROR, logger="firefly.telemetry.accesslog"):
        for _ in range(3):
            log.write([record()])  # a batch of one line: each write fails
        log.request_finished(record())
        log.close()
    assert [r.getMessage() for r in caplog.records] == [
        "firefly: cannot write the access log: [Errno 28] No space left on device"
    ]


def test_an_app_writes_one_line_per_request(tmp_path):
    app = Firefly(access_log=str(tmp_path / "access.log"), access_log_format="json", metrics=False)
    app.add_route("/square", lambda n: n**2, "square")
    client = app.test_client()
    client.post("/square", json={"n": 4}, headers={"X-Request-ID": "req-1"}).close()
    client.get("/nowhere", headers={"X-Request-ID": "req-2"}).close()  # the line follows close
    app.shutdown()  # the lines are written in batches: the last when the app stops
    lines = [json.loads(line) for line in (tmp_path / "access.log").read_text().splitlines()]
    assert [(x["request_id"], x["path"], x["function"], x["status"]) for x in lines] == [
        ("req-1", "/square", "square", 200),
        ("req-2", "/nowhere", None, 404),
    ]


# Rotation
