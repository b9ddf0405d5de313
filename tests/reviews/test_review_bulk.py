"""Bulk review and stale decisions: one decision on many targets, all or nothing, each target
through the door; a decision made on an older version of its target is refused; a double
click records one decision."""

from __future__ import annotations

import pytest
from django.urls import reverse

from aigsec.audit.models import AuditEvent
from assessments.models import Response, ResponseStatus
from assessments.services import response_save
from evidence.services import evidence_create
from reviews import services
from reviews.bulk import MAX_TARGETS
from reviews.models import Review
from tests.factories import make_assessment

pytestmark = pytest.mark.django_db
BULK = "/api/v1/reviews/bulk/"


def _answered(personas, team=None, actor=None, n=3):
    a = make_assessment(team=team or personas.team, actor=actor or personas.risk_owner)
    rs = list(a.responses.order_by("control__order"))[:n]
    for r in rs:
        response_save(
            response=r,
            expected_version=r.version,
            actor=actor or personas.risk_owner,
            status=ResponseStatus.FULL,
            justification="We do it.",
        )
    return [Response.objects.get(pk=r.pk) for r in rs]


def _note(personas, title="Policy", responses=()):
    return evidence_create(
        team=personas.team,
        actor=personas.risk_owner,
        kind="note",
        title=title,
        note="Text.",
        responses=list(responses),
    )


def _post(client, body):
    return client.post(BULK, body, content_type="application/json")


# --- API ----------------------------------------------------------------------------------


def test_api_bulk_accepts_every_target_with_one_comment(personas):
    rs = _answered(personas)
    note = _note(personas, responses=rs[:1])
    c = personas.client(personas.auditor)
    targets = [{"kind": "response", "id": r.pk, "version": r.version} for r in rs]
    targets.append({"kind": "evidence", "id": note.pk, "version": 0})
    resp = _post(
        c, {"decision": "accepted", "comment": "Checked in the meeting.", "targets": targets}
    )
    assert resp.status_code == 201, resp.content
    body = resp.json()
    assert body["count"] == 4
    assert [x["response"] for x in body["reviews"][:3]] == [r.pk for r in rs]
    assert Review.objects.filter(comment="Checked in the meeting.").count() == 4
    # Each decision is its own audit event, as for a single review.
    assert AuditEvent.objects.filter(action="review.recorded").count() == 4
    for r in rs:
        r.refresh_from_db()
        assert r.latest_review.decision == "accepted"


def test_api_bulk_with_a_target_of_another_team_is_404_and_writes_nothing(personas):
    mine = _answered(personas, n=2)
    theirs = _answered(personas, team=personas.other_team, actor=personas.stranger, n=1)
    c = personas.client(personas.auditor)
    targets = [{"kind": "response", "id": r.pk} for r in [*mine, *theirs]]
    resp = _post(c, {"decision": "accepted", "targets": targets})
    assert resp.status_code == 404
    assert not Review.objects.exists()
    assert not AuditEvent.objects.filter(action="review.recorded").exists()
    # The refusal is recorded by the door, against the other team.
    denied = AuditEvent.objects.get(action="access.denied", target=f"response:{theirs[0].pk}")
    assert denied.team == personas.other_team.pk


@pytest.mark.parametrize(
    ("targets", "needle"),
    [
        ("dup", "repeated"),
        ("kind", "kind"),
        ("many", str(MAX_TARGETS)),
        ("empty", "targets"),
    ],
)
def test_api_bulk_refuses_bad_target_lists_naming_the_field(personas, targets, needle):
    rs = _answered(personas, n=2)
    t = [{"kind": "response", "id": r.pk} for r in rs]
    body = {
        "dup": [*t, t[0]],
        "kind": [*t, {"kind": "control", "id": rs[0].pk}],
        "many": [{"kind": "response", "id": i} for i in range(1, MAX_TARGETS + 2)],
        "empty": [],
    }[targets]
    resp = _post(personas.client(personas.auditor), {"decision": "accepted", "targets": body})
    assert resp.status_code == 400, resp.content
    errors = resp.json()
    assert "targets" in str(errors) and needle in str(errors), errors
    assert not Review.objects.exists()


def test_api_bulk_is_all_or_nothing_when_one_target_is_stale(personas):
    rs = _answered(personas)
    c = personas.client(personas.auditor)
    targets = [{"kind": "response", "id": r.pk, "version": r.version} for r in rs]
    targets[2]["version"] = rs[2].version - 1  # the page showed an older answer
    resp = _post(c, {"decision": "accepted", "targets": targets})
    assert resp.status_code == 409
    assert "Target 3" in resp.json()["detail"]
    assert not Review.objects.exists()


def test_api_bulk_reject_needs_a_comment(personas):
    rs = _answered(personas, n=1)
    resp = _post(
        personas.client(personas.auditor),
        {"decision": "rejected", "targets": [{"kind": "response", "id": rs[0].pk}]},
    )
    assert resp.status_code == 400
    assert "comment" in resp.json()
    assert not Review.objects.exists()


@pytest.mark.parametrize("who", ["risk_owner", "manager", "admin"])
def test_api_bulk_is_for_auditors_only(personas, who):
    rs = _answered(personas, n=1)
    resp = _post(
        personas.client(getattr(personas, who)),
        {"decision": "accepted", "targets": [{"kind": "response", "id": rs[0].pk}]},
    )
    assert resp.status_code == 403
    assert not Review.objects.exists()


# --- Stale pages and double clicks ------------------------------------------------------------


