"""Function calls on the fast path: decode, validate, invoke, encode, and every error as JSON."""

import io
import json

import flask
import pytest

from firefly import Firefly, HTTPError, create_app
from firefly.config import load_config
from firefly.protocol import MAX_LISTED_ERRORS


def test_calls_a_function_with_the_json_body(client):
    response = client.post(
        "/square", data=b'{"n": 4}', content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 200
    assert response.data == b"16"
    assert response.headers["Content-Type"] == "application/json"


def test_custom_name_and_path(client):
    assert client.post("/math/add", json={"a": 1, "b": 2}).json == 3
    assert client.post("/plus", json={"a": 1}).status_code == 404


def test_empty_body_means_no_arguments():
    app = Firefly()
    app.add_route("/answer", lambda: 42, "answer")
    assert app.test_client().post("/answer").json == 42


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "message"),
    [
        ("POST", "/square", b"{bad", 400, "request body is not valid JSON"),
        ("POST", "/square", b"[4]", 400, "got a JSON array"),
        (
            "POST",
            "/square",
            b'{"m": 4}',
            422,
            "square(): missing required argument 'n'; unexpected argument 'm'",
        ),
        ("POST", "/square", b'{"n": "x"}', 500, "TypeError: unsupported operand type(s)"),
        ("POST", "/nowhere", b"{}", 404, "no function or route at '/nowhere'"),
        ("GET", "/square", b"", 405, "method GET is not allowed for function 'square': use POST"),
        ("PUT", "/", b"", 405, "method PUT is not allowed for '/'"),
    ],
)
def test_protocol_errors_are_json_with_a_message(client, method, path, body, status, message):
    response = client.open(path, method=method, data=body)
    assert response.status_code == status
    assert response.headers["Content-Type"] == "application/json"
    assert message in response.json["error"]
    assert response.json["request_id"] == response.headers["X-Request-ID"]


def test_405_names_the_allowed_methods(client):
    assert client.get("/square").headers["Allow"] == "POST, OPTIONS"
    assert client.options("/square").status_code == 204


def test_function_errors_carry_the_exception_type_and_are_logged(client, caplog):
    response = client.post("/square", json={"n": "x"})
    assert response.json["type"] == "TypeError"
    assert response.json["error"].startswith("TypeError: ")
    assert "Traceback" not in response.get_data(as_text=True)
    assert "function 'square' failed" in caplog.text
    assert response.headers["X-Request-ID"] in caplog.text


def test_a_function_may_raise_an_http_error_on_purpose():
    app = Firefly()

    @app.function
    def positive(n):
        if n < 0:
            raise HTTPError("n must be positive", status_code=409)
        return n

    response = app.test_client().post("/positive", json={"n": -1})
    assert response.status_code == 409
    assert response.json["error"] == "n must be positive"


def test_body_over_the_limit_is_413():
    app = Firefly(max_content_length=20)
    app.add_route("/echo", lambda text="": text, "echo")
    client = app.test_client()
    assert client.post("/echo", json={"text": "abc"}).json == "abc"
    response = client.post("/echo", json={"text": "x" * 20})
    assert response.status_code == 413
    assert "limit of 20 bytes" in response.json["error"]


def test_numpy_and_pandas_results_are_plain_json():
    app = create_app(
        load_config(
            {"functions": ["tests.apps.funcs.numpy_values", "tests.apps.funcs.pandas_values"]}, {}
        )
    )
    client = app.test_client()
    assert client.post("/numpy_values").json == {
        "int": 3,
        "float": 0.5,
        "bool": True,
        "array": [[0, 1, 2], [3, 4, 5]],
        "strided": [0, 2, 4, 6, 8],
    }
    assert client.post("/pandas_values").json == {
        "frame": [{"x": 1, "y": 0.5}, {"x": 2, "y": None}],
        "series": [1, 2],
        "timestamp": "2024-01-02T00:00:00",
    }


def test_an_unencodable_result_is_a_500_naming_the_problem():
    app = create_app(load_config({"functions": ["tests.apps.funcs.unserializable"]}, {}))
    response = app.test_client().post("/unserializable")
    assert response.status_code == 500
    assert "cannot encode result" in response.json["error"]


