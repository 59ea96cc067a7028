"""Where a request ends in the bytes read so far (firefly/server/framing.py)."""

from __future__ import annotations

import pytest

from firefly.server.framing import Frame, Limits, Pending, frame

LIMITS = Limits(line=4094, headers=101 * 8192, body=100)
POST = b"POST /square HTTP/1.1\r\nHost: x\r\n"


def test_a_request_without_a_body_ends_with_its_headers():
    request = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    assert frame(request + b"GET /next", LIMITS) == Frame(len(request), complete=True)


@pytest.mark.parametrize("received", [b"", b"GET / HTTP/1.1\r\nHo", b"GET / HTTP/1.1\r\n\r"])
def test_headers_not_ended_wait_for_more(received):
    assert frame(received, LIMITS) == Pending()


def test_a_content_length_body_is_waited_for_then_framed_exactly():
    head = POST + b"Content-Length: 8\r\n\r\n"
    assert frame(head + b'{"n"', LIMITS) == Pending(end=len(head) + 8, headers_done=True)
    assert frame(head + b'{"n": 4}POST', LIMITS) == Frame(len(head) + 8, complete=True)


def test_a_chunked_body_ends_after_its_last_chunk_and_trailers():
    head = POST + b"Transfer-Encoding: chunked\r\n\r\n"
    body = b"3\r\nabc\r\n0\r\n\r\n"
    assert frame(head + body[:8], LIMITS) == Pending(headers_done=True)
    assert frame(head + body + b"GET", LIMITS) == Frame(len(head + body), complete=True)
    with_trailer = b"3\r\nabc\r\n0\r\nX-Sum: 1\r\n\r\n"
    assert frame(head + with_trailer, LIMITS) == Frame(len(head + with_trailer), complete=True)


def test_expect_continue_is_reported_while_the_body_is_missing():
    head = POST + b"Expect: 100-continue\r\nContent-Length: 8\r\n\r\n"
    assert frame(head, LIMITS) == Pending(len(head) + 8, expects_continue=True, headers_done=True)


@pytest.mark.parametrize(
    "request_bytes",
    [
        POST + b"Content-Length: eight\r\n\r\n",
        POST + b"Content-Length: 1\r\nContent-Length: 2\r\n\r\n",
        POST + b"Transfer-Encoding: gzip\r\n\r\n",
        POST + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n",
    ],
)
def test_framing_that_cannot_be_told_goes_to_the_parser_as_is(request_bytes):
    found = frame(request_bytes, LIMITS)
    assert isinstance(found, Frame) and not found.complete and not found.too_large


def test_a_request_line_or_headers_past_the_limits_go_to_the_parser_unfinished():
    assert frame(b"GET /" + b"a" * 5000, LIMITS) == Frame(5005, complete=False)
    endless_headers = b"GET / HTTP/1.1\r\n" + b"X-A: b\r\n" * 110_000
    assert frame(endless_headers, LIMITS) == Frame(len(endless_headers), complete=False)


def test_a_body_over_the_limit_is_too_large_from_its_headers_or_its_chunks():
    head = POST + b"Content-Length: 101\r\n\r\n"
    assert frame(head, LIMITS) == Frame(len(head), complete=False, too_large=True)
    chunked = POST + b"Transfer-Encoding: chunked\r\n\r\n" + b"65\r\n"
    found = frame(chunked, LIMITS)
    assert isinstance(found, Frame) and found.too_large
