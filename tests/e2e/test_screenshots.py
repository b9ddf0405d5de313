"""Screenshots of the main pages at 1280x800, from the demo data as the people who use each
page: into docs/screenshots/ with `make screenshots` (AIGSEC_SCREENSHOTS=docs), elsewhere into
the test data dir, so that `make test` rewrites no tracked file."""

from __future__ import annotations

import os
from pathlib import Path

from playwright.sync_api import expect

from .pages import SCREENSHOTS, main_pages

OUT = (
    Path(__file__).resolve().parents[2] / "docs" / "screenshots"
    if os.environ.get("AIGSEC_SCREENSHOTS") == "docs"
    else Path(os.environ.get("AIGSEC_DATA_DIR", "var/test")) / "screenshots"
)


def test_screenshots_of_the_main_pages(demo_with_report, open_page):
    pages = main_pages(demo_with_report)
    logged_in = {}
    OUT.mkdir(parents=True, exist_ok=True)
    for name in SCREENSHOTS:
        who, url = pages[name]
        page = logged_in.get(who) or logged_in.setdefault(who, open_page(who))
        assert page.goto(url).status == 200, name
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        page.mouse.move(0, 0)  # no hover effect on whatever the pointer was left over
        path = OUT / f"{name}.png"
        page.screenshot(path=path)  # the viewport: 1280x800
        assert path.stat().st_size > 10_000, f"{name}.png looks blank"
