"""Comment threads per response, the review decision in My work, and the demo reviews."""

from __future__ import annotations

import io

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from aigsec.audit.models import AuditEvent
from assessments import services
from assessments.errors import AssessmentLocked
from assessments.models import AssessmentStatus, Response, ResponseStatus
from reviews.models import ResponseComment, Review
from reviews.selectors import comments_for_responses, current_decisions_for_responses
from reviews.services import comment_add, review_create
from tests.factories import make_assessment

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def world(personas):
    a = make_assessment(team=personas.team, actor=personas.risk_owner)
    responses = list(a.responses.select_related("control__guideline__pillar").order_by("id"))
    return {"assessment": a, "responses": responses}


def _url(r):
    return reverse("response_comment", args=[r.pk])


def _assign_and_answer(r, owner, actor):
    return services.response_save(
        response=r,
        expected_version=r.version,
        actor=actor,
        status=ResponseStatus.LARGELY,
        justification="We do this.",
        owner=owner,
        due_date=None,
    )


# --- Comments -------------------------------------------------------------------------------


def test_risk_owner_and_auditor_talk_in_the_thread(personas, world):
    r = world["responses"][0]
    owner = personas.client(personas.risk_owner)
    resp = owner.post(_url(r), {"body": "  Is the <b>policy</b> enough?  "}, **HX)
    assert resp.status_code == 200
    body = resp.content.decode()
    assert f'id="thread-{r.pk}"' in body
    assert "&lt;b&gt;policy&lt;/b&gt;" in body and "<b>policy</b>" not in body
    # Without htmx: back to the control on its questionnaire page.
    resp = personas.client(personas.auditor).post(_url(r), {"body": "Please add the sign-off."})
    pillar = r.control.guideline.pillar.ref
    assert resp.status_code == 302
    assert resp["Location"] == (
        reverse("questionnaire", args=[r.assessment_id, pillar]) + f"?open={r.pk}#r{r.pk}"
    )
    thread = owner.post(_url(r), {"body": "Done."}, **HX).content.decode()
    assert thread.index("Is the &lt;b&gt;policy") < thread.index("Please add the sign-off.")
    assert thread.index("Please add the sign-off.") < thread.index("Done.")
    assert personas.risk_owner.display_name in thread
    assert personas.auditor.display_name in thread
    assert [c.body for c in comments_for_responses([r.pk])[r.pk]] == [
        "Is the <b>policy</b> enough?",
        "Please add the sign-off.",
        "Done.",
    ]
    events = AuditEvent.objects.filter(action="response.commented").order_by("seq")
    assert [(e.actor, e.target) for e in events] == [
        (personas.risk_owner.pk, f"response:{r.pk}"),
        (personas.auditor.pk, f"response:{r.pk}"),
        (personas.risk_owner.pk, f"response:{r.pk}"),
    ]
    # The admin may comment too.
    assert personas.client(personas.admin).post(_url(r), {"body": "ok"}, **HX).status_code == 200


def test_manager_reads_but_may_not_comment(personas, world):
    r = world["responses"][0]
    resp = personas.client(personas.manager).post(_url(r), {"body": "Hurry up."}, **HX)
    assert resp.status_code == 403
    with pytest.raises(PermissionDenied):
        comment_add(response=r, author=personas.manager, body="Hurry up.")
    assert not ResponseComment.objects.exists()


def test_a_refused_comment_is_recorded_as_access_denied(personas, world):
    """Like every other refusal: the manager passed the door (view), the comment rule refused."""
    r = world["responses"][0]
    resp = personas.client(personas.manager).post(_url(r), {"body": "Hurry up."}, **HX)
    assert resp.status_code == 403
    with pytest.raises(PermissionDenied):
        comment_add(response=r, author=personas.manager, body="Hurry up.")
    denied = AuditEvent.objects.filter(action="access.denied").order_by("seq")
    assert [(e.actor, e.team, e.target, e.data) for e in denied] == [
        (
            personas.manager.pk,
            personas.team.pk,
            f"response:{r.pk}",
            {"reason": "role manager may not comment"},
        )
    ] * 2
    assert not AuditEvent.objects.filter(action="response.commented").exists()
    # Someone outside the owning team, calling the service directly: recorded too.
    with pytest.raises(PermissionDenied):
        comment_add(response=r, author=personas.stranger, body="Hello.")
    last = AuditEvent.objects.filter(action="access.denied").latest("seq")
    assert (last.actor, last.target) == (personas.stranger.pk, f"response:{r.pk}")
    assert last.data == {"reason": "not a member of the owning team"}
    assert not ResponseComment.objects.exists()


def test_stranger_gets_404_and_nothing_is_written(personas, world):
    r = world["responses"][0]
    comment_add(response=r, author=personas.risk_owner, body="Internal note")
    c = personas.client(personas.stranger)
    for bad_pk in (r.pk, 99999999):
        resp = c.post(reverse("response_comment", args=[bad_pk]), {"body": "hi"}, **HX)
        assert resp.status_code == 404
        assert b"Internal note" not in resp.content
    assert ResponseComment.objects.count() == 1
    assert AuditEvent.objects.filter(action="access.denied").exists()
    assert c.get(_url(r)).status_code == 405


