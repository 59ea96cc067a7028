import inspect
import io
import re

import pytest

from firefly.errors import BadRequestError, PayloadTooLargeError, ValidationError
from firefly.protocol import (
    MAX_LISTED_ERRORS,
    ArgumentChecker,
    decode_json_arguments,
    read_arguments,
    read_body,
)

PARTS = 1000  # the default max_form_parts


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
    assert read_arguments(environ, 100, PARTS) == {"n": 4}


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
        environ_for(body, f"multipart/form-data; boundary={boundary}"), 10_000, PARTS
    )
    assert arguments["label"] == "cats"
    assert arguments["file"].filename == "a.txt"
    assert arguments["file"].read() == b"one two three"


def test_multipart_without_boundary_is_a_bad_request():
    with pytest.raises(BadRequestError, match="no boundary"):
        read_arguments(environ_for(b"x", "multipart/form-data"), 100, PARTS)


def test_multipart_over_the_limit_is_too_large():
    environ = environ_for(b"x" * 200, "multipart/form-data; boundary=b")
    with pytest.raises(PayloadTooLargeError, match="larger than the limit of 100 bytes"):
        read_arguments(environ, 100, PARTS)


def form_body(fields: int, boundary: str = "b", text: str = "1") -> bytes:
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="f{i}"\r\n\r\n{text}\r\n'
        for i in range(fields)
    ]
    return ("".join(parts) + f"--{boundary}--\r\n").encode()


@pytest.mark.parametrize("chunked", [False, True])
def test_too_many_parts_is_too_large_naming_max_form_parts(chunked):
    body = form_body(6)
    assert len(read_arguments(environ_for(body, "multipart/form-data; boundary=b"), 10_000, 6)) == 6
    environ = environ_for(body, "multipart/form-data; boundary=b", chunked=chunked)
    with pytest.raises(PayloadTooLargeError) as info:
        read_arguments(environ, 10_000, 5)
    assert str(info.value) == (
        "too many parts in the multipart/form-data body: more than 5 (max_form_parts)"
    )


@pytest.mark.parametrize("chunked", [False, True])
def test_a_form_over_the_body_limit_blames_the_body_limit_not_its_parts(chunked):
    environ = environ_for(form_body(50), "multipart/form-data; boundary=b", chunked=chunked)
    with pytest.raises(PayloadTooLargeError, match=r"limit of 1000 bytes \(max_content_length\)"):
        read_arguments(environ, 1000, 5)


def test_a_text_part_may_be_as_large_as_the_body_limit():
    body = form_body(1, text="x" * 600_000)  # over werkzeug's default 500 kB for a text part
    arguments = read_arguments(environ_for(body, "multipart/form-data; boundary=b"), 1 << 20, 9)
    assert len(arguments["f0"]) == 600_000


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"n": 12345678901234567890123}', {"n": 12345678901234567890123}),
        (b'{"n": -9223372036854775809}', {"n": -(2**63) - 1}),
        (b'{"n": 18446744073709551615}', {"n": 2**64 - 1}),
        (b'{"n": [1, {"m": 1%s}]}' % (b"0" * 400), {"n": [1, {"m": 10**400}]}),
        (
            b'{"x": 0.0012345678901234567, "s": "1234567890123456789012"}',
            {"x": 0.0012345678901234567, "s": "1234567890123456789012"},
        ),
        (b'{"x": 1e-1234567890123456789}', {"x": 0.0}),
    ],
)
def test_integers_beyond_64_bits_are_decoded_exactly(body, expected):
    arguments = decode_json_arguments(body)
    assert arguments == expected
    assert [type(value) for value in arguments.values()] == [type(v) for v in expected.values()]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            b'{"n": 1%s}' % (b"0" * 5000),
            "request body cannot be decoded: an integer has more than 4300 digits,"
            " the most Python converts (int_max_str_digits)",
        ),
        (b'{"n": 1e400, "m": 1%s}' % (b"0" * 400), "not valid JSON: number is infinity"),
        (b'{"n": NaN, "m": 1%s}' % (b"0" * 400), "not valid JSON: unexpected character"),
        (b'{"m": 1%s' % (b"0" * 400), "request body is not valid JSON"),
    ],
)
def test_what_the_exact_decoding_refuses(body, message):
    with pytest.raises(BadRequestError, match=re.escape(message)):
        decode_json_arguments(body)


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


def test_checker_lists_the_first_problems_and_counts_the_others():
    def square(n):
        return n

    arguments = {f"k{i:07}": 1 for i in range(1_000_000)}
    with pytest.raises(ValidationError) as info:
        checker(square).validate(arguments)
    error = info.value
    listed = [entry["argument"] for entry in error.details["errors"]]
    assert listed == ["n"] + [f"k{i:07}" for i in range(MAX_LISTED_ERRORS - 1)]
    assert error.details["more"] == 1_000_001 - MAX_LISTED_ERRORS
    assert error.message.startswith("square(): missing required argument 'n'; unexpected argument")
    assert error.message.endswith("; unexpected argument 'k0000008'; and 999,991 more")


def test_checker_does_not_accept_positional_only_names():
    def f(a, b=2, /, c=3):
        return a

    with pytest.raises(ValidationError, match="unexpected argument 'b'"):
        checker(f).validate({"b": 1})
