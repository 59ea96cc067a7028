import io

import numpy as np
import pytest

from firefly import Firefly, HTTPError, create_app
from firefly.config import load_config
from firefly.errors import ConfigError
from firefly.version import __version__


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


def test_index_lists_functions_with_doc_and_parameters(client):
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.json == {
        "app": "firefly",
        "version": __version__,
        "functions": {
            "square": {
                "path": "/square",
                "doc": "Return the square of a number.",
                "parameters": [{"name": "n", "kind": "POSITIONAL_OR_KEYWORD"}],
            },
            "plus": {
                "path": "/math/add",
                "doc": "",
                "parameters": [
                    {"name": "a", "kind": "POSITIONAL_OR_KEYWORD"},
                    {"name": "b", "kind": "POSITIONAL_OR_KEYWORD", "default": 0},
                ],
            },
        },
    }


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


@pytest.mark.parametrize(
    ("sent", "echoed"),
    [
        ("abc-123", True),
        ("a" * 128, True),
        ("a" * 129, False),
        ("bad id", False),
        ("<script>", False),
    ],
)
def test_request_id_is_echoed_when_safe_and_generated_otherwise(client, sent, echoed):
    response = client.post("/square", json={"n": 1}, headers={"X-Request-ID": sent})
    request_id = response.headers["X-Request-ID"]
    assert (request_id == sent) is echoed
    assert len(request_id) <= 128


def test_every_response_has_a_request_id(client):
    for response in (
        client.get("/"),
        client.post("/nowhere"),
        client.post("/square", json={"n": 2}),
    ):
        assert len(response.headers["X-Request-ID"]) == 32


@pytest.fixture
def secured():
    counter = []
    app = Firefly(auth_token="abcd1234")

    @app.function
    def square(n):
        counter.append(n)
        return n**2

    return app.test_client(), counter


@pytest.mark.parametrize(
    ("header", "status"),
    [
        (None, 401),
        ("Token wrong", 403),
        ("Bearer wrong", 403),
        ("Token abcd12345", 403),
        ("Basic abcd1234", 401),
        ("Token", 401),
    ],
)
def test_requests_without_the_right_token_are_refused_before_the_call(secured, header, status):
    client, counter = secured
    headers = {"Authorization": header} if header else {}
    response = client.post("/square", json={"n": 4}, headers=headers)
    assert response.status_code == status
    assert "error" in response.json
    assert counter == []
    assert client.get("/", headers=headers).status_code == status
    if status == 401:
        assert response.headers["WWW-Authenticate"].startswith("Token")


@pytest.mark.parametrize("header", ["Token abcd1234", "Bearer abcd1234", "token abcd1234"])
def test_token_and_bearer_schemes_are_accepted(secured, header):
    client, counter = secured
    response = client.post("/square", json={"n": 4}, headers={"Authorization": header})
    assert response.json == 16
    assert counter == [4]


