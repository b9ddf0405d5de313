"""The auditor reviews with context: each queue row shows the control (a link that opens it),
the answer, its justification, its evidence (hash, freshness) and the previous decision;
answers carried forward unchanged from an accepted pair say so; the control card's thread
keeps every decision and comment; evidence pages carry the review form."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from assessments.models import Response, ResponseStatus
from assessments.services import response_save
from evidence.services import evidence_create
from reviews.services import comment_add, review_create
from tests.factories import make_assessment, make_framework_version

pytestmark = pytest.mark.django_db
PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\n%%EOF\n"


def _save(personas, r, status=ResponseStatus.FULL, justification="We do it.", **kw):
    r = Response.objects.get(pk=r.pk)
    return response_save(
        response=r,
        expected_version=r.version,
        actor=personas.risk_owner,
        status=status,
        justification=justification,
        **kw,
    )


def _file(personas, responses, title="Model card", valid_until=None):
    return evidence_create(
        team=personas.team,
        actor=personas.risk_owner,
        kind="file",
        title=title,
        uploaded_file=SimpleUploadedFile("card.pdf", PDF),
        responses=responses,
        collected_on=timezone.localdate() - dt.timedelta(days=30),
        valid_until=valid_until,
    )


def _row(html: str, kind: str, pk: int) -> str:
    start = html.index(f'id="row-{kind}-{pk}"')
    return html[start : html.index("</tr>", start)]


def test_a_queue_row_shows_the_control_answer_evidence_and_previous_decision(personas):
    a = make_assessment(team=personas.team, actor=personas.risk_owner)
    r = a.responses.select_related("control__guideline__pillar").order_by("control__order")[0]
    r = _save(personas, r, justification="Keys rotate every 90 days " + "x" * 470)
    expired = timezone.localdate() - dt.timedelta(days=1)
    item = _file(personas, [r], title="Rotation log", valid_until=expired)
    review_create(reviewer=personas.auditor, decision="rejected", comment="Undated.", response=r)
    _save(personas, r, justification="Keys rotate every 90 days; log attached.")  # voids it

    html = personas.client(personas.auditor).get(reverse("review_queue")).content.decode()
    row = _row(html, "response", r.pk)
    r = Response.objects.select_related("control__guideline__pillar").get(pk=r.pk)
    assert f'href="{r.get_absolute_url()}"'.replace("&", "&amp;") in row
    assert "Fully implemented" in row
    assert "Keys rotate every 90 days; log attached." in row
    assert reverse("evidence_detail", args=[item.pk]) in row and "Rotation log" in row
    assert item.latest_revision.sha256 in row
    assert "Expired" in row
    assert "Pending" in row
    assert "Previous: Rejected" in row and "Undated." in row
    assert 'class="danger"' in row  # Reject is the dangerous action
    # The evidence's own row: its hash and freshness too.
    erow = _row(html, "evidence", item.pk)
    assert item.latest_revision.sha256 in erow and "Expired" in erow


def test_queue_query_count_is_constant_in_rows_links_and_copies(personas):
    version = make_framework_version(2, 2, 4)

    def build(n: int) -> None:
        src = make_assessment(team=personas.team, actor=personas.risk_owner, version=version)
        rs = list(src.responses.order_by("control__order"))[:n]
        for i, r in enumerate(rs):
            _save(personas, r)
            item = _file(personas, [Response.objects.get(pk=r.pk)], title=f"Card {i}")
            review_create(reviewer=personas.auditor, decision="accepted", comment="", evidence=item)
            review_create(
                reviewer=personas.auditor,
                decision="accepted",
                comment="",
                response=Response.objects.get(pk=r.pk),
            )
        make_assessment(
            team=personas.team,
            actor=personas.risk_owner,
            version=version,
            ai_system=src.ai_system,
            based_on=src,
        )

    c = personas.client(personas.auditor)

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            resp = c.get(reverse("review_queue"), {"decision": "pending"})
        assert resp.status_code == 200
        return len(ctx.captured_queries)

    build(1)
    small = count()
    assert "accepted in #" in c.get(reverse("review_queue")).content.decode()
    build(12)
    assert count() == small
    # session, user, memberships (x2), reviewer teams (x2), two counts, the page's keys, its
    # answers, its items, the answers' evidence, their sources in the earlier assessments,
    # the assessments of the filter.
    assert small <= 14


def test_an_unchanged_copy_of_an_accepted_answer_says_so_and_is_accepted_in_bulk(personas):
    src = make_assessment(team=personas.team, actor=personas.risk_owner)
    r0, r1, r2 = list(src.responses.order_by("control__order"))[:3]
    for r in (r0, r1, r2):
        r = _save(personas, r)
        item = _file(personas, [r], title=f"Evidence {r.pk}")
        review_create(reviewer=personas.auditor, decision="accepted", comment="", evidence=item)
        review_create(reviewer=personas.auditor, decision="accepted", comment="", response=r)
    copy = make_assessment(
        team=personas.team, actor=personas.risk_owner, ai_system=src.ai_system, based_on=src
    )
    c0, c1, c2 = list(copy.responses.order_by("control__order"))[:3]
    _save(personas, c1, justification="Reworded.")  # changed: judged afresh
    c2_item = _file(personas, [Response.objects.get(pk=c2.pk)], title="New, unreviewed")

    c = personas.client(personas.auditor)
    html = c.get(reverse("review_queue"), {"assessment": copy.pk}).content.decode()
    assert f"accepted in #{src.pk}, unchanged" in _row(html, "response", c0.pk)
    assert "unchanged" not in _row(html, "response", c1.pk)
    assert "unchanged" not in _row(html, "response", c2.pk)
    assert c2_item.pk  # its new evidence made the pair different

    # "Accept the 1 unchanged": the page's carried rows only, with the versions it showed.
    c0 = Response.objects.get(pk=c0.pk)
    assert "Accept the 1 unchanged from an accepted answer" in html
    carried = f'name="carried_target" value="response:{c0.pk}:{c0.version}:0"'
    assert carried in html and html.count('name="carried_target"') == 1
    resp = c.post(
        reverse("review_bulk"),
        {"carried_target": [f"response:{c0.pk}:{c0.version}:0"], "scope": "carried"},
    )
    assert resp.status_code == 302
    c0.refresh_from_db()
    assert c0.latest_review.decision == "accepted"
    for other in (c1, c2):
        other.refresh_from_db()
        assert other.latest_review_id is None


def test_a_copy_keeps_future_due_dates_and_drops_past_ones(personas):
    src = make_assessment(team=personas.team, actor=personas.risk_owner)
    past, future = list(src.responses.order_by("control__order"))[:2]
    today = timezone.localdate()
    Response.objects.filter(pk=past.pk).update(due_date=today - dt.timedelta(days=3))
    Response.objects.filter(pk=future.pk).update(due_date=today + dt.timedelta(days=30))
    copy = make_assessment(
        team=personas.team, actor=personas.risk_owner, ai_system=src.ai_system, based_on=src
    )
    dates = dict(copy.responses.values_list("control__ref", "due_date"))
    assert dates[past.control.ref] is None
    assert dates[future.control.ref] == today + dt.timedelta(days=30)


@pytest.mark.parametrize("who", ["risk_owner", "auditor", "manager", "admin"])
def test_the_control_card_thread_keeps_the_rejection_and_its_answer_for_every_role(personas, who):
    a = make_assessment(team=personas.team, actor=personas.risk_owner)
    r = a.responses.select_related("control__guideline__pillar").order_by("control__order")[0]
    r = _save(personas, r)
    review_create(
        reviewer=personas.auditor, decision="rejected", comment="No evidence linked.", response=r
    )
    comment_add(response=r, author=personas.risk_owner, body="Log uploaded, see 2.1.")
    _save(personas, r, justification="Now with the log.")  # the answer to the rejection
    url = Response.objects.select_related("control__guideline__pillar").get(pk=r.pk)
    html = personas.client(getattr(personas, who)).get(url.get_absolute_url()).content.decode()
    thread = html[html.index(f'id="thread-{r.pk}"') :]
    thread = thread[: thread.index("</section>")]
    rejection = thread.index("No evidence linked.")
    answer = thread.index("Log uploaded, see 2.1.")
    assert rejection < answer  # oldest first
    assert "Rejected" in thread[:answer]
    assert personas.auditor.display_name in thread[:rejection]
    assert personas.risk_owner.display_name in thread[rejection:answer]
    assert thread.count("<time ") == 2


def test_evidence_pages_carry_the_review_form_for_auditors_only(personas):
    item = _file(personas, [])
    url = reverse("evidence_detail", args=[item.pk])
    auditor_html = personas.client(personas.auditor).get(url).content.decode()
    assert 'name="target_type" value="evidence"' in auditor_html
    assert f'name="version" value="{item.latest_revision_id}"' in auditor_html
    owner_html = personas.client(personas.risk_owner).get(url).content.decode()
    assert 'name="target_type"' not in owner_html
    resp = personas.client(personas.auditor).post(
        reverse("review_create"),
        {
            "target_type": "evidence",
            "target_id": item.pk,
            "decision": "accepted",
            "version": item.latest_revision_id,
            "seen_review": 0,
            "next": url,
        },
    )
    assert resp.status_code == 302 and resp["Location"] == url
    item.refresh_from_db()
    assert item.latest_review.decision == "accepted"


def test_an_empty_queue_says_so_and_offers_no_bulk_form(personas):
    html = personas.client(personas.auditor).get(reverse("review_queue")).content.decode()
    assert "Nothing to review." in html
    assert 'id="bulk-form"' not in html


def test_a_reject_without_comment_shows_the_error_next_to_its_row(personas):
    a = make_assessment(team=personas.team, actor=personas.risk_owner)
    r = _save(personas, a.responses.order_by("control__order")[0])
    resp = personas.client(personas.auditor).post(
        reverse("review_create"),
        {
            "target_type": "response",
            "target_id": r.pk,
            "decision": "rejected",
            "version": r.version,
            "seen_review": 0,
        },
    )
    assert resp.status_code == 400
    row = _row(resp.content.decode(), "response", r.pk)
    assert "A comment is required" in row and 'aria-invalid="true"' in row
