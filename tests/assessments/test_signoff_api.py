"""Sign-off through the API: POST /api/v1/assessments/{id}/sign-off/ makes an assessment final
only when it is in review, complete and accepted, and signed by a second person (four eyes).
Every refusal is a 409 listing what blocks it, and changes nothing."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from aigsec.accounts.models import Membership, Role, User
from aigsec.audit.models import AuditEvent
from assessments import services
from assessments.models import Assessment, AssessmentStatus, Response, SignOff
from assessments.signoff import signoff_check
from evidence import services as e_services
from reviews.services import review_create
from tests.factories import (
    STATEMENT,
    MembershipFactory,
    UserFactory,
    accept_all,
    answer_all,
    make_assessment,
    make_framework_version,
    make_ready,
    submit,
)

pytestmark = pytest.mark.django_db
API = "/api/v1"


def client_for(user: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(user=User.objects.get(pk=user.pk))
    return client


def sign_off(user: User, a: Assessment, body=None):
    body = {"statement": STATEMENT} if body is None else body
    return client_for(user).post(f"{API}/assessments/{a.pk}/sign-off/", body, format="json")


@pytest.fixture
def assessment(personas):
    return make_assessment(team=personas.team, actor=personas.risk_owner)


@pytest.fixture
def ready(personas, assessment):
    """Answered and accepted throughout, submitted for review by the manager."""
    return make_ready(
        assessment,
        risk_owner=personas.risk_owner,
        auditor=personas.auditor,
        submitter=personas.manager,
    )


def state(a: Assessment) -> tuple:
    a.refresh_from_db()
    events = AuditEvent.objects.filter(action="assessment.signed_off").count()
    return a.status, a.finalised_at, SignOff.objects.filter(assessment=a).count(), events


def blocked(resp) -> list[dict]:
    assert resp.status_code == 409, resp.content
    body = resp.json()
    assert body["detail"] and isinstance(body["blocking"], list) and body["blocking"]
    return body["blocking"]


def codes(resp) -> set[str]:
    return {b["code"] for b in blocked(resp)}


# --- Signing off --------------------------------------------------------------------------


def test_a_second_person_signs_off_a_complete_reviewed_assessment(personas, ready):
    resp = sign_off(personas.admin, ready)
    assert resp.status_code == 200, resp.content
    body = resp.json()
    assert body["status"] == "final" and body["locked"] is True and body["finalised_at"]
    assert body["submitted_by"] == personas.manager.display_name
    so = body["sign_off"]
    assert so["signer"] == personas.admin.pk
    assert so["signer_name"] == personas.admin.display_name
    assert (so["signer_role"], so["statement"]) == ("admin", STATEMENT)
    # The detail shows the same, to every member.
    detail = client_for(personas.auditor).get(f"{API}/assessments/{ready.pk}/").json()
    assert detail["sign_off"] == so and detail["status"] == "final"
    event = AuditEvent.objects.get(action="assessment.signed_off")
    assert event.actor == personas.admin.pk and event.target == f"assessment:{ready.pk}"
    assert event.data["statement"] == STATEMENT and event.data["role"] == "admin"
    assert event.data["submitted_by"] == personas.manager.pk
    assert AuditEvent.objects.filter(action="assessment.locked").count() == 1


def test_a_manager_signs_off_what_the_admin_submitted(personas, assessment):
    make_ready(
        assessment,
        risk_owner=personas.risk_owner,
        auditor=personas.auditor,
        submitter=personas.admin,
    )
    resp = sign_off(personas.manager, assessment, {"statement": "  Approved for release.  "})
    assert resp.status_code == 200, resp.content
    so = SignOff.objects.get(assessment=assessment)
    assert (so.signer_role, so.signer_name, so.statement) == (
        "manager",
        personas.manager.display_name,
        "Approved for release.",
    )


def test_a_signed_off_assessment_cannot_be_reopened(personas, ready):
    assert sign_off(personas.admin, ready).status_code == 200
    url = f"{API}/assessments/{ready.pk}/status/"
    for step in ("in_review", "in_progress", "draft"):
        r = client_for(personas.manager).post(url, {"status": step}, format="json")
        assert r.status_code == 409 and "final and locked" in r.json()["detail"]
    # Signing again (another person, another statement) is refused too.
    assert "final" in codes(sign_off(personas.manager, ready, {"statement": "Again."}))
    assert state(ready)[0] == "final"


def test_a_correction_starts_from_the_final_assessment(personas, ready):
    assert sign_off(personas.admin, ready).status_code == 200
    r = client_for(personas.manager).post(
        f"{API}/assessments/",
        {
            "ai_system": ready.ai_system_id,
            "framework_version": ready.framework_version_id,
            "based_on": ready.pk,
            "title": "Correction",
        },
        format="json",
    )
    assert r.status_code == 201, r.content
    new = Assessment.objects.get(pk=r.json()["id"])
    assert (new.status, new.based_on_id, new.is_locked) == ("draft", ready.pk, False)
    assert set(new.responses.values_list("status", flat=True)) == {"full"}


# --- What blocks a sign-off -----------------------------------------------------------------


def test_not_in_review_is_blocked(personas, assessment):
    answer_all(assessment, by=personas.risk_owner)
    accept_all(assessment, auditor=personas.auditor)
    before = state(assessment)
    items = blocked(sign_off(personas.admin, assessment))
    assert items == [
        {
            "control": None,
            "code": "status",
            "reason": "The assessment is in progress: submit it for review (status “In "
            "review”) first.",
        }
    ]
    assert state(assessment) == before


def test_unanswered_controls_are_listed_each_with_its_control(personas, assessment):
    submit(assessment, by=personas.manager)
    items = blocked(sign_off(personas.admin, assessment))
    responses = list(assessment.responses.select_related("control").order_by("control__order"))
    assert [(b["control"], b["response"], b["code"]) for b in items] == [
        (r.control.ref, r.pk, "not_answered") for r in responses
    ]
    assert state(assessment)[0] == "in_review" and state(assessment)[2:] == (0, 0)


@pytest.mark.parametrize(
    ("decision", "code"),
    [
        (None, "answer_pending"),
        ("rejected", "answer_rejected"),
        ("changes_requested", "answer_changes_requested"),
    ],
)
def test_an_answer_not_accepted_blocks(personas, assessment, decision, code):
    answer_all(assessment, by=personas.risk_owner)
    accept_all(assessment, auditor=personas.auditor)
    r = assessment.responses.select_related("control").order_by("control__order").last()
    if decision is None:  # accepted, then changed: the acceptance is void (pending again)
        services.response_save(
            response=r,
            expected_version=r.version,
            actor=personas.risk_owner,
            status="largely",
            justification="Mostly.",
        )
    else:
        review_create(
            reviewer=personas.auditor, decision=decision, comment="Show the log.", response=r
        )
    submit(assessment, by=personas.manager)
    items = blocked(sign_off(personas.admin, assessment))
    assert [(b["control"], b["response"], b["code"]) for b in items] == [
        (r.control.ref, r.pk, code)
    ]
    if decision:
        assert "Show the log." in items[0]["reason"]
    assert state(assessment)[0] == "in_review"


@pytest.mark.parametrize(
    ("decision", "code"),
    [
        (None, "evidence_pending"),
        ("rejected", "evidence_rejected"),
        ("changes_requested", "evidence_changes_requested"),
    ],
)
def test_linked_evidence_not_accepted_blocks(personas, assessment, decision, code):
    answer_all(assessment, by=personas.risk_owner)
    accept_all(assessment, auditor=personas.auditor)
    r = assessment.responses.select_related("control").order_by("control__order").first()
    item = e_services.evidence_create(
        team=personas.team,
        actor=personas.risk_owner,
        kind="note",
        title="Pen test summary",
        note="See the report.",
        responses=[r],
    )
    if decision:
        review_create(
            reviewer=personas.auditor, decision=decision, comment="Undated.", evidence=item
        )
    submit(assessment, by=personas.manager)
    items = blocked(sign_off(personas.admin, assessment))
    assert [(b["control"], b["evidence"], b["code"]) for b in items] == [
        (r.control.ref, item.pk, code)
    ]
    assert "Pen test summary" in items[0]["reason"]
    # Withdrawn evidence no longer counts: it cannot be reviewed, and no longer supports it.
    e_services.evidence_withdraw(item=item, actor=personas.admin, reason="Superseded.")
    assert sign_off(personas.admin, assessment).status_code == 200


# --- Four eyes ------------------------------------------------------------------------------


def test_the_submitter_may_not_approve(personas, ready):
    before = state(ready)
    items = blocked(sign_off(personas.manager, ready))
    assert [b["code"] for b in items] == ["submitter"]
    assert "four eyes" in items[0]["reason"]
    assert personas.admin.display_name in items[0]["reason"]  # who can sign instead
    assert state(ready) == before


def test_the_owner_of_an_answer_may_not_approve(personas, assessment):
    r = assessment.responses.order_by("control__order").first()
    services.response_save(
        response=r,
        expected_version=r.version,
        actor=personas.admin,
        status="full",
        justification="Mine.",
        owner=personas.admin,
    )
    make_ready(
        assessment,
        risk_owner=personas.risk_owner,
        auditor=personas.auditor,
        submitter=personas.risk_owner,
    )
    items = blocked(sign_off(personas.admin, assessment))
    assert [b["code"] for b in items] == ["response_owner"]
    assert "You own 1 of its answers" in items[0]["reason"]
    # The manager owns none and did not submit it: the manager may.
    assert sign_off(personas.manager, assessment).status_code == 200


def test_a_team_whose_only_approver_submitted_is_told_nobody_can_sign(personas, assessment):
    # The team's admin becomes a risk owner: one manager is left to approve.
    Membership.objects.filter(user=personas.admin, team=personas.team).update(role=Role.RISK_OWNER)
    MembershipFactory(team=personas.team, role=Role.ADMIN, user=UserFactory())  # owns answers
    admin2 = Membership.objects.filter(team=personas.team, role=Role.ADMIN).get().user
    r = assessment.responses.order_by("control__order").first()
    services.response_save(
        response=r,
        expected_version=r.version,
        actor=admin2,
        status="full",
        justification="Mine.",
        owner=admin2,
    )
    make_ready(
        assessment,
        risk_owner=personas.risk_owner,
        auditor=personas.auditor,
        submitter=personas.manager,
    )
    items = blocked(sign_off(personas.manager, assessment))
    assert [b["code"] for b in items] == ["submitter", "no_approver"]
    message = items[1]["reason"]
    assert message.startswith("Nobody in this team can sign this assessment off.")
    assert personas.manager.display_name in message and "second manager" in message
    assert state(assessment)[0] == "in_review"


# --- Roles, input, double submit ------------------------------------------------------------


@pytest.mark.parametrize(("persona", "code"), [("risk_owner", 403), ("auditor", 403)])
def test_roles_without_approve_are_refused(personas, ready, persona, code):
    before = state(ready)
    resp = sign_off(getattr(personas, persona), ready)
    assert resp.status_code == code
    assert state(ready) == before
    assert AuditEvent.objects.filter(action="access.denied", target=f"assessment:{ready.pk}")


def test_another_team_gets_404(personas, ready):
    before = state(ready)
    assert sign_off(personas.stranger, ready).status_code == 404
    assert sign_off(personas.stranger, ready, {}).status_code == 404  # before the body
    assert state(ready) == before


@pytest.mark.parametrize(
    "body",
    [{}, {"statement": ""}, {"statement": "   \n "}, {"statement": "x" * 2001}, {"statement": 7}],
)
def test_the_statement_is_required_and_bounded(personas, ready, body):
    before = state(ready)
    resp = sign_off(personas.admin, ready, body)
    if body.get("statement") == 7:  # a number is taken as its text by DRF: that signs
        assert resp.status_code == 200
        return
    assert resp.status_code == 400, resp.content
    assert "statement" in resp.json()
    assert state(ready) == before


def test_a_body_that_is_not_an_object_is_400(personas, ready):
    resp = sign_off(personas.admin, ready, ["statement"])
    assert resp.status_code == 400 and state(ready)[0] == "in_review"


def test_2000_characters_are_accepted(personas, ready):
    assert sign_off(personas.admin, ready, {"statement": "y" * 2000}).status_code == 200
    assert len(SignOff.objects.get(assessment=ready).statement) == 2000


def test_a_double_submit_signs_once(personas, ready):
    first = sign_off(personas.admin, ready)
    second = sign_off(personas.admin, ready)
    assert (first.status_code, second.status_code) == (200, 200)
    assert first.json()["sign_off"] == second.json()["sign_off"]
    assert state(ready)[2:] == (1, 1)


# --- The rule's cost, and the database's own guard ------------------------------------------


def _ready_of_size(personas, n: int) -> Assessment:
    a = make_assessment(
        team=personas.team, actor=personas.risk_owner, version=make_framework_version(n, n, n)
    )
    r = a.responses.order_by("control__order").first()
    e_services.evidence_create(
        team=personas.team,
        actor=personas.risk_owner,
        kind="note",
        title=f"Note {n}",
        note="Seen.",
        responses=[r],
    )
    answer_all(a, by=personas.risk_owner)
    return submit(a, by=personas.manager)


def test_the_check_costs_the_same_queries_for_8_or_27_controls(personas):
    counts = []
    for n in (2, 3):
        a = _ready_of_size(personas, n)
        approver = User.objects.get(pk=personas.admin.pk)
        with CaptureQueriesContext(connection) as ctx:
            check = signoff_check(a, approver)
        assert check.controls == n**3 and len(check.blockers) == n**3 + 1  # answers + note
        counts.append(len(ctx))
    # responses, approvers, answer decisions, evidence links, evidence decisions
    assert counts == [5, 5]


def test_the_database_refuses_a_second_or_an_invalid_sign_off(personas, ready):
    assert sign_off(personas.admin, ready).status_code == 200
    base = {
        "signer": personas.manager,
        "signer_name": "M",
        "signer_email": "m@x.test",
        "signer_role": "manager",
        "statement": "Ok.",
        "signed_at": timezone.now(),
    }
    other = make_assessment(team=personas.team, actor=personas.risk_owner)
    for assessment, changes in [
        (ready, {}),  # one per assessment
        (other, {"statement": ""}),
        (other, {"statement": "z" * 2001}),
        (other, {"signer_role": "auditor"}),
        (other, {"signer_name": ""}),
    ]:
        with pytest.raises(IntegrityError), transaction.atomic():
            SignOff.objects.create(assessment=assessment, **{**base, **changes})
    assert SignOff.objects.count() == 1


def test_the_status_change_refuses_final(personas, ready):
    with pytest.raises(Exception, match="only by a sign-off"):
        services.assessment_set_status(
            assessment=ready, status=AssessmentStatus.FINAL, actor=personas.admin
        )
    assert Response.objects.filter(assessment=ready).count() == 8
    assert state(ready)[0] == "in_review"


@pytest.mark.django_db(transaction=True)
def test_two_simultaneous_submits_sign_once(personas):
    import threading

    from django.db import close_old_connections

    from assessments.signoff import assessment_sign_off

    a = make_ready(
        make_assessment(team=personas.team, actor=personas.risk_owner),
        risk_owner=personas.risk_owner,
        auditor=personas.auditor,
        submitter=personas.manager,
    )
    barrier, results, errors = threading.Barrier(2), [], []

    def submit_once() -> None:
        try:
            barrier.wait(5)
            admin = User.objects.get(pk=personas.admin.pk)
            results.append(assessment_sign_off(assessment=a, actor=admin, statement=STATEMENT))
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            close_old_connections()

    threads = [threading.Thread(target=submit_once) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert not errors, errors
    assert sorted(created for _so, created in results) == [False, True]
    assert results[0][0].pk == results[1][0].pk
    assert state(a)[2:] == (1, 1)