def test_api_single_review_on_an_older_version_is_409(personas):
    r = _answered(personas, n=1)[0]
    c = personas.client(personas.auditor)
    resp = c.post(
        "/api/v1/reviews/",
        {"response": r.pk, "decision": "accepted", "version": r.version - 1},
        content_type="application/json",
    )
    assert resp.status_code == 409
    assert "saved again" in resp.json()["detail"]
    ok = c.post(
        "/api/v1/reviews/",
        {"response": r.pk, "decision": "accepted", "version": r.version},
        content_type="application/json",
    )
    assert ok.status_code == 201


def _form(r, **extra):
    return {
        "target_type": "response",
        "target_id": r.pk,
        "decision": "rejected",
        "comment": "Add the signed policy.",
        "version": r.version,
        "seen_review": 0,
        **extra,
    }


def test_a_decision_from_a_page_older_than_the_answer_is_a_form_error_next_to_its_row(personas):
    r = _answered(personas, n=1)[0]
    page_version = r.version
    response_save(
        response=r,
        expected_version=r.version,
        actor=personas.risk_owner,
        status=ResponseStatus.PARTIAL,
        justification="Changed meanwhile.",
    )
    c = personas.client(personas.auditor)
    resp = c.post(reverse("review_create"), _form(r, version=page_version))
    assert resp.status_code == 409
    html = resp.content.decode()
    row = html[html.index(f'id="row-response-{r.pk}"') :]
    row = row[: row.index("</tr>")]
    assert "saved again after you opened the page" in row
    assert 'role="alert"' in row
    assert "Add the signed policy." in row  # what the auditor typed is kept
    assert not Review.objects.exists()


def test_a_double_click_records_one_decision(personas):
    r = _answered(personas, n=1)[0]
    c = personas.client(personas.auditor)
    first = c.post(reverse("review_create"), _form(r))
    second = c.post(reverse("review_create"), _form(r))  # the same page, submitted again
    assert first.status_code == second.status_code == 302
    assert Review.objects.count() == 1
    assert AuditEvent.objects.filter(action="review.recorded").count() == 1


def test_another_decision_recorded_meanwhile_makes_the_page_stale(personas):
    r = _answered(personas, n=1)[0]
    services.review_create(reviewer=personas.auditor, decision="accepted", comment="", response=r)
    c = personas.client(personas.auditor)
    resp = c.post(reverse("review_create"), _form(r, seen_review=0))
    assert resp.status_code == 409
    assert "recorded a decision on this answer after you opened the page" in resp.content.decode()
    assert Review.objects.count() == 1


def test_evidence_with_a_new_revision_refuses_a_decision_on_the_old_one(personas):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from evidence.services import evidence_add_revision

    item = evidence_create(
        team=personas.team,
        actor=personas.risk_owner,
        kind="file",
        title="Card",
        uploaded_file=SimpleUploadedFile("a.pdf", b"%PDF-1.4\n%%EOF\n"),
    )
    old = item.latest_revision_id
    evidence_add_revision(
        item=item,
        actor=personas.risk_owner,
        uploaded_file=SimpleUploadedFile("b.pdf", b"%PDF-1.4\n1\n%%EOF\n"),
    )
    resp = personas.client(personas.auditor).post(
        "/api/v1/reviews/",
        {"evidence": item.pk, "decision": "accepted", "version": old},
        content_type="application/json",
    )
    assert resp.status_code == 409
    assert "new revision" in resp.json()["detail"]
    assert not Review.objects.exists()


# --- Bulk from the queue page ---------------------------------------------------------------


def test_queue_accepts_the_selected_rows_and_all_rows_of_the_page(personas):
    rs = _answered(personas)
    c = personas.client(personas.auditor)
    page = c.get(reverse("review_queue")).content.decode()
    boxes = [f"response:{r.pk}:{r.version}:0" for r in rs]
    for b in boxes:
        assert f'value="{b}"' in page
    resp = c.post(
        reverse("review_bulk"),
        {"target": boxes[:2], "scope": "selected", "bulk_comment": "Fine.", "next": "/reviews/"},
    )
    assert resp.status_code == 302
    assert Review.objects.filter(comment="Fine.").count() == 2
    # The rest of the page, with the versions the page showed.
    page = c.get(reverse("review_queue"), {"decision": "pending"}).content.decode()
    assert f'name="page_target" value="{boxes[2]}"' in page
    resp = c.post(reverse("review_bulk"), {"page_target": [boxes[2]], "scope": "page"})
    assert resp.status_code == 302
    assert Review.objects.count() == 3


def test_queue_bulk_with_nothing_selected_says_so(personas):
    _answered(personas, n=1)
    resp = personas.client(personas.auditor).post(reverse("review_bulk"), {"scope": "selected"})
    assert resp.status_code == 400
    assert "Choose at least one" in resp.content.decode()
    assert not Review.objects.exists()


def test_queue_bulk_refuses_another_teams_target(personas):
    theirs = _answered(personas, team=personas.other_team, actor=personas.stranger, n=1)[0]
    mine = _answered(personas, n=1)[0]
    resp = personas.client(personas.auditor).post(
        reverse("review_bulk"),
        {"target": [f"response:{mine.pk}::", f"response:{theirs.pk}::"], "scope": "selected"},
    )
    assert resp.status_code == 404
    assert not Review.objects.exists()


def test_queue_bulk_refuses_garbled_targets(personas):
    r = _answered(personas, n=1)[0]
    for bad in (f"response:{r.pk}", "response:x::", f"response:{r.pk}:v:0", "::"):
        resp = personas.client(personas.auditor).post(
            reverse("review_bulk"), {"target": [bad], "scope": "selected"}
        )
        assert resp.status_code == 400, bad
    assert not Review.objects.exists()
