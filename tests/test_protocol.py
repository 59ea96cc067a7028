import inspect
import io

import pytest

from firefly.errors import BadRequestError, PayloadTooLargeError, ValidationError
from firefly.protocol import ArgumentChecker, decode_json_arguments, read_arguments, read_body


def environ_for(body: bytes, content_type: str = "", length: str | None = None, chunked=False):
    environ = {"wsgi.input": io.BytesIO(body), "CONTENT_TYPE": content_type}
    if chunked:
        environ["wsgi.input_terminated"] = True
    else:
        environ["CONTENT_LENGTH"] = str(len(body)) if length is None else length
    return environ


@pytest.mark.parametrize(
    ("body", "expected"),
    [(b'{"n": 4}', {"n": 4}), (b"", {}), (b"  \n", {}), (b'{"a": {"b": [1]}}', {"a": {"b": [1]}})],
)
def test_decodes_a_json_object_body(body, expected):
    assert decode_json_arguments(body) == expected


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{nope", "request body is not valid JSON"),
        (b"[1, 2]", "must be a JSON object of named arguments, got a JSON array"),
        (b"4", "got a JSON number"),
        (b'"x"', "got a JSON string"),
        (b"null", "got a JSON null"),
        (b"\xff\xfe", "not valid JSON"),
    ],
)
def test_malformed_bodies_are_bad_requests(body, message):
    with pytest.raises(BadRequestError, match=message):
        decode_json_arguments(body)


def test_read_body_enforces_the_limit_by_header_and_by_stream():
    assert read_body(environ_for(b"12345"), 5) == b"12345"
    with pytest.raises(PayloadTooLargeError, match="limit of 4 bytes"):
        read_body(environ_for(b"12345"), 4)
    assert read_body(environ_for(b"12345", chunked=True), 5) == b"12345"
    with pytest.raises(PayloadTooLargeError):
        read_body(environ_for(b"12345", chunked=True), 4)
    with pytest.raises(BadRequestError, match="invalid Content-Length"):
        read_body(environ_for(b"1", length="x"), 4)


def test_json_is_read_whatever_the_content_type_says():
    environ = environ_for(b'{"n": 4}', "application/x-www-form-urlencoded")
    assert read_arguments(environ, 100) == {"n": 4}


def test_multipart_file_parts_are_file_objects_and_fields_strings():
    boundary = "XyZ"
    body = (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="label"\r\n\r\n'
        "cats\r\n"
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="file"; filename="a.txt"\r\n'
        "Content-Type: text/plain\r\n\r\n"
        "one two three\r\n"
        f"--{boundary}--\r\n"
    ).encode()
    arguments = read_arguments(
        environ_for(body, f"multipart/form-data; boundary={boundary}"), 10_000
    )
    assert arguments["label"] == "cats"
    assert arguments["file"].filename == "a.txt"
    assert arguments["file"].read() == b"one two three"


def test_multipart_without_boundary_is_a_bad_request():
    with pytest.raises(BadRequestError, match="no boundary"):
        read_arguments(environ_for(b"x", "multipart/form-data"), 100)


def test_multipart_over_the_limit_is_too_large():
    environ = environ_for(b"x" * 200, "multipart/form-data; boundary=b")
    with pytest.raises(PayloadTooLargeError):
        read_arguments(environ, 100)


def checker(function):
    return ArgumentChecker.for_signature(function.__name__, inspect.signature(function))


def test_checker_accepts_arguments_that_fit():
    def f(a, b=1, *args, c, d=2, **kwargs):
        return a

    arguments = {"a": 1, "c": 2, "anything": 3}
    assert checker(f).validate(arguments) is arguments

    def g(a, b=1):
        return a

    assert checker(g).validate({"a": 1}) == {"a": 1}
    assert checker(g).validate({"a": 1, "b": 2}) == {"a": 1, "b": 2}


def test_checker_names_every_missing_and_unexpected_argument():
    def square(n, *, m):
        return n

    with pytest.raises(ValidationError) as info:
        checker(square).validate({"x": 1, "y": 2})
    assert str(info.value) == (
        "square(): missing required argument 'm'; missing required argument 'n';"
        " unexpected argument 'x'; unexpected argument 'y'"
    )
    assert info.value.details["errors"] == [
        {
            "argument": "m",
            "location": [],
            "message": "missing required argument",
            "type": "missing",
        },
        {
            "argument": "n",
            "location": [],
            "message": "missing required argument",
            "type": "missing",
        },
        {
            "argument": "x",
            "location": [],
            "message": "unexpected argument",
            "type": "extra_forbidden",
        },
        {
            "argument": "y",
            "location": [],
            "message": "unexpected argument",
            "type": "extra_forbidden",
        },
    ]


def test_checker_does_not_accept_positional_only_names():
    def f(a, b=2, /, c=3):
        return a

    with pytest.raises(ValidationError, match="unexpected argument 'b'"):
        checker(f).validate({"b": 1})
