"""Where an HTTP/1.1 request ends in the bytes read so far: what lets a worker buffer requests.

Firefly's gunicorn worker reads each connection in its event loop until a
whole request is there, so that only complete requests reach a thread. This
module answers the one question that needs: how many bytes of the buffer
make up the first request (its headers and its body, by Content-Length or
chunked framing), or that more bytes are needed. It does not parse the
request: gunicorn's own parser does that, on exactly these bytes, and
reports whatever is malformed. So whenever the framing cannot be told (a
malformed length or chunk size, headers past gunicorn's limits) or the body
is larger than the app accepts, the bytes read so far are handed over as
they are, marked incomplete, and the connection closes after the answer
(a body too large is answered 413 without parsing).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_HEADERS_END = b"\r\n\r\n"
_FRAMING_HEADER = re.compile(
    rb"\r\n(content-length|transfer-encoding)[ \t]*:[ \t]*([^\r\n]*)", re.I
)
_EXPECT_CONTINUE = re.compile(rb"\r\nexpect[ \t]*:[ \t]*100-continue[ \t]*\r\n", re.I)
_CHUNK_SIZE = re.compile(rb"[0-9a-fA-F]{1,16}")
_MAX_CHUNK_LINE = 4096


@dataclass(frozen=True, slots=True)
class Limits:
    """What a request may hold before it is handed to the parser unframed."""

    line: int  #: longest request line (gunicorn's ``limit_request_line``)
    headers: int  #: most bytes of headers (from gunicorn's field count and size limits)
    body: int  #: largest body the app accepts (``max_content_length``)


@dataclass(frozen=True, slots=True)
class Frame:
    """The first request of a buffer."""

    end: int  #: bytes of the buffer that belong to it
    complete: bool  #: False: handed over as read (malformed or too large); close after it
    expects_continue: bool = False  #: headers ask for ``100 Continue`` before the body
    too_large: bool = False  #: its body is larger than ``Limits.body``: answer 413 unparsed


@dataclass(frozen=True, slots=True)
class Pending:
    """The request is not all there yet."""

    #: its total length when its headers are in and give one (Content-Length), else 0
    end: int = 0
    #: its headers are in and ask for ``100 Continue`` before the body
    expects_continue: bool = False
    #: its headers are in: what is missing is (some of) its body
    headers_done: bool = False


NOTHING_YET = Pending()


def frame(buffer: bytes | bytearray, limits: Limits) -> Frame | Pending:
    """The first request in ``buffer``, or what is still missing of it."""
    headers_end = buffer.find(_HEADERS_END)
    if headers_end < 0:
        return _unfinished_headers(buffer, limits)
    body_start = headers_end + 4
    if headers_end > limits.line + limits.headers:
        return Frame(body_start, complete=False)
    head = memoryview(buffer)[:body_start].tobytes()
    expects_continue = _EXPECT_CONTINUE.search(head) is not None
    framing = _FRAMING_HEADER.findall(head)
    if not framing:
        return Frame(body_start, complete=True)
    names = [name.lower() for name, _ in framing]
    if b"transfer-encoding" in names:
        if len(framing) != 1 or not framing[0][1].lower().rstrip().endswith(b"chunked"):
            return Frame(body_start, complete=False)  # gunicorn refuses it with the right status
        return _chunked(buffer, body_start, limits.body, expects_continue)
    value = framing[0][1].strip()
    if len(framing) != 1 or not value.isdigit():
        return Frame(body_start, complete=False)
    length = int(value)
    if length > limits.body:
        return Frame(body_start, complete=False, too_large=True)
    end = body_start + length
    if len(buffer) >= end:
        return Frame(end, complete=True, expects_continue=expects_continue)
    return Pending(end, expects_continue, headers_done=True)


def _unfinished_headers(buffer: bytes | bytearray, limits: Limits) -> Frame | Pending:
    """Headers not ended yet: wait for more, unless gunicorn's limits are already past."""
    line_end = buffer.find(b"\n", 0, limits.line + 2)
    if line_end < 0 and len(buffer) > limits.line + 2:
        return Frame(len(buffer), complete=False)  # gunicorn answers 414
    if len(buffer) > limits.line + limits.headers:
        return Frame(len(buffer), complete=False)  # gunicorn answers 431
    return NOTHING_YET


def _chunked(
    buffer: bytes | bytearray, position: int, max_body: int, expects_continue: bool
) -> Frame | Pending:
    """A chunked body from ``position``: its end once the last chunk and trailers are in."""
    body = 0
    while True:
        line_end = buffer.find(b"\r\n", position)
        if line_end < 0:
            if len(buffer) - position > _MAX_CHUNK_LINE:
                return Frame(len(buffer), complete=False)
            return Pending(0, expects_continue, headers_done=True)
        size = _CHUNK_SIZE.match(buffer, position, line_end)
        if size is None:
            return Frame(len(buffer), complete=False)  # gunicorn answers 400
        chunk = int(size.group(), 16)
        if chunk == 0:
            if buffer[line_end + 2 : line_end + 4] == b"\r\n":
                return Frame(line_end + 4, complete=True, expects_continue=expects_continue)
            trailers_end = buffer.find(_HEADERS_END, line_end)
            if trailers_end < 0:
                return Pending(0, expects_continue, headers_done=True)
            return Frame(trailers_end + 4, complete=True, expects_continue=expects_continue)
        body += chunk
        if body > max_body:
            return Frame(position, complete=False, too_large=True)
        position = line_end + 2 + chunk + 2
        if position > len(buffer):
            return Pending(0, expects_continue, headers_done=True)
