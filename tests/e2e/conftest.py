"""Fixtures of the end-to-end tests that drive a real browser: Debian's Chromium, headless,
through Playwright (its own browser download cannot work offline)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser

CHROMIUM = shutil.which("chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: Milliseconds a browser step may take: /docs loads 1.5 MB of JavaScript on a small machine.
BROWSER_TIMEOUT_MS = 60_000


@pytest.fixture
def artifacts(tmp_path: Path) -> Path:
    """Where screenshots go: ``$FIREFLY_TEST_ARTIFACTS`` (kept by CI), else the test's tmp_path."""
    directory = Path(os.environ.get("FIREFLY_TEST_ARTIFACTS") or tmp_path)
    directory.mkdir(parents=True, exist_ok=True)
    return directory


@pytest.fixture
def browser() -> Iterator[Browser]:
    """Chromium, launched headless; skipped without Playwright or Chromium."""
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="the browser tests need the playwright package"
    )
    if CHROMIUM is None:
        pytest.skip("the browser tests need Chromium (Debian package 'chromium')")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS, timeout=BROWSER_TIMEOUT_MS
        )
        try:
            yield launched
        finally:
            launched.close()
