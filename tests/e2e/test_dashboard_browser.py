"""/-/dashboard in a real browser: Debian's Chromium, driven headless by Playwright.

``firefly`` logs a few hundred calls of tests/apps/scoring_funcs.py whose
inputs shift half-way, outcomes are sent for some, and the page is opened
with the token: its totals, charts and drift table must show what was sent,
and no request may leave the server. Screenshots are saved to
``$FIREFLY_TEST_ARTIFACTS`` (else to the test's tmp_path).
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import requests

from .conftest import BROWSER_TIMEOUT_MS

if TYPE_CHECKING:
    from playwright.sync_api import Page

TOKEN = "abcd1234"
FUNCTIONS = ("scoring_funcs.approve", "scoring_funcs.estimate")
APPROVALS = 240  # half with a low income and four regions, half with a high income, mostly "N"
FAILURES = 6  # calls answered 422: an income that is not a number
ESTIMATES = 80
MAE = 3.0  # every estimate's outcome is off by this much
PACE = 0.03  # seconds between approvals: they spread over several one-second buckets


def serve(firefly_server, tmp_path: Path):
    log = f"sqlite:///{tmp_path / 'p.db'}"
    return firefly_server("--prediction-log", log, "--token", TOKEN, *FUNCTIONS)


def make_calls(url: str) -> dict[str, Any]:
    """Call both functions, send outcomes for some calls; what the dashboard should show."""
    session = requests.Session()
    session.headers["Authorization"] = f"Token {TOKEN}"
    rng = random.Random(7)
    feedback, right = [], 0
    for k in range(APPROVALS):
        shifted = k >= APPROVALS // 2
        income = rng.gauss(75 if shifted else 45, 8)
        region = rng.choice("NNNE" if shifted else "NESW")
        arguments = {"income": income, "age": 20 + k % 40, "region": region}
        response = session.post(url + "approve", json=arguments)
        response.raise_for_status()
        time.sleep(PACE)
        if k % 2 == 0:
            outcome = "yes" if income >= 55 else "no"
            right += response.json() == outcome
            feedback.append({"id": response.headers["X-Prediction-ID"], "outcome": outcome})
    for _ in range(FAILURES):
        assert session.post(url + "approve", json={"income": "many"}).status_code == 422
    for k in range(ESTIMATES):
        response = session.post(url + "estimate", json={"area": 40.3 + k, "rooms": 1 + k % 4})
        prediction = response.json()
        feedback.append({"id": response.headers["X-Prediction-ID"], "outcome": prediction + MAE})
    answer = session.post(url + "-/feedback", json=feedback)
    assert answer.json()["updated"] == len(feedback), answer.text
    return {"accuracy": right / (APPROVALS // 2)}


def wait_for_rows(url: str, expected: int) -> dict[str, Any]:
    """The dashboard's data once it holds ``expected`` rows (the writer works in batches)."""
    headers = {"Authorization": f"Token {TOKEN}"}
    deadline = time.monotonic() + 15
    while True:
        data = requests.get(url + "-/dashboard/data", headers=headers, timeout=10).json()
        if data["rows"] >= expected or time.monotonic() > deadline:
            return data
        time.sleep(0.1)


def percent(share: float) -> str:
    """A share as the page shows it: two decimals under 10%, else one."""
    return f"{share * 100:.{2 if 0 < share < 0.1 else 1}f}%"


def total(page: Page, metric: str) -> str:
    return page.locator(f'[data-metric="{metric}"] .value').inner_text().strip()


def chart_state(page: Page, chart: str) -> dict[str, Any]:
    """A chart's legend, how many values it draws and their sums, and how many pixels it painted."""
    return page.evaluate(
        """(id) => {
            const canvas = document.getElementById(`chart-${id}`);
            const chart = Chart.getChart(canvas);
            const pixels = canvas.getContext("2d")
                .getImageData(0, 0, canvas.width, canvas.height).data;
            let painted = 0;
            for (let k = 3; k < pixels.length; k += 4) painted += pixels[k] > 0;
            return {
                legend: chart.legend.legendItems.map((item) => item.text),
                values: chart.data.datasets.map((set) => set.data.filter((v) => v !== null).length),
                sums: chart.data.datasets.map((set) => set.data.reduce((a, v) => a + (v || 0), 0)),
                painted,
            };
        }""",
        chart,
    )


