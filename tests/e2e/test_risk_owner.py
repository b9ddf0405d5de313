"""Journey 1, the risk owner: answers controls on two pillars, marks one not applicable with a
justification, uploads a file as evidence for two controls, watches the progress bars and
scores move without a reload, and finds the controls assigned to them in My work."""

from __future__ import annotations

import datetime as dt
import re

from django.utils import timezone
from playwright.sync_api import Page, expect

from assessments.models import Response

from .helpers import open_control

CSV = b"finding,severity,status\nprompt injection via ticket body,high,fixed\n"


def _unanswered(assessment, pillar_ref: str, n: int) -> list[Response]:
    """The first `n` unanswered controls of a pillar, in page order."""
    qs = Response.objects.filter(
        assessment=assessment, control__guideline__pillar__ref=pillar_ref, status="not_started"
    )
    return list(qs.select_related("control").order_by("control__order")[:n])


def _progress(page: Page, label: str) -> int:
    return int(page.locator(f'progress[aria-label="{label}"]').get_attribute("value"))


def _save(page: Page, r: Response, status: str, justification: str = "", **extra: str):
    card = open_control(page, r)
    card.get_by_label("Status").select_option(label=status)
    card.get_by_label("Justification").fill(justification)
    if "owner" in extra:
        card.get_by_label("Owner").select_option(label=extra["owner"])
    if "due" in extra:
        card.get_by_label("Due date").fill(extra["due"])
    card.get_by_role("button", name=f"Save {r.control.ref}").click()
    return card


def test_risk_owner_answers_attaches_evidence_and_finds_their_work(demo, open_page):
    a = demo.assessment
    full, na = _unanswered(a, "1", 2)
    (partial,) = _unanswered(a, "2", 1)
    due = (timezone.localdate() + dt.timedelta(days=30)).isoformat()
    page = open_page("risk@demo.test")

    card_progress = f"Progress of {a.ai_system.name}"
    dashboard_before = _progress(page, card_progress)
    page.get_by_role("link", name=a.title).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(a.title)
    # The pillar links are styled as buttons (role="button").
    page.get_by_role("button", name=re.compile(r"^1 Secure design")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile(r"^1 "))
    overall_before = _progress(page, "Overall progress")
    pillar1_before = _progress(page, "Progress of pillar 1")
    scores = page.locator("#progress p").first
    scores_before = scores.inner_text()
    page.evaluate("window.e2eSamePage = true")  # gone if anything below reloads the page

    card = _save(page, full, "Fully implemented", "Threat model reviewed each release.")
    expect(card.locator(".badge.status-full")).to_have_text("Fully implemented")

    # Not applicable needs a reason: refused without one, in place, nothing saved.
    card = _save(page, na, "Not applicable")
    expect(card.get_by_role("alert")).to_contain_text("A justification is required")
    na.refresh_from_db()
    assert na.status == "not_started"
    card = _save(page, na, "Not applicable", "We do not train models; the provider does.")
    expect(card.locator(".badge.status-not_applicable")).to_have_text("Not applicable")

    # Assigned to themselves with a due date: this is what My work lists.
    _save(page, full, "Fully implemented", "Threat model reviewed each release.",
          owner="Riley Risk", due=due)  # fmt: skip
    expect(page.locator(f"#r{full.pk} header")).to_contain_text("owner Riley Risk")

    expect(page.locator('progress[aria-label="Progress of pillar 1"]')).not_to_have_attribute(
        "value", str(pillar1_before)
    )
    assert _progress(page, "Progress of pillar 1") > pillar1_before
    assert _progress(page, "Overall progress") > overall_before
    expect(scores).not_to_have_text(scores_before)
    assert page.evaluate("window.e2eSamePage") is True

    pillars = page.get_by_role("navigation", name="Pillars")
    pillars.get_by_role("link", name=re.compile("^2 ")).click()
    pillar2_before = _progress(page, "Progress of pillar 2")
    card = _save(page, partial, "Partially implemented", "Only the production pipeline so far.")
    expect(card.locator(".badge.status-partial")).to_have_text("Partially implemented")
    expect(page.locator('progress[aria-label="Progress of pillar 2"]')).not_to_have_attribute(
        "value", str(pillar2_before)
    )

    # Evidence for two controls: from the control, then the second one chosen in the form.
    card.get_by_text(f"Add evidence to {partial.control.ref}").click()
    card.get_by_role("link", name="Upload or record new evidence").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Add evidence")
    page.get_by_label("Title").fill("Red-team findings, March")
    page.locator("input[type=file]").set_input_files(
        {"name": "red-team-findings.csv", "mimeType": "text/csv", "buffer": CSV}
    )
    # The control it came from is ticked; the other is found by its ref in the picker.
    expect(page.locator(f'.picker-list input[value="{partial.pk}"]')).to_be_checked()
    page.get_by_label("Find a control").fill(full.control.ref)
    page.locator(f'.picker-list input[value="{full.pk}"]').check()
    page.get_by_role("button", name="Add evidence").click()
    # Back on the control it was added from, the new item listed; then the item's own page.
    expect(page.locator(f"#r{partial.pk} .control-evidence")).to_contain_text(
        "Red-team findings, March"
    )
    page.locator(f"#r{partial.pk} .control-evidence").get_by_role(
        "link", name="Red-team findings, March"
    ).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Red-team findings, March")
    supports = page.locator("h2:has-text('Supports these controls') + ul")
    expect(supports).to_contain_text(f"{full.control.ref} {full.control.title}")
    expect(supports).to_contain_text(f"{partial.control.ref} {partial.control.title}")
    expect(page.get_by_role("link", name="red-team-findings.csv")).to_be_visible()

    page.goto(f"/assessments/{a.pk}/pillars/1/")
    expect(page.locator(f"#r{full.pk}")).to_contain_text("1 evidence")  # on its summary
    expect(open_control(page, full).locator(".control-evidence")).to_contain_text(
        "Red-team findings, March"
    )

    page.get_by_role("navigation", name="Main").get_by_role("link", name="My work").click()
    row = page.get_by_role("row").filter(
        has=page.get_by_role("link", name=f"{full.control.ref} {full.control.title}")
    )
    expect(row).to_contain_text("Fully implemented")
    expect(row).to_contain_text(due)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Dashboard").click()
    assert _progress(page, card_progress) > dashboard_before
