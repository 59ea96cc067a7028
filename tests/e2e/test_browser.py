"""The /docs page in a real browser: Debian's Chromium, driven headless by Playwright.

Each test starts ``firefly`` serving the examples, opens /docs, and calls
``square`` through Swagger UI's "Try it out". Screenshots are saved to
``$FIREFLY_TEST_ARTIFACTS`` (else to the test's tmp_path).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from ..conftest import EXAMPLES
from .conftest import BROWSER_TIMEOUT_MS

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Locator, Page

FUNCTIONS = ("square", "cube", "add", "word_count", "repeat")
TOKEN = "abcd1234"


def serve_examples(firefly_server, *flags: str):
    return firefly_server(*flags, *(f"funcs.{name}" for name in FUNCTIONS), cwd=EXAMPLES)


def open_docs(browser: Browser, url: str, requested: list[str]) -> Page:
    """Open /docs and wait until Swagger UI has listed the operations."""
    page = browser.new_page(viewport={"width": 1280, "height": 1600})
    page.set_default_timeout(BROWSER_TIMEOUT_MS)
    page.on("request", lambda request: requested.append(request.url))
    page.goto(url + "docs")
    page.locator(".opblock").first.wait_for()
    return page


def call_square(page: Page, n: int) -> Locator:
    """Expand square, fill its body, execute: the response's row in the live responses table."""
    operation = page.locator("#operations-functions-square")
    operation.locator(".opblock-summary").click()
    body = operation.locator("textarea.body-param__text")
    body.fill(json.dumps({"n": n}))
    operation.locator("button.execute").click()
    response = operation.locator(".live-responses-table .response").first
    response.wait_for()
    return response


def response_status_and_body(response: Locator) -> tuple[str, str]:
    status = response.locator(".response-col_status").inner_text().strip()
    body = response.locator(".response-col_description pre").first.inner_text().strip()
    return status, body


def test_docs_list_every_function_and_run_square(browser, firefly_server, artifacts):
    requested: list[str] = []
    with serve_examples(firefly_server) as server:
        page = open_docs(browser, server.url, requested)
        for name in FUNCTIONS:
            assert page.locator(f"#operations-functions-{name}").is_visible(), name
        response = call_square(page, 4)
        page.screenshot(path=str(artifacts / "docs-square.png"), full_page=True)
        assert response_status_and_body(response) == ("200", "16")
    assert requested and all(url.startswith(server.url) for url in requested), requested


def test_docs_try_it_out_with_a_token(browser, firefly_server, artifacts):
    requested: list[str] = []
    with serve_examples(firefly_server, "--token", TOKEN) as server:
        page = open_docs(browser, server.url, requested)
        status, body = response_status_and_body(call_square(page, 4))
        assert status == "401"
        assert "missing token" in body

        page.locator(".auth-wrapper button.authorize").click()
        dialog = page.locator(".dialog-ux .modal-ux")
        dialog.locator("input").fill(TOKEN)
        dialog.locator("button.authorize").click()
        dialog.locator("button.btn-done").click()
        page.locator("#operations-functions-square button.execute").click()
        response = page.locator("#operations-functions-square .live-responses-table .response")
        response.locator(".response-col_status", has_text="200").wait_for()
        page.screenshot(path=str(artifacts / "docs-square-with-token.png"), full_page=True)
        assert response_status_and_body(response.first) == ("200", "16")
    assert all(url.startswith(server.url) for url in requested), requested
