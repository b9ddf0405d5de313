"""Journey: an impatient double click on a create button creates one item.

Both clicks reach the server (the test counts the POSTs); the one-time token of the form
(aigsec/core/formtoken.py) makes the second one land on what the first created, with a
message, instead of creating a copy."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from assessments.models import Assessment
from evidence.models import EvidenceItem


def _double_click(page: Page, name: str, path: str) -> None:
    """Two clicks on the button, the second while the first is on its way, as a person's
    double click: the first request reaches the server and is answered, but before its page
    shows, the second click sends the form again and the browser drops the first answer.

    Staged with a route that holds the first answer back, and the second click made by the
    page itself a moment later (Playwright's own dblclick is so fast that Chromium merges the
    two clicks into one submission; its locators wait for the first navigation to end)."""
    held: list = []

    def hold_the_first(route) -> None:
        if route.request.method == "POST" and not held:
            held.append(route.fetch())  # the server has done its work; the page waits
            return
        route.continue_()

    page.route(f"**{path}", hold_the_first)
    page.get_by_role("button", name=name).evaluate(
        "b => b.form.addEventListener('submit', () => setTimeout(() => b.click(), 1500),"
        " {once: true})"
    )
    page.get_by_role("button", name=name).click(no_wait_after=True)


def _watch(page: Page, path: str) -> tuple[list[str], list[str]]:
    posts: list[str] = []
    errors: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" and path in r.url else 0)
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else 0)
    return posts, errors


def test_double_click_on_create_assessment_creates_one(demo, open_page):
    system = demo.assessment.ai_system
    page = open_page("risk@demo.test")
    page.goto(f"/ai-systems/{system.pk}/")
    page.get_by_role("button", name="New assessment").click()
    path = f"/ai-systems/{system.pk}/assessments/new/"
    posts, errors = _watch(page, path)
    page.get_by_label("Title").fill("Clicked twice")
    _double_click(page, "Create assessment", path)

    expect(page.get_by_role("heading", level=1)).to_have_text("Clicked twice")
    page.wait_for_load_state("networkidle")
    assert len(posts) == 2, posts  # both clicks were sent
    expect(page.get_by_text("This form was already sent")).to_be_visible()
    assert Assessment.objects.filter(title="Clicked twice").count() == 1
    assert errors == []


def test_double_click_on_add_evidence_creates_one_item(demo, open_page):
    page = open_page("risk@demo.test")
    page.goto("/evidence/new/")
    posts, errors = _watch(page, "/evidence/new/")
    page.get_by_role("radio", name="Note").check()
    page.get_by_label("Title").fill("Tabletop exercise, March")
    page.locator("textarea[name=note]").fill("Ran the incident playbook; two gaps found.")
    _double_click(page, "Add evidence", "/evidence/new/")

    expect(page.get_by_role("heading", level=1)).to_have_text("Tabletop exercise, March")
    page.wait_for_load_state("networkidle")
    assert len(posts) == 2, posts
    assert EvidenceItem.objects.filter(title="Tabletop exercise, March").count() == 1
    assert errors == []
