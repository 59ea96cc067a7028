"""The /docs page: Swagger UI from the installed package, pointed at /openapi.json."""

from __future__ import annotations

import importlib.util
import json
import re

import pytest

from firefly import Firefly
from firefly.errors import ConfigError
from firefly.routes.docs import ASSETS, ASSETS_PREFIX

TOKEN = "abcd1234"
ASSET_URL = re.compile(r'(?:src|href)="(?P<url>[^"]+)"')
OPTIONS = re.compile(r"const options = (?P<options>.*);$", re.M)


def build_app(**settings) -> Firefly:
    app = Firefly(**settings)

    @app.function
    def square(n: float) -> float:
        """Return the square of a number."""
        return n**2

    return app


@pytest.fixture
def client():
    return build_app(title="Geometry").test_client()


def asset_urls(html: str) -> list[str]:
    return [match["url"] for match in ASSET_URL.finditer(html)]


def page_options(html: str) -> dict:
    """The options the page gives SwaggerUIBundle."""
    match = OPTIONS.search(html)
    assert match, html
    return json.loads(match["options"])


def test_the_page_is_html_that_loads_swagger_ui(client):
    response = client.get("/docs")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert "<title>Geometry - docs</title>" in html
    assert "SwaggerUIBundle(" in html
    assert page_options(html)["url"] == "/openapi.json"
    assert response.headers["Cache-Control"] == "no-cache"


def test_the_page_needs_nothing_from_the_internet(client):
    html = client.get("/docs").get_data(as_text=True)
    urls = asset_urls(html)
    assert urls and all(url.startswith(ASSETS_PREFIX) for url in urls)
    assert "http://" not in html and "https://" not in html
    assert page_options(html)["validatorUrl"] is None


def test_every_asset_the_page_names_is_served_with_caching(client):
    html = client.get("/docs").get_data(as_text=True)
    served = set()
    for url in asset_urls(html):
        response = client.get(url)
        assert response.status_code == 200, url
        assert "max-age=604800" in response.headers["Cache-Control"]
        assert response.headers["ETag"]
        assert len(response.get_data()) > 0
        served.add(url.split("?")[0].removeprefix(ASSETS_PREFIX))
    assert served == set(ASSETS)


@pytest.mark.parametrize(
    ("asset", "mimetype"),
    [("swagger-ui-bundle.js", "text/javascript"), ("swagger-ui.css", "text/css")],
)
def test_assets_have_their_content_types(client, asset, mimetype):
    response = client.get(ASSETS_PREFIX + asset)
    assert response.mimetype == mimetype
    assert (
        client.get(
            ASSETS_PREFIX + asset, headers={"If-None-Match": response.headers["ETag"]}
        ).status_code
        == 304
    )


@pytest.mark.parametrize(
    "name",
    [
        "swagger-initializer.js",
        "swagger-editor-bundle.js",
        "../__init__.py",
        "..%2f__init__.py",
        "x",
    ],
)
def test_only_the_listed_assets_are_served(client, name):
    response = client.get(ASSETS_PREFIX + name)
    assert response.status_code == 404
    assert "error" in response.get_json()


def test_the_title_is_escaped():
    html = (
        build_app(title="<script>alert(1)</script>")
        .test_client()
        .get("/docs")
        .get_data(as_text=True)
    )
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_try_it_out_is_on_and_the_token_is_not_stored(client):
    options = page_options(client.get("/docs").get_data(as_text=True))
    assert options["tryItOutEnabled"] is True
    assert options.get("persistAuthorization", False) is False


def test_with_a_token_the_page_and_its_assets_need_none():
    client = build_app(token=TOKEN).test_client()
    html = client.get("/docs").get_data(as_text=True)
    for url in asset_urls(html):
        assert client.get(url).status_code == 200
    assert client.get("/openapi.json").status_code == 200
    assert client.get("/").status_code == 401


def test_a_browser_asking_for_the_index_is_sent_to_the_docs(client):
    browser = client.get("/", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert browser.status_code == 302
    assert browser.headers["Location"].endswith("/docs")
    assert client.get("/").get_json()["functions"]["square"]["path"] == "/square"


def test_the_docs_setting_turns_page_and_document_off():
    client = build_app(docs=False).test_client()
    assert client.get("/docs").status_code == 404
    assert client.get("/openapi.json").status_code == 404
    assert client.get(ASSETS_PREFIX + "swagger-ui.css").status_code == 404


def test_without_swagger_ui_the_docs_fail_at_start_up_saying_what_to_install(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ConfigError, match="pip install swagger-ui-py"):
        Firefly()
