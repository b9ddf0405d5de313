"""Journey: the sign-off. A manager submits the demo assessment for review and tries to sign it
off: the confirmation page lists every blocker, each control a link that opens it, and says that
the submitter cannot approve (four eyes). Once the gaps are closed (the risk owners answer, the
auditor accepts), a second manager reads what is being signed, gives a statement and signs off
with a double click: one sign-off, shown on the assessment page, and no way back out of final."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from aigsec.accounts.models import Role
from aigsec.accounts.services import membership_add
from assessments.models import Assessment, Response, SignOff

from ..factories import accept_all, answer_all
from .helpers import DEMO_PASSWORD, user

SECOND = "manager2@demo.test"
STATEMENT = "Walked through every pillar with the auditor; approved as the 2026 baseline."


def _second_manager(demo) -> None:
    second = membership_add(team=demo.team, email=SECOND, role=Role.MANAGER, actor=None).user
    second.set_password(DEMO_PASSWORD)
    second.full_name = "Sasha Second"
    second.save(update_fields=["password", "full_name"])


def _no_console_errors(page: Page) -> list[str]:
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    return errors


def test_sign_off_refused_with_its_reasons_then_signed_by_a_second_manager(demo, open_page):
    a = demo.assessment
    _second_manager(demo)
    first = open_page("manager@demo.test")
    first_errors = _no_console_errors(first)
    first.goto(f"/assessments/{a.pk}/")
    # The manager submits it for review (in progress → in review) from the status form.
    first.get_by_label("Move to").select_option(label="In review")
    first.get_by_role("button", name="Change").click()
    expect(first.get_by_role("status")).to_contain_text("Status is now In review")
    first.get_by_role("button", name="Sign off…").click()
    expect(first.get_by_role("heading", level=1)).to_contain_text(f"Sign off “{a.title}”")

    blocking = first.locator("#blocking")
    unanswered = Response.objects.filter(assessment=a, status="not_started").count()
    assert unanswered > 0
    expect(blocking.locator("li[data-code=not_answered]")).to_have_count(unanswered)
    expect(blocking.locator("li[data-code=submitter]")).to_contain_text(
        "You submitted this assessment for review"
    )
    expect(first.get_by_label("Statement")).to_have_count(0)  # nothing to sign yet
    # Each blocker's control is a link that opens it on its questionnaire page.
    gap = (
        Response.objects.filter(assessment=a, status="not_started")
        .select_related("control")
        .order_by(
            "control__guideline__pillar__order", "control__guideline__order", "control__order"
        )
        .first()
    )
    blocking.get_by_role("link", name=gap.control.ref, exact=True).first.click()
    card = first.locator(f"#r{gap.pk}")
    expect(card.locator(".control-title")).to_be_visible()
    expect(first).to_have_url(re.compile(rf"/pillars/[^/]+/\?open={gap.pk}#r{gap.pk}$"))
    first.go_back()

    # The risk owners close the gaps and the auditor accepts everything.
    answer_all(a, by=user("risk@demo.test"))
    accept_all(a, auditor=user("auditor@demo.test"))
    first.reload()
    expect(first.locator("#blocking li")).to_have_count(1)  # only: four eyes
    expect(first.locator("#blocking li")).to_contain_text("Ask Ada Admin, Sasha Second")

    second = open_page(SECOND)
    second_errors = _no_console_errors(second)
    second.goto(f"/assessments/{a.pk}/")
    second.get_by_role("button", name="Sign off…").click()
    facts = second.locator("dl.sign-off-facts")
    expect(facts).to_contain_text(a.title)
    expect(facts).to_contain_text("Support chatbot")
    total = Response.objects.filter(assessment=a).count()
    expect(facts.get_by_test_id("answered")).to_have_text(
        f"{total} of {total} controls answered, {total} accepted by an auditor"
    )
    second.get_by_label("Statement").fill(STATEMENT)
    second.get_by_role("button", name="Sign off and make final").dblclick()  # a double click

    expect(second.get_by_role("heading", level=1)).to_have_text(a.title)
    sign_off = second.locator("#sign-off")
    expect(sign_off).to_contain_text("By Sasha Second (Manager)")
    expect(sign_off).to_contain_text(STATEMENT)
    expect(sign_off).to_contain_text("cannot be reopened")
    expect(second.get_by_label("Move to")).to_have_count(0)  # no status change out of final
    expect(
        sign_off.get_by_role("button", name="Start a correction based on this assessment")
    ).to_be_visible()
    assert SignOff.objects.filter(assessment=a).count() == 1
    assert Assessment.objects.get(pk=a.pk).status == "final"

    # The first manager's stale page: signing now is refused, nothing changes.
    first.reload()
    expect(first.locator("#blocking li[data-code=final]")).to_be_visible()
    assert first_errors == [] and second_errors == []
