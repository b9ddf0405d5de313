"""The auditor reviews with context (issue 14): from the queue, each answer shows its
justification and evidence (hash, freshness) and opens its control; several rows are accepted
at once with one comment; a double click records one decision; a page older than the answer
cannot record a decision. Then a rejection and the risk owner's answer to it stay visible
together in the control's thread, for the owner and for the auditor."""

from __future__ import annotations

from django.core.files.uploadedfile import SimpleUploadedFile
from playwright.sync_api import Page, expect

from assessments.models import Response
from assessments.services import response_save
from evidence.services import evidence_create
from reviews.models import Review

from .helpers import open_control, user

REASON = "The log covers staging only; add production."
ANSWER = "Production log attached as revision 2."


def _unreviewed_answers(demo, n: int) -> list[Response]:
    return list(
        Response.objects.filter(assessment=demo.assessment, status="full", reviews__isnull=True)
        .select_related("control__guideline__pillar")
        .order_by("control__order")[:n]
    )


def _queue(page: Page, demo) -> None:
    page.goto(f"/reviews/?assessment={demo.assessment.pk}&decision=pending")
    expect(page.get_by_role("heading", level=1)).to_have_text("Review queue")


def _row(page: Page, r: Response):
    return page.locator(f"#row-response-{r.pk}")


def test_auditor_reviews_from_the_queue_with_context_and_in_bulk(demo, open_page):
    first, second, third = _unreviewed_answers(demo, 3)
    item = evidence_create(
        team=demo.team,
        actor=user("risk@demo.test"),
        kind="file",
        title="Key rotation log",
        uploaded_file=SimpleUploadedFile("rotation.csv", b"date,key\n2026-11-01,k1\n"),
        responses=[first],
    )
    sha = item.latest_revision.sha256
    auditor = open_page("auditor@demo.test")
    _queue(auditor, demo)

    row = _row(auditor, first)
    expect(row).to_contain_text(first.justification[:40])
    linked = row.locator("li", has_text="Key rotation log")
    expect(linked.get_by_role("link", name="Key rotation log")).to_be_visible()
    expect(linked.locator("code.hash")).to_have_text(sha)
    expect(linked).to_contain_text("Valid")
    expect(row.get_by_role("button", name="Reject")).to_have_class("danger")

    # The control link opens the control in its questionnaire; Back returns to the queue.
    row.get_by_role("link", name=f"Control {first.control.ref}").click()
    expect(auditor.locator(f"#r{first.pk} .control-title")).to_be_visible()
    auditor.go_back()
    expect(_row(auditor, first)).to_be_visible()

    # Two rows selected, accepted with one comment.
    _row(auditor, first).get_by_role("checkbox").check()
    _row(auditor, second).get_by_role("checkbox").check()
    auditor.get_by_label("Comment for a bulk acceptance (optional)").fill("Walked through on site.")
    auditor.get_by_role("button", name="Accept selected").click()
    expect(auditor.get_by_role("status")).to_contain_text("2 decisions recorded: accepted.")
    assert Review.objects.filter(comment="Walked through on site.").count() == 2

    # A double click on Accept records one decision.
    _row(auditor, third).get_by_role("button", name="Accept", exact=True).dblclick()
    expect(auditor.get_by_role("status")).to_contain_text("Review recorded.")
    assert Review.objects.filter(response=third).count() == 1


def test_a_stale_page_cannot_record_a_decision(demo, open_page):
    (answer,) = _unreviewed_answers(demo, 1)
    auditor = open_page("auditor@demo.test")
    _queue(auditor, demo)
    # Meanwhile the risk owner changes the answer.
    fresh = Response.objects.get(pk=answer.pk)
    response_save(
        response=fresh,
        expected_version=fresh.version,
        actor=user("risk@demo.test"),
        status="largely",
        justification="Changed while the auditor was reading.",
    )
    row = _row(auditor, answer)
    row.get_by_label("Comment").fill(REASON)
    row.get_by_role("button", name="Reject").click()
    row = _row(auditor, answer)
    expect(row.get_by_role("alert")).to_contain_text("saved again after you opened the page")
    expect(row.get_by_label("Comment")).to_have_value(REASON)
    expect(row).to_contain_text("Changed while the auditor was reading.")
    assert not Review.objects.filter(response=answer).exists()


def test_a_rejection_and_its_answer_stay_visible_in_the_thread(demo, open_page):
    (answer,) = _unreviewed_answers(demo, 1)
    auditor = open_page("auditor@demo.test")
    _queue(auditor, demo)
    row = _row(auditor, answer)
    row.get_by_label("Comment").fill(REASON)
    row.get_by_role("button", name="Reject").click()
    expect(auditor.get_by_role("status")).to_contain_text("Review recorded.")

    risk = open_page("risk@demo.test")
    risk.goto(answer.get_absolute_url())
    card = open_control(risk, answer)
    thread = card.locator(f"#thread-{answer.pk}")
    expect(thread).to_contain_text("Rejected")
    expect(thread).to_contain_text(REASON)
    thread.get_by_label("Add a comment").fill(ANSWER)
    thread.get_by_role("button", name="Post comment").click()
    expect(card.locator(f"#thread-{answer.pk}")).to_contain_text(ANSWER)
    # Saving the answer again voids the decision but not its place in the thread.
    card.get_by_label("Justification").fill("Production now covered; see the log.")
    card.get_by_role("button", name=f"Save {answer.control.ref}").click()
    card = open_control(risk, answer)
    entries = card.locator(f"#thread-{answer.pk} li")
    expect(entries).to_have_count(2)
    expect(entries.nth(0)).to_contain_text(REASON)
    expect(entries.nth(0)).to_contain_text("Avery Auditor")
    expect(entries.nth(1)).to_contain_text(ANSWER)

    auditor.goto(answer.get_absolute_url())
    entries = open_control(auditor, answer).locator(f"#thread-{answer.pk} li")
    expect(entries).to_have_count(2)
    expect(entries.nth(0)).to_contain_text("Rejected")
    expect(entries.nth(1)).to_contain_text(ANSWER)
