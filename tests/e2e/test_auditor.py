"""Journey 2, the review loop: the auditor finds the risk owner's work in the review queue,
rejects one evidence item with a comment and accepts another and an answer; the risk owner sees
the rejection and its reason, uploads a new revision, and the auditor accepts that."""

from __future__ import annotations

from django.core.files.uploadedfile import SimpleUploadedFile
from playwright.sync_api import Page, expect

from assessments.models import Response
from evidence.services import evidence_create

from .helpers import user

REASON = "Covers staging only; test production too."


def _work_to_review(demo) -> Response:
    """Two files the risk owner attached to an answer nobody has reviewed yet."""
    answer = (
        Response.objects.filter(assessment=demo.assessment, status="full", reviews__isnull=True)
        .select_related("control")
        .order_by("control__order")
        .first()
    )
    for title, name in (("Penetration test report", "pentest.csv"), ("Model card", "card.csv")):
        evidence_create(
            team=demo.team,
            actor=user("risk@demo.test"),
            kind="file",
            title=title,
            uploaded_file=SimpleUploadedFile(name, f"{title}\nversion,1\n".encode()),
            responses=[answer],
        )
    return answer


def _review(page: Page, row_text: str, decision: str, comment: str = "") -> None:
    row = page.get_by_role("row").filter(has_text=row_text)
    if comment:
        row.get_by_label("Comment").fill(comment)
    row.get_by_role("button", name=decision, exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("Review recorded.")


def _decision(page: Page, row_text: str):
    return page.get_by_role("row").filter(has_text=row_text).locator("td").nth(3)


def test_auditor_rejects_and_accepts_and_the_risk_owner_answers_the_rejection(demo, open_page):
    answer = _work_to_review(demo)
    control = f"Control {answer.control.ref} {answer.control.title}"
    auditor = open_page("auditor@demo.test")
    auditor.get_by_role("navigation", name="Main").get_by_role("link", name="Review queue").click()
    expect(auditor.get_by_role("heading", level=1)).to_have_text("Review queue")
    for what in ("Evidence: Penetration test report", "Evidence: Model card", control):
        expect(_decision(auditor, what)).to_contain_text("Pending")

    _review(auditor, "Evidence: Penetration test report", "Reject", REASON)
    _review(auditor, "Evidence: Model card", "Accept")
    _review(auditor, control, "Accept")
    expect(_decision(auditor, "Evidence: Penetration test report")).to_contain_text(
        f"Rejected{REASON}"
    )
    expect(_decision(auditor, "Evidence: Model card")).to_contain_text("Accepted")
    expect(_decision(auditor, control)).to_contain_text("Accepted")

    risk = open_page("risk@demo.test")
    risk.get_by_role("navigation", name="Main").get_by_role("link", name="Evidence").click()
    risk.get_by_role("link", name="Penetration test report").click()
    review = risk.locator(".evidence-review")
    expect(review).to_contain_text("Rejected")
    expect(review).to_contain_text(REASON)
    expect(review).to_contain_text("Avery Auditor")
    risk.get_by_label("New revision").set_input_files(
        {"name": "pentest-production.csv", "mimeType": "text/csv", "buffer": b"scope,prod\n"}
    )
    risk.get_by_role("button", name="Upload new revision").click()
    expect(risk.get_by_role("link", name="pentest-production.csv")).to_be_visible()
    expect(review).to_contain_text("Pending")  # the rejection was about the old file

    auditor.reload()
    expect(_decision(auditor, "Evidence: Penetration test report")).to_contain_text("Pending")
    _review(auditor, "Evidence: Penetration test report", "Accept")
    expect(_decision(auditor, "Evidence: Penetration test report")).to_contain_text("Accepted")

    risk.reload()
    expect(review).to_contain_text("Accepted")