@pytest.mark.timeout(120)
def test_the_dashboard_draws_the_log_in_chromium(browser, firefly_server, tmp_path, artifacts):
    requested: list[str] = []
    with serve(firefly_server, tmp_path) as server:
        expected = make_calls(server.url)
        data = wait_for_rows(server.url, APPROVALS + FAILURES + ESTIMATES)
        page = browser.new_page(viewport={"width": 1366, "height": 900})
        page.set_default_timeout(BROWSER_TIMEOUT_MS)
        page.on("request", lambda request: requested.append(request.url))
        page.goto(server.url + "-/dashboard")

        dialog = page.locator("#token-dialog")
        dialog.locator("input").fill(TOKEN)
        page.screenshot(path=str(artifacts / "dashboard-token.png"))
        dialog.locator("button").click()
        page.locator('#dashboard[data-state="ready"]').wait_for()

        assert page.locator("#series").input_value() == "approve"
        assert total(page, "count") == str(APPROVALS + FAILURES)
        assert total(page, "error_rate") == percent(FAILURES / (APPROVALS + FAILURES))
        assert total(page, "coverage") == percent(APPROVALS / 2 / (APPROVALS + FAILURES))
        assert total(page, "accuracy") == percent(expected["accuracy"])
        approve = data["series"][0]
        for name, level in [
            ("age", "stable"),
            ("income", "significant"),
            ("region", "significant"),
        ]:
            row = page.locator(f'table.drift tr[data-feature="{name}"]')
            found = next(f for f in approve["drift"]["features"] if f["name"] == name)
            assert row.locator(".level").inner_text() == level == found["level"]
            assert row.locator("td").nth(2).inner_text() == f"{found['psi']:.3f}"

        legends = {
            "volume": ["succeeded", "errors"],
            "latency": ["p50", "p95", "p99"],
            "errors": ["error rate"],
            "coverage": ["coverage"],
            "accuracy": ["accuracy"],
            "drift": ["PSI"],
        }
        for chart, legend in legends.items():
            state = chart_state(page, chart)
            assert state["legend"] == legend, chart
            assert state["painted"] > 1000, chart
            assert all(state["values"]), chart
        assert chart_state(page, "volume")["sums"] == [APPROVALS, FAILURES]
        page.screenshot(path=str(artifacts / "dashboard-approve.png"), full_page=True)

        page.locator("#series").select_option("estimate")
        page.locator('[data-metric="mean_absolute_error"]').wait_for()
        assert total(page, "count") == str(ESTIMATES)
        assert total(page, "mean_absolute_error") == f"{MAE:.2f}"
        assert not page.locator('[data-metric="accuracy"]').count()
        assert chart_state(page, "mae")["legend"] == ["mean absolute error"]
        page.screenshot(path=str(artifacts / "dashboard-estimate.png"), full_page=True)

        page.set_viewport_size({"width": 420, "height": 900})
        page.wait_for_function("document.documentElement.scrollWidth <= 420")  # charts resized
        page.screenshot(path=str(artifacts / "dashboard-narrow.png"), full_page=True)
    assert requested and all(url.startswith(server.url) for url in requested), requested


@pytest.mark.timeout(60)
def test_the_data_needs_the_token_and_the_page_does_not(firefly_server, tmp_path):
    with serve(firefly_server, tmp_path) as server:
        data = server.url + "-/dashboard/data"
        assert requests.get(data).status_code == 401
        wrong = requests.get(data, headers={"Authorization": "Token nope"})
        assert wrong.status_code == 403
        right = requests.get(data, headers={"Authorization": f"Token {TOKEN}"})
        assert right.status_code == 200
        assert right.json()["series"] == []
        for query, name in [("since=yesterday", "since"), ("reference=soon", "reference")]:
            bad = requests.get(f"{data}?{query}", headers={"Authorization": f"Token {TOKEN}"})
            assert bad.status_code == 400
            assert bad.json()["error"].startswith(f"{name}: expected an ISO 8601 time")
        page = requests.get(server.url + "-/dashboard")
        assert page.status_code == 200
        assert "text/html" in page.headers["Content-Type"]
        script = requests.get(server.url + "-/dashboard/static/chart.umd.min.js")
        assert script.status_code == 200
        assert "Chart.js v4" in script.text[:200]
        assert requests.get(server.url + "-/dashboard/static/missing.js").status_code == 404