def test_cors_preflight_needs_no_token_and_names_the_origin():
    app = Firefly(auth_token="t", allowed_origins="https://a.example")
    app.add_route("/square", lambda n: n * n, "square")
    client = app.test_client()
    preflight = client.options(
        "/square",
        headers={
            "Origin": "https://a.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://a.example"
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    assert preflight.headers["Access-Control-Allow-Headers"] == "authorization, content-type"
    call = client.post(
        "/square",
        json={"n": 3},
        headers={"Origin": "https://a.example", "Authorization": "Token t"},
    )
    assert call.json == 9
    assert call.headers["Access-Control-Allow-Origin"] == "https://a.example"
    assert call.headers["Vary"] == "Origin"
    assert call.headers["Access-Control-Expose-Headers"] == "X-Request-ID"


def test_cors_refuses_other_origins_and_allows_any_with_star():
    app = Firefly(allowed_origins=["https://a.example"])
    app.add_route("/f", lambda: 1, "f")
    client = app.test_client()
    preflight_headers = {"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
    assert client.options("/f", headers=preflight_headers).status_code == 403
    call = client.post("/f", headers={"Origin": "https://evil.example"})
    assert call.status_code == 200
    assert "Access-Control-Allow-Origin" not in call.headers

    star = Firefly(allowed_origins="*")
    star.add_route("/f", lambda: 1, "f")
    call = star.test_client().post("/f", headers={"Origin": "https://any.example"})
    assert call.headers["Access-Control-Allow-Origin"] == "*"


def test_no_cors_headers_unless_configured(client):
    response = client.post("/square", json={"n": 1}, headers={"Origin": "https://a.example"})
    assert "Access-Control-Allow-Origin" not in response.headers


def test_app_is_locked_once_it_serves(app, client):
    client.get("/")
    with pytest.raises(AssertionError, match="can no longer be called"):
        app.add_route("/late", lambda: 1, "late")


def test_root_path_is_reserved_for_the_index():
    with pytest.raises(ConfigError, match="reserved"):
        Firefly().add_route("/", lambda: 1, "root")


def test_user_flask_routes_work_beside_functions_and_need_the_token():
    app = Firefly(auth_token="t")

    @app.get("/hello")
    def hello():
        return {"hello": np.int64(1)}

    client = app.test_client()
    assert client.get("/hello").status_code == 401
    response = client.get("/hello", headers={"Authorization": "Token t"})
    assert response.json == {"hello": 1}
    assert response.headers["X-Request-ID"]


def test_function_calls_skip_flask_hooks_but_wsgi_middleware_sees_them(app):
    seen_by_hook, seen_by_middleware = [], []
    app.before_request(lambda: seen_by_hook.append(1))
    inner = app.wsgi_app

    def middleware(environ, start_response):
        seen_by_middleware.append(environ["PATH_INFO"])
        return inner(environ, start_response)

    app.wsgi_app = middleware
    client = app.test_client()
    assert client.post("/square", json={"n": 2}).json == 4
    assert client.get("/").status_code == 200
    assert seen_by_middleware == ["/square", "/"]
    assert seen_by_hook == [1]  # only GET / went through Flask's dispatch


def test_create_app_serves_what_the_config_names():
    config = load_config({"functions": ["tests.apps.funcs.square"], "token": "t"}, {})
    app = create_app(config)
    assert isinstance(app, Firefly)
    response = app.test_client().post(
        "/square", json={"n": 5}, headers={"Authorization": "Bearer t"}
    )
    assert response.json == 25


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


def test_a_browser_at_the_index_is_sent_to_the_docs(client):
    browser = client.get("/", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert browser.status_code == 302
    assert browser.headers["Location"] == "/docs"
    for accept in ["*/*", "application/json", ""]:
        assert client.get("/", headers={"Accept": accept}).json["app"] == "firefly"
    no_docs = Firefly(docs=False).test_client()
    assert no_docs.get("/", headers={"Accept": "text/html"}).json["app"] == "firefly"


def test_every_error_body_carries_the_request_id():
    app = Firefly(auth_token="abcd1234")
    client = app.test_client()
    for response in [
        client.get("/"),
        client.get("/", headers={"Authorization": "Token wrong"}),
        client.get("/nope", headers={"Authorization": "Token abcd1234"}),
    ]:
        assert response.status_code in (401, 403, 404)
        assert response.json["request_id"] == response.headers["X-Request-ID"]


def test_unknown_settings_and_function_options_are_refused():
    with pytest.raises(TypeError, match="unknown setting 'metric'"):
        Firefly(metric=False)
    app = Firefly()
    with pytest.raises(ConfigError, match="unknown option 'warm_up' for function 'f'"):
        app.add_route("/f", lambda: 1, "f", warm_up={})


def test_validation_can_be_switched_off_per_function_and_for_the_app():
    def double(n: int) -> int:
        return n * 2

    checked = Firefly()
    checked.add_route("/double", double)
    assert checked.test_client().post("/double", json={"n": "4"}).json == 8

    per_function = Firefly()
    per_function.add_route("/double", double, validate=False)
    assert per_function.test_client().post("/double", json={"n": "4"}).json == "44"

    app_wide = Firefly(validate=False)
    app_wide.add_route("/double", double)
    assert app_wide.test_client().post("/double", json={"n": "4"}).json == "44"
    overridden = Firefly(validate=False)
    overridden.add_route("/double", double, validate=True)
    assert overridden.test_client().post("/double", json={"n": "4"}).json == 8