@pytest.mark.parametrize("body", ["", "   ", "x" * 5001])
def test_bad_body_is_400_and_writes_nothing(personas, world, body):
    r = world["responses"][0]
    c = personas.client(personas.risk_owner)
    before = AuditEvent.objects.count()
    resp = c.post(_url(r), {"body": body}, **HX)
    assert resp.status_code == 400
    assert b"Write a comment." in resp.content or b"at most 5000" in resp.content
    with pytest.raises(ValidationError):
        comment_add(response=r, author=personas.risk_owner, body=body)
    assert not ResponseComment.objects.exists()
    assert AuditEvent.objects.count() == before


def test_final_assessment_refuses_comments(personas, world):
    a = world["assessment"]
    a.status, a.finalised_at = AssessmentStatus.FINAL, timezone.now()
    a.save(update_fields=["status", "finalised_at"])
    r = world["responses"][0]
    with pytest.raises(AssessmentLocked):
        comment_add(response=r, author=personas.risk_owner, body="Too late?")
    resp = personas.client(personas.risk_owner).post(_url(r), {"body": "Too late?"}, **HX)
    assert resp.status_code == 409
    assert b"final and locked" in resp.content
    assert b"<textarea" not in resp.content  # no form on a final assessment
    assert not ResponseComment.objects.exists()


def test_comments_for_responses_is_one_query(personas, world):
    rs = world["responses"][:3]
    for r in rs:
        comment_add(response=r, author=personas.risk_owner, body=f"On {r.pk}")
        comment_add(response=r, author=personas.auditor, body=f"Reply {r.pk}")
    with CaptureQueriesContext(connection) as ctx:
        threads = comments_for_responses([r.pk for r in rs] + [world["responses"][4].pk])
        names = [c.author.display_name for t in threads.values() for c in t]
    assert len(ctx.captured_queries) == 1
    assert len(names) == 6 and threads[world["responses"][4].pk] == []


# --- My work --------------------------------------------------------------------------------


def test_my_work_shows_the_review_and_reopens_after_a_change(personas, world):
    r = _assign_and_answer(world["responses"][0], personas.risk_owner, personas.risk_owner)
    c = personas.client(personas.risk_owner)
    html = c.get(reverse("my_work")).content.decode()
    assert "Pending" in html and "review-pending" in html
    review_create(
        reviewer=personas.auditor,
        decision="changes_requested",
        comment="Name the <owner> of the policy.",
        response=r,
    )
    html = c.get(reverse("my_work")).content.decode()
    assert "Changes requested" in html and "review-changes_requested" in html
    assert "Name the &lt;owner&gt; of the policy." in html
    r.refresh_from_db()
    services.response_save(
        response=r,
        expected_version=r.version,
        actor=personas.risk_owner,
        status=ResponseStatus.FULL,
        justification="Owner: the CISO.",
    )
    html = c.get(reverse("my_work")).content.decode()
    assert "Changes requested" not in html and "Name the" not in html
    assert "review-pending" in html and "Pending" in html


def test_my_work_query_count_does_not_grow_with_reviews(personas):
    c = personas.client(personas.risk_owner)

    def build(n: int) -> None:
        a = make_assessment(team=personas.team, actor=personas.risk_owner)
        for i, r in enumerate(list(a.responses.order_by("id"))[:n]):
            r = _assign_and_answer(r, personas.risk_owner, personas.risk_owner)
            decision = ("accepted", "rejected", "changes_requested")[i % 3]
            review_create(
                reviewer=personas.auditor,
                decision=decision,
                comment="" if decision == "accepted" else f"Fix {i}",
                response=r,
            )

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert c.get(reverse("my_work")).status_code == 200
        return len(ctx.captured_queries)

    build(1)
    small = count()
    build(8)
    build(1)
    assert Review.objects.count() == 10
    large = count()
    assert small == large, (small, large)
    assert Response.objects.filter(owner=personas.risk_owner).count() == 10


# --- Demo -----------------------------------------------------------------------------------


def test_seed_demo_records_reviews_once(monkeypatch):
    monkeypatch.setenv("DEMO_PASSWORD", "demo-passphrase-for-tests-42")
    call_command("load_framework", stdout=io.StringIO())
    call_command("seed_demo", stdout=io.StringIO())
    evidence = Review.objects.filter(evidence__isnull=False)
    assert sorted(evidence.values_list("decision", flat=True)) == ["accepted", "rejected"]
    assert evidence.get(decision="rejected").comment
    # Of the open demo assessment (the signed-off one has every answer accepted).
    responses = Review.objects.filter(response__isnull=False).exclude(
        response__assessment__status="final"
    )
    assert list(responses.values_list("decision", flat=True)) == ["accepted"]
    assert {r.reviewer.email for r in Review.objects.all()} == {"auditor@demo.test"}
    r = responses.get()
    assert current_decisions_for_responses([r.response_id])[r.response_id].decision == "accepted"
    count = Review.objects.count()
    call_command("seed_demo", stdout=io.StringIO())
    assert Review.objects.count() == count
