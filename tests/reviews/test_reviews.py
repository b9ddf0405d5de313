"""The review loop: only auditors review; targets of another team are 404; a change reopens."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from aigsec.accounts.models import Role
from aigsec.audit.models import AuditEvent
from assessments.errors import AssessmentLocked
from assessments.models import AssessmentStatus, Response, ResponseStatus
from evidence.services import evidence_add_revision, evidence_create
from reviews import decisions as review_decisions
from reviews import selectors as review_selectors
from reviews import services as review_services
from reviews.models import Review
from tests.factories import MembershipFactory, UserFactory, make_assessment

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def _answer(responses, status=ResponseStatus.FULL):
    Response.objects.filter(pk__in=[r.pk for r in responses]).update(
        status=status, updated_at=timezone.now()
    )


@pytest.fixture
def world(personas):
    a = make_assessment(team=personas.team, actor=personas.risk_owner)
    responses = list(a.responses.select_related("control__guideline").order_by("control__order"))
    _answer(responses[:2])
    note = evidence_create(
        team=personas.team,
        actor=personas.risk_owner,
        kind="note",
        title="Policy note",
        note="We have a policy.",
        responses=[responses[0]],
    )
    return {"assessment": a, "responses": responses, "note": note}


def _file_item(personas, title="Model card"):
    return evidence_create(
        team=personas.team,
        actor=personas.risk_owner,
        kind="file",
        title=title,
        uploaded_file=SimpleUploadedFile("card.png", PNG),
    )


# --- Who may review -------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["risk_owner", "manager", "admin"])
def test_only_auditors_review(personas, world, who):
    user = getattr(personas, who)
    r = world["responses"][0]
    c = personas.client(user)
    assert c.get(reverse("review_queue")).status_code == 403
    resp = c.post(
        reverse("review_create"),
        {"target_type": "response", "target_id": r.pk, "decision": "accepted"},
    )
    assert resp.status_code == 403
    api = c.post(
        "/api/v1/reviews/",
        {"response": r.pk, "decision": "accepted"},
        content_type="application/json",
    )
    assert api.status_code == 403
    with pytest.raises(PermissionDenied):
        review_services.review_create(reviewer=user, decision="accepted", comment="", response=r)
    assert not Review.objects.exists()


@pytest.mark.django_db
def test_auditor_reviews_through_page_and_api_and_it_is_audited(personas, world):
    r, note = world["responses"][0], world["note"]
    c = personas.client(personas.auditor)
    resp = c.post(
        reverse("review_create"),
        {"target_type": "response", "target_id": r.pk, "decision": "accepted", "comment": ""},
    )
    assert resp.status_code == 302
    api = c.post(
        "/api/v1/reviews/",
        {"evidence": note.pk, "decision": "changes_requested", "comment": "Sign it."},
        content_type="application/json",
    )
    assert api.status_code == 201, api.content
    body = api.json()
    assert set(body) == {
        "id", "evidence", "response", "revision", "decision", "comment", "reviewer", "created_at"
    }  # fmt: skip
    assert body["evidence"] == note.pk and body["response"] is None
    assert body["decision"] == "changes_requested" and body["reviewer"] == personas.auditor.pk
    events = AuditEvent.objects.filter(action="review.recorded").order_by("seq")
    assert [(e.target, e.data["decision"]) for e in events] == [
        (f"response:{r.pk}", "accepted"),
        (f"evidenceitem:{note.pk}", "changes_requested"),
    ]
    assert all(e.actor == personas.auditor.pk for e in events)
    # The list is scoped and filtered; the risk owner can read the decisions.
    listing = personas.client(personas.risk_owner).get("/api/v1/reviews/?decision=accepted")
    assert [x["response"] for x in listing.json()["results"]] == [r.pk]
    assert (
        personas.client(personas.risk_owner)
        .get(f"/api/v1/reviews/?evidence={note.pk}")
        .json()["count"]
        == 1
    )
    assert personas.client(personas.stranger).get("/api/v1/reviews/").json()["count"] == 0
    assert c.get("/api/v1/reviews/?decision=bogus").status_code == 400


@pytest.mark.django_db
@pytest.mark.parametrize("decision", ["rejected", "changes_requested"])
def test_reject_without_comment_is_400_and_writes_nothing(personas, world, decision):
    r = world["responses"][0]
    c = personas.client(personas.auditor)
    before = AuditEvent.objects.count()
    resp = c.post(
        reverse("review_create"),
        {"target_type": "response", "target_id": r.pk, "decision": decision, "comment": "  "},
    )
    assert resp.status_code == 400
    assert b"A comment is required" in resp.content
    api = c.post(
        "/api/v1/reviews/",
        {"response": r.pk, "decision": decision},
        content_type="application/json",
    )
    assert api.status_code == 400 and "comment" in api.json()
    for bad in (
        {"target_type": "bogus", "target_id": r.pk, "decision": "accepted"},
        {"target_type": "response", "target_id": r.pk, "decision": "maybe", "comment": "x"},
    ):
        assert c.post(reverse("review_create"), bad).status_code == 400
    assert (
        c.post(
            "/api/v1/reviews/",
            {"response": r.pk, "evidence": world["note"].pk, "decision": "accepted"},
            content_type="application/json",
        ).status_code
        == 400
    )
    assert not Review.objects.exists()
    assert AuditEvent.objects.count() == before


# --- Strangers ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_stranger_gets_404_on_the_victims_targets(personas, world):
    stranger_auditor = MembershipFactory(
        team=personas.other_team, role=Role.AUDITOR, user=UserFactory(email="aud@other.test")
    ).user
    r, note = world["responses"][0], world["note"]
    review_services.review_create(
        reviewer=personas.auditor, decision="accepted", comment="", response=r
    )
    for user in (personas.stranger, stranger_auditor):
        c = personas.client(user)
        for target_type, pk in (("response", r.pk), ("evidence", note.pk)):
            resp = c.post(
                reverse("review_create"),
                {"target_type": target_type, "target_id": pk, "decision": "accepted"},
            )
            assert resp.status_code == 404
            api = c.post(
                "/api/v1/reviews/",
                {target_type: pk, "decision": "accepted"},
                content_type="application/json",
            )
            assert api.status_code == 404
        assert c.get(f"/api/v1/reviews/?response={r.pk}").json()["count"] == 0
    page = personas.client(stranger_auditor).get(reverse("review_queue"))
    assert page.status_code == 200
    assert world["assessment"].ai_system.name.encode() not in page.content
    assert b"Policy note" not in page.content
    assert Review.objects.count() == 1
    assert AuditEvent.objects.filter(action="access.denied").count() >= 4


@pytest.mark.django_db
def test_garbage_target_id_is_404(personas, world):
    c = personas.client(personas.auditor)
    for bad in ("99999999999999999999", "-1", "abc", ""):
        resp = c.post(
            reverse("review_create"),
            {"target_type": "response", "target_id": bad, "decision": "accepted"},
        )
        assert resp.status_code == 404


# --- Reopening ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_changed_response_is_pending_again(personas, world):
    r = world["responses"][0]
    review_services.review_create(
        reviewer=personas.auditor, decision="rejected", comment="No evidence.", response=r
    )
    d = review_selectors.current_decisions_for_responses([r.pk])[r.pk]
    assert (d.decision, d.comment, d.reviewer) == ("rejected", "No evidence.", personas.auditor)
    Response.objects.filter(pk=r.pk).update(updated_at=timezone.now() + dt.timedelta(seconds=1))
    assert review_selectors.current_decisions_for_responses([r.pk])[r.pk].decision == "pending"
    # An unreviewed response is pending too.
    other = world["responses"][1]
    assert (
        review_selectors.current_decisions_for_responses([other.pk])[other.pk]
        == review_decisions.NO_DECISION
    )


@pytest.mark.django_db
def test_new_evidence_revision_reopens_the_review(personas, world):
    item = _file_item(personas)
    review = review_services.review_create(
        reviewer=personas.auditor, decision="accepted", comment="", evidence=item
    )
    assert review.revision.number == 1
    assert (
        review_selectors.current_decisions_for_evidence([item.pk])[item.pk].decision == "accepted"
    )
    evidence_add_revision(
        item=item, actor=personas.risk_owner, uploaded_file=SimpleUploadedFile("v2.png", PNG)
    )
    assert review_selectors.current_decisions_for_evidence([item.pk])[item.pk].decision == "pending"
    again = review_services.review_create(
        reviewer=personas.auditor, decision="accepted", comment="", evidence=item
    )
    assert again.revision.number == 2
    assert (
        review_selectors.current_decisions_for_evidence([item.pk])[item.pk].decision == "accepted"
    )


@pytest.mark.django_db
def test_final_assessment_refuses_response_reviews(personas, world):
    a = world["assessment"]
    a.status, a.finalised_at = AssessmentStatus.FINAL, timezone.now()
    a.save(update_fields=["status", "finalised_at"])
    r = world["responses"][0]
    with pytest.raises(AssessmentLocked):
        review_services.review_create(
            reviewer=personas.auditor, decision="accepted", comment="", response=r
        )
    c = personas.client(personas.auditor)
    resp = c.post(
        reverse("review_create"),
        {"target_type": "response", "target_id": r.pk, "decision": "accepted"},
    )
    assert resp.status_code == 400
    api = c.post(
        "/api/v1/reviews/",
        {"response": r.pk, "decision": "accepted"},
        content_type="application/json",
    )
    assert api.status_code == 409
    assert not Review.objects.exists()


@pytest.mark.django_db
def test_unanswered_response_cannot_be_reviewed(personas, world):
    r = world["responses"][5]
    with pytest.raises(ValidationError):
        review_services.review_create(
            reviewer=personas.auditor, decision="accepted", comment="", response=r
        )


# --- The queue ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_queue_shows_pending_first_and_filters(personas, world):
    r0, r1 = world["responses"][:2]
    note = world["note"]
    review_services.review_create(
        reviewer=personas.auditor, decision="accepted", comment="", response=r0
    )
    rows = review_selectors.review_queue(personas.auditor)
    # Only answered responses (2) and the live evidence (1); pending first.
    assert [(x.kind, x.target_id) for x in rows] == [
        ("response", r1.pk),
        ("evidence", note.pk),
        ("response", r0.pk),
    ]
    assert [x.decision for x in rows] == ["pending", "pending", "accepted"]
    assert [
        x.target_id for x in review_selectors.review_queue(personas.auditor, decision="accepted")
    ] == [r0.pk]
    ref = r1.control.guideline.ref
    by_ref = review_selectors.review_queue(personas.auditor, guideline_ref=ref)
    assert {x.guideline_ref for x in by_ref if x.kind == "response"} == {ref}
    other = make_assessment(team=personas.team, actor=personas.risk_owner)
    _answer(list(other.responses.all()[:1]))
    only_other = review_selectors.review_queue(personas.auditor, assessment_id=other.pk)
    assert [x.assessment.pk for x in only_other] == [other.pk]
    # The page: filters as GET parameters, an inline form per row.
    c = personas.client(personas.auditor)
    page = c.get(reverse("review_queue"), {"decision": "pending"})
    assert page.status_code == 200
    assert page.content.count(b'name="target_id"') == 3  # r1, the note, the other answer
    html = c.get(reverse("review_queue"), {"assessment": world["assessment"].pk}).content
    assert html.count(b'name="target_id"') == 3
    assert c.get(reverse("review_queue"), {"assessment": "x", "decision": "zz"}).status_code == 200


@pytest.mark.django_db
def test_queue_query_count_does_not_grow(personas, django_assert_num_queries):
    from assessments.models import Control  # noqa: F401

    def build(n: int) -> None:
        a = make_assessment(team=personas.team, actor=personas.risk_owner)
        rs = list(a.responses.order_by("control__order"))
        _answer(rs[:n])
        for i, r in enumerate(rs[:n]):
            item = evidence_create(
                team=personas.team,
                actor=personas.risk_owner,
                kind="note",
                title=f"Note {i}",
                note="n",
                responses=[r],
            )
            if i % 2:
                review_services.review_create(
                    reviewer=personas.auditor, decision="accepted", comment="", evidence=item
                )
                review_services.review_create(
                    reviewer=personas.auditor, decision="rejected", comment="no", response=r
                )

    c = personas.client(personas.auditor)

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert c.get(reverse("review_queue")).status_code == 200
        return len(ctx)

    build(1)
    small = count()
    Review.objects.all().delete()
    build(15)
    assert count() == small
