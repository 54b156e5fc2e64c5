"""Driving the Prefect UI's forms in headless Chromium (Debian's) with Playwright: a screenshot
is kept in test-output/ when a test using the page fails."""

from __future__ import annotations

import contextlib
import re
import shutil
from collections.abc import Iterator

import pytest

from tests.conftest import REPO_ROOT

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]


@contextlib.contextmanager
def chromium_page(request) -> Iterator:
    sync_api = pytest.importorskip("playwright.sync_api")
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("chromium is not installed; scripts/setup.sh --browser installs it")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1600})
        page.set_default_timeout(30_000)
        yield page
        if getattr(request.node, "rep_call", None) is None or request.node.rep_call.failed:
            out = REPO_ROOT / "test-output"
            out.mkdir(exist_ok=True)
            page.screenshot(path=str(out / f"{request.node.name}.png"), full_page=True)
        browser.close()


def field(page, title: str):
    """The body of one form field, found by its header text (labels' ids do not match inputs)."""
    header = page.locator(":scope > .p-label__header", has_text=re.compile(rf"^{re.escape(title)}\b"))
    return page.locator("div.p-label", has=header).locator(":scope > .p-label__body").first


def set_optional(page, title: str, kind: str, value: str) -> None:
    body = field(page, title)
    body.get_by_role("button", name=kind, exact=True).click()
    body.locator("input, textarea").first.fill(value)


def set_text(page, title: str, value: str) -> None:
    field(page, title).locator("input, textarea").first.fill(value)


