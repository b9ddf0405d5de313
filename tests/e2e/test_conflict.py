"""Journey 6, two people on the same answer: both open the questionnaire, the first saves, and
the second, whose form is now out of date, is told so instead of overwriting the answer; their
own input is kept, and saving again replaces the answer knowingly."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from assessments.models import Response

from .helpers import open_control


def _fill(page: Page, r: Response, status: str, justification: str) -> None:
    card = open_control(page, r)
    card.get_by_label("Status").select_option(label=status)
    card.get_by_label("Justification").fill(justification)
    card.get_by_role("button", name=f"Save {r.control.ref}").click()


def test_second_editor_sees_the_conflict_and_keeps_their_input(demo, open_page):
    r = (
        Response.objects.filter(assessment=demo.assessment, status="not_started")
        .select_related("control__guideline__pillar")
        .order_by("control__order")
        .first()
    )
    url = f"/assessments/{demo.assessment.pk}/pillars/{r.control.guideline.pillar.ref}/"
    first, second = open_page("risk@demo.test"), open_page("risk2@demo.test")
    first.goto(url)
    second.goto(url)
    # Both open the control (its form is fetched when opened) before either saves.
    open_control(first, r)
    open_control(second, r)

    _fill(first, r, "Partially implemented", "Half of the pipelines are covered.")
    expect(first.locator(f"#r{r.pk} .badge.status-partial")).to_be_visible()

    _fill(second, r, "Fully implemented", "All pipelines are covered.")
    card = second.locator(f"#r{r.pk}")
    conflict = card.locator(".conflict")
    expect(conflict).to_have_attribute("role", "alert")
    expect(conflict).to_contain_text("Not saved: someone else changed this answer.")
    expect(conflict).to_contain_text("Riley Risk saved it at")
    expect(conflict).to_contain_text("Partially implemented")
    expect(conflict).to_contain_text("Half of the pipelines are covered.")
    expect(card.get_by_label("Status")).to_have_value("full")
    expect(card.get_by_label("Justification")).to_have_value("All pipelines are covered.")
    r.refresh_from_db()
    assert (r.status, r.updated_by.email) == ("partial", "risk@demo.test")

    # Having seen the other answer, the second person saves again, on purpose.
    card.get_by_role("button", name=f"Save {r.control.ref}").click()
    expect(card.locator(".conflict")).to_have_count(0)
    expect(card.locator(".badge.status-full")).to_be_visible()
    r.refresh_from_db()
    assert (r.status, r.updated_by.email) == ("full", "risk2@demo.test")