def test_uploaded_files_arrive_as_file_objects():
    app = create_app(load_config({"functions": ["tests.apps.funcs.upload_info"]}, {}))
    response = app.test_client().post(
        "/upload_info", data={"file": (io.BytesIO(b"hello"), "h.txt"), "label": "x"}
    )
    assert response.json == {"filename": "h.txt", "size": 5, "label": "x"}


def test_returned_files_stream_as_octet_stream():
    app = create_app(load_config({"functions": ["tests.apps.funcs.repeat"]}, {}))
    response = app.test_client().post("/repeat", json={"text": "ab", "times": 3})
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert response.data == b"ababab"


def test_head_on_a_function_is_405_without_a_body(client):
    response = client.head("/square")
    assert response.status_code == 405
    assert response.data == b""


def test_an_http_error_with_an_unlisted_status_is_still_json():
    app = Firefly()

    @app.function
    def odd():
        raise HTTPError("client went away", status_code=499)

    response = app.test_client().post("/odd")
    assert response.status_code == 499
    assert response.json["error"] == "client went away"


def test_a_million_unknown_arguments_get_a_422_of_a_few_kilobytes(client):
    body = json.dumps({f"k{i:07}": 1 for i in range(1_000_000)}).encode()
    response = client.post("/square", data=body)
    assert response.status_code == 422
    assert len(response.data) < 5000
    assert len(response.json["errors"]) == MAX_LISTED_ERRORS
    assert response.json["more"] == 1_000_001 - MAX_LISTED_ERRORS
    assert response.json["error"].endswith("; unexpected argument 'k0000008'; and 999,991 more")


def test_a_few_problems_keep_the_422_shape_without_more(client):
    response = client.post("/square", json={"m": 1})
    assert set(response.json) == {"error", "errors", "request_id"}


BIG = 12345678901234567890123


@pytest.mark.parametrize("validate", [True, False])
def test_integers_beyond_64_bits_arrive_and_return_exact(validate):
    app = Firefly(validate=validate)

    @app.function
    def square(n: int) -> int:
        return n**2

    response = app.test_client().post("/square", data=b'{"n": %d}' % BIG)
    assert response.status_code == 200
    assert response.data == str(BIG**2).encode()


def test_an_integer_past_the_digits_python_converts_is_a_400_naming_the_limit(client):
    response = client.post("/square", data=b'{"n": 1%s}' % (b"0" * 4300))
    assert response.status_code == 400
    assert response.json["error"] == (
        "request body cannot be decoded: an integer has more than 4300 digits,"
        " the most Python converts (int_max_str_digits)"
    )


def test_a_result_past_the_digits_python_converts_is_a_500_naming_the_limit(client):
    response = client.post("/square", data=b'{"n": 1%s}' % (b"0" * 2200))
    assert response.status_code == 500
    assert response.json["error"] == (
        "cannot encode result: TypeError: cannot encode as JSON: an integer has more than"
        " 4300 digits, the most Python converts (int_max_str_digits)"
    )


def form(parts: int) -> dict[str, object]:
    """The arguments of a multipart/form-data body of ``parts`` parts."""
    fields = {"name": "Ann"} | {f"k{i}": "v" for i in range(parts - 1)}
    return {"data": fields, "content_type": "multipart/form-data"}


def test_too_many_form_parts_is_a_413_naming_max_form_parts():
    app = Firefly(max_form_parts=5)
    app.add_route("/greet", lambda name, **extra: len(extra), "greet")
    client = app.test_client()
    assert client.post("/greet", **form(5)).json == 4
    response = client.post("/greet", **form(6))
    assert response.status_code == 413
    assert response.json["error"] == (
        "too many parts in the multipart/form-data body: more than 5 (max_form_parts)"
    )


def test_flask_routes_have_the_same_form_limits():
    app = Firefly(max_form_parts=5, max_content_length=1000)

    @app.post("/form")
    def count_parts():
        return {"parts": len(flask.request.form)}

    client = app.test_client()
    assert client.post("/form", **form(5)).json == {"parts": 5}
    response = client.post("/form", **form(6))
    assert response.status_code == 413
    assert "more than 5 (max_form_parts)" in response.json["error"]
    response = client.post("/form", data={"text": "x" * 2000}, content_type="multipart/form-data")
    assert response.status_code == 413
    assert "limit of 1000 bytes (max_content_length)" in response.json["error"]
