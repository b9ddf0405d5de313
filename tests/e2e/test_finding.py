"""The risk owner finds things (issue 14): the controls of an assessment filtered and searched,
with and without a page load; the search box in the header; the evidence form's control
picker, and the way back to the control evidence was added from."""

from __future__ import annotations

import re

from django.urls import reverse
from playwright.sync_api import Page, expect

from assessments.models import Response

from .helpers import open_control

RISK = "risk@demo.test"


def _response(assessment, ref: str) -> Response:
    return Response.objects.select_related("control__guideline__pillar").get(
        assessment=assessment, control__ref=ref
    )


def _listed_refs(page: Page) -> list[str]:
    return page.locator("#control-results .control .ref").all_inner_texts()


def test_filter_and_search_the_controls_of_an_assessment(demo, open_page):
    a = demo.assessment
    page = open_page(RISK)
    page.goto(reverse("questionnaire", args=[a.pk, "1"]))
    # On a pillar page the filter is a plain form: submitting it opens the results page.
    page.get_by_text("Find controls in this assessment").click()
    page.get_by_label("Search controls", exact=True).fill("supply chain")
    page.get_by_role("button", name="Find controls").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Find controls")
    expect(page).to_have_url(re.compile(r"/controls/\?q=supply\+chain"))
    refs = _listed_refs(page)
    assert "2.1.1" in refs and all(r.startswith(("2.", "1.", "3.", "4.")) for r in refs)

    # With htmx: a change swaps only the results, and the address follows (Back works).
    page.evaluate("window.__samePage = true")
    page.get_by_label("Search controls", exact=True).fill("")
    page.get_by_label("Status", exact=True).select_option(label="Not started")
    expect(page).to_have_url(re.compile(r"status=not_started"))
    expect(page.locator(".result-count")).to_contain_text("controls match")
    assert page.evaluate("window.__samePage") is True  # no page load
    page.get_by_label("Search controls", exact=True).fill("2.1.")
    expect(page.locator("#control-results .control .ref").first).to_have_text(
        re.compile(r"^2\.1\.")
    )
    page.get_by_label("Search controls", exact=True).fill("no control says this xyzzy")
    expect(page.locator("#control-results")).to_contain_text("No control matches")

    # A found control opens in place and saves as on the questionnaire.
    page.get_by_label("Status", exact=True).select_option(label="Any status")
    page.get_by_label("Search controls", exact=True).fill("supply chain assessed")
    r = _response(a, "2.1.1")
    expect(page.locator(f"#r{r.pk}")).to_be_visible()
    card = open_control(page, r)
    card.get_by_label("Status").select_option(label="Largely implemented")
    card.get_by_role("button", name="Save 2.1.1").click()
    expect(page.locator(f"#r{r.pk} .badge.status-largely")).to_have_text("Largely implemented")
    r.refresh_from_db()
    assert r.status == "largely"

    # Without htmx (a bookmark, a reload): the same results from the address alone.
    page.goto(reverse("assessment_controls", args=[a.pk]) + "?status=largely")
    assert "2.1.1" in _listed_refs(page)


def test_the_search_box_in_the_header(demo, open_page):
    page = open_page(RISK)
    box = page.locator("#site-search-q")
    expect(box).to_be_visible()
    box.fill("supply")
    box.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Search")
    expect(page.get_by_role("heading", name=re.compile(r"^Controls \(\d+\)"))).to_be_visible()
    page.locator(".search-results a", has_text="AI supply chain assessed").first.click()
    expect(page).to_have_url(re.compile(r"/pillars/2/\?open=\d+#r\d+"))
    expect(page.locator(".control:not(.control-summary) .control-title")).to_contain_text(
        "AI supply chain assessed"
    )
    # Odd input is searched, never an error page.
    for q in ("'", "%_", "a & b | !c", "x" * 600):
        page.locator("#site-search-q").fill(q)
        page.locator("#site-search-q").press("Enter")
        expect(page.get_by_role("heading", level=1)).to_contain_text("Search")


def test_the_evidence_picker_and_the_way_back(demo, open_page):
    a = demo.assessment
    r = _response(a, "2.1.2")
    page = open_page(RISK)
    page.goto(r.get_absolute_url())
    card = open_control(page, r)
    card.get_by_text("Add evidence to 2.1.2").click()
    card.get_by_role("link", name="Upload or record new evidence").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Add evidence")

    # Only the chosen kind's field shows.
    file_field, url_field, note_field = (
        page.locator(f'.kind-field[data-kind="{k}"]') for k in ("file", "link", "note")
    )
    expect(file_field).to_be_visible()
    expect(note_field).to_be_hidden()
    page.get_by_role("radio", name="Note").check()
    expect(note_field).to_be_visible()
    expect(file_field).to_be_hidden()
    expect(url_field).to_be_hidden()

    # The control it came from is ticked; the filter box finds others by ref or word.
    items = page.locator(".picker-list li")
    came_from = page.locator(f'.picker-list input[value="{r.pk}"]')
    expect(came_from).to_be_checked()
    picker = page.get_by_label("Find a control")
    picker.fill("2.1")
    shown = page.locator(".picker-list li:visible")
    expect(shown.first).to_be_visible()
    labels = shown.all_inner_texts()
    assert labels and all(re.search(r"· 2\.1\.\d", t) for t in labels), labels
    assert len(labels) < items.count()  # 1.2.1 and the rest are hidden
    picker.fill("supply")
    supply = page.locator(".picker-list li:visible", has_text="2.1.1 AI supply chain").first
    expect(supply).to_be_visible()
    supply.locator("input").check()
    picker.fill("zzzz-nothing")
    expect(page.locator(".picker-count")).to_have_text(re.compile(r"^2 shown$"))  # ticked stay

    page.get_by_label("Title").fill("Supplier security review 2026")
    page.locator("#id_note").fill("Reviewed all four suppliers.")
    page.get_by_role("button", name="Add evidence").click()
    # Back on the control it was added from, with the new evidence listed.
    expect(page).to_have_url(re.compile(rf"\?open={r.pk}#r{r.pk}$"))
    expect(page.locator(f"#r{r.pk} .control-evidence")).to_contain_text(
        "Supplier security review 2026"
    )
