"""The app: the index, setup and its lock, user routes, create_app and settings."""

import json
import re

import numpy as np
import pytest

from firefly import Firefly, create_app
from firefly.config import load_config
from firefly.errors import ConfigError
from firefly.version import __version__


def test_index_lists_functions_with_doc_and_parameters(client):
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.json == {
        "app": "firefly",
        "version": __version__,
        "title": "Firefly",
        "api_version": "0.1.0",
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


def test_a_browser_at_the_index_is_sent_to_the_docs(client):
    browser = client.get("/", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert browser.status_code == 302
    assert browser.headers["Location"] == "/docs"
    for accept in ["*/*", "application/json", ""]:
        assert client.get("/", headers={"Accept": accept}).json["app"] == "firefly"
    no_docs = Firefly(docs=False).test_client()
    assert no_docs.get("/", headers={"Accept": "text/html"}).json["app"] == "firefly"


def test_unknown_settings_and_function_options_are_refused():
    with pytest.raises(TypeError, match="unknown setting 'metric'"):
        Firefly(metric=False)
    app = Firefly()
    with pytest.raises(ConfigError, match="function 'f': unknown option 'warm_up'"):
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


# Settings given as keywords go through the same parsers as the config file's.


def test_origins_given_as_one_string_are_split_as_in_the_config_file():
    app = Firefly(allow_origins="https://a.example,https://b.example")
    assert app.settings.allow_origins == ("https://a.example", "https://b.example")
    app.add_route("/square", lambda n: n * n, "square")
    response = app.test_client().post(
        "/square", json={"n": 2}, headers={"Origin": "https://b.example"}
    )
    assert response.headers["Access-Control-Allow-Origin"] == "https://b.example"


def test_the_original_keyword_names_set_the_settings():
    app = Firefly(auth_token="abcd1234", allowed_origins="https://a.example")
    assert (app.settings.token, app.auth_token) == ("abcd1234", "abcd1234")
    assert app.settings.allow_origins == app.allowed_origins == ("https://a.example",)
    with pytest.raises(TypeError, match="both 'auth_token' and 'token'"):
        Firefly(auth_token="a", token="b")


def test_the_access_log_format_is_case_insensitive_as_in_the_config_file(tmp_path):
    log = tmp_path / "access.log"
    app = Firefly(access_log=str(log), access_log_format="JSON", metrics=False)
    assert app.settings.access_log_format == "json"
    app.add_route("/square", lambda n: n * n, "square")
    app.test_client().post("/square", json={"n": 2}).close()
    app.shutdown()
    assert json.loads(log.read_text())["function"] == "square"


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"max_content_length": 0}, "Firefly(): max_content_length: expected a positive integer"),
        ({"access_log_format": "xml"}, "Firefly(): access_log_format: expected one of text, json"),
        ({"allow_origins": 3}, "Firefly(): allow_origins: expected origins"),
        ({"timeout": "soon"}, "Firefly(): timeout: expected a positive integer, got 'soon'"),
    ],
)
def test_a_setting_the_parser_refuses_is_a_config_error_naming_it(settings, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        Firefly(**settings)


def test_none_leaves_a_setting_as_it_is_unless_none_is_one_of_its_values():
    assert Firefly(token=None, max_content_length=None).settings == Firefly().settings
    assert Firefly(access_log=None).settings.access_log is None
