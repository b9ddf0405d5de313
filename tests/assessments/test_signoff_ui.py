"""Sign-off in the browser's pages (server side): the confirmation page lists what is signed
and, while anything blocks it, the same list as the API with each control a link; the
assessment page and the signed report show who signed off, when, and the statement."""

from __future__ import annotations

import io
import re

import pytest
from django.urls import reverse
from pypdf import PdfReader

from aigsec.accounts.models import Membership, Role
from assessments import services
from assessments.models import Assessment, SignOff
from reports.models import Report
from reports.services import report_run
from tests.factories import (
    STATEMENT,
    make_assessment,
    make_final,
    make_ready,
    make_report_world,
    submit,
)

pytestmark = pytest.mark.django_db


def url(a: Assessment) -> str:
    return reverse("assessment_sign_off", args=[a.pk])


@pytest.fixture
def assessment(personas):
    return make_assessment(team=personas.team, actor=personas.risk_owner, title="Q3 baseline")


@pytest.fixture
def ready(personas, assessment):
    """Complete and accepted, submitted for review by the risk owner: both approvers may sign."""
    return make_ready(
        assessment,
        risk_owner=personas.risk_owner,
        auditor=personas.auditor,
        submitter=personas.risk_owner,
    )


def test_the_confirmation_page_lists_what_is_signed(personas, ready):
    page = personas.client(personas.manager).get(url(ready))
    assert page.status_code == 200
    html = page.content.decode()
    for needle in (
        "Q3 baseline",
        ready.ai_system.name,
        str(ready.framework_version),
        "8 of 8 controls answered, 8 accepted by an auditor",
        "self-assessed 100.0%",
        f"by {personas.risk_owner.display_name}",
        'name="statement"',
        "Sign off and make final",
    ):
        assert needle in html, needle
    assert "Why it cannot be signed off yet" not in html


def test_blockers_are_listed_with_a_link_to_each_control(personas, assessment):
    submit(assessment, by=personas.risk_owner)
    r = assessment.responses.select_related("control__guideline__pillar").first()
    page = personas.client(personas.manager).get(url(assessment))
    html = page.content.decode()
    assert page.status_code == 200 and "Why it cannot be signed off yet (8)" in html
    assert f'<a href="{r.get_absolute_url()}">{r.control.ref}</a>: Not answered yet.' in html
    assert 'name="statement"' not in html  # nothing to sign yet
    # Posting anyway (a stale page): 409, the same list, nothing signed.
    resp = personas.client(personas.manager).post(url(assessment), {"statement": STATEMENT})
    assert resp.status_code == 409 and b"Not answered yet." in resp.content
    assessment.refresh_from_db()
    assert assessment.status == "in_review" and not SignOff.objects.exists()


def test_signing_off_shows_on_the_assessment_page(personas, ready):
    c = personas.client(personas.manager)
    resp = c.post(url(ready), {"statement": STATEMENT}, follow=True)
    html = resp.content.decode()
    assert resp.redirect_chain[-1][0] == reverse("assessment_detail", args=[ready.pk])
    assert "is signed off and final" in html
    assert f"By {personas.manager.display_name} (Manager)" in html and STATEMENT in html
    assert "cannot be reopened" in html
    correction = f"{reverse('assessment_create', args=[ready.ai_system_id])}?based_on={ready.pk}"
    assert correction in html
    assert 'name="status"' not in html  # no status change out of final
    # A double submit (or Back and submit again) signs once.
    again = c.post(url(ready), {"statement": STATEMENT}, follow=True)
    assert b"already signed off by you" in again.content
    assert SignOff.objects.count() == 1


@pytest.mark.parametrize("statement", ["", "   ", "x" * 2001])
def test_a_missing_or_long_statement_is_a_form_error(personas, ready, statement):
    resp = personas.client(personas.admin).post(url(ready), {"statement": statement})
    assert resp.status_code == 400
    assert b'class="field-error"' in resp.content
    ready.refresh_from_db()
    assert ready.status == "in_review" and not SignOff.objects.exists()


def test_the_submitter_sees_why_and_who_can_sign(personas, assessment):
    make_ready(
        assessment,
        risk_owner=personas.risk_owner,
        auditor=personas.auditor,
        submitter=personas.manager,
    )
    html = personas.client(personas.manager).get(url(assessment)).content.decode()
    assert "You submitted this assessment for review" in html
    assert f"Ask {personas.admin.display_name} to sign it off." in html


def test_a_single_manager_team_is_told_why_nobody_can_sign(personas, assessment):
    Membership.objects.filter(user=personas.admin).update(role=Role.RISK_OWNER)
    make_ready(
        assessment,
        risk_owner=personas.risk_owner,
        auditor=personas.auditor,
        submitter=personas.manager,
    )
    html = personas.client(personas.manager).get(url(assessment)).content.decode()
    assert "Nobody in this team can sign this assessment off." in html
    assert "Ask a team admin to add a second manager." in html


@pytest.mark.parametrize("persona", ["risk_owner", "auditor"])
def test_roles_without_approve_get_403(personas, ready, persona):
    c = personas.client(getattr(personas, persona))
    assert c.get(url(ready)).status_code == 403
    assert c.post(url(ready), {"statement": STATEMENT}).status_code == 403
    assert not SignOff.objects.exists()


def test_another_team_gets_404(personas, ready):
    c = personas.client(personas.stranger)
    assert c.get(url(ready)).status_code == 404
    assert c.post(url(ready), {"statement": STATEMENT}).status_code == 404


def test_the_assessment_page_offers_the_sign_off_to_approvers_only(personas, ready):
    detail = reverse("assessment_detail", args=[ready.pk])
    assert url(ready).encode() in personas.client(personas.manager).get(detail).content
    assert url(ready).encode() not in personas.client(personas.risk_owner).get(detail).content
    assert b'value="final"' not in personas.client(personas.manager).get(detail).content


def test_a_final_assessment_cannot_be_reopened_from_the_page(personas, ready):
    make_final(ready, personas)  # signed by the admin
    c = personas.client(personas.manager)
    resp = c.post(reverse("assessment_status", args=[ready.pk]), {"status": "in_review"})
    assert resp.status_code == 302
    ready.refresh_from_db()
    assert ready.status == "final"


def test_a_correction_starts_from_the_final_assessment(personas, ready):
    make_final(ready, personas)
    c = personas.client(personas.manager)
    create = reverse("assessment_create", args=[ready.ai_system_id])
    form = c.get(create, {"based_on": ready.pk}).content.decode()
    assert re.search(rf'<option value="{ready.pk}" selected>', form)
    resp = c.post(
        create,
        {"title": "Q3 corrected", "framework_version": ready.framework_version_id,
         "based_on": ready.pk},
    )  # fmt: skip
    assert resp.status_code == 302
    new = Assessment.objects.get(title="Q3 corrected")
    assert (new.based_on_id, new.status) == (ready.pk, "draft")
    assert set(new.responses.values_list("status", flat=True)) == {"full"}
    services.assessment_set_status(assessment=new, status="in_progress", actor=personas.manager)


# --- The signed report --------------------------------------------------------------------


def _pdf_text(personas, a: Assessment) -> str:
    report = Report.objects.create(team=personas.team, assessment=a, requested_by=personas.manager)
    report = report_run(report.pk)
    with report.file.open("rb") as fh:
        data = fh.read()
    return "\n".join(p.extract_text() or "" for p in PdfReader(io.BytesIO(data)).pages)


def test_the_report_shows_the_sign_off_and_names_people(personas):
    personas.manager.full_name = "Morgan Manager"
    personas.manager.save(update_fields=["full_name"])
    world = make_report_world(personas, bundled=False)
    a = make_final(world.assessment, personas)  # submitted by the manager, signed by the admin
    text = _pdf_text(personas, a)
    flat = "".join(text.split())
    so = SignOff.objects.get(assessment=a)
    for needle in (
        "FINAL",
        "Sign-off",
        f"{personas.admin.display_name}, Team admin",
        STATEMENT,
        "Submitted for review",
        "Morgan Manager",  # requested by, submitted by: names
        personas.risk_owner.display_name,  # owners
        personas.auditor.display_name,  # reviewers
        so.signed_at.strftime("%Y"),
    ):
        assert "".join(needle.split()) in flat, needle
    for person in (personas.manager, personas.admin, personas.risk_owner, personas.auditor):
        assert person.email not in text, person.email
    assert "user:" not in text


def test_due_dates_in_the_action_plan_do_not_wrap(personas):
    personas.risk_owner.full_name = "Maximiliana Featherstonehaugh-Worthington"
    personas.risk_owner.save(update_fields=["full_name"])
    world = make_report_world(personas, bundled=False)
    text = _pdf_text(personas, world.assessment)
    plan = text[text.rindex("Gaps and action plan") :]
    due = world.gap.due_date.isoformat()
    # On one line, whole: a date broken at a hyphen would be "2026-11-" and "30" apart.
    assert any(due in line for line in plan.splitlines()), plan[:600]


def test_the_demo_has_an_assessment_signed_off_by_a_second_person(monkeypatch):
    from django.core.management import call_command

    monkeypatch.setenv("DEMO_PASSWORD", "demo-passphrase-for-tests-42")
    call_command("load_framework", stdout=io.StringIO())
    call_command("seed_demo", stdout=io.StringIO())
    a = Assessment.objects.get(title="Invoice classifier — 2026 review")
    so = SignOff.objects.get(assessment=a)
    assert a.status == "final" and a.submitted_by.email == "risk2@demo.test"
    assert (so.signer.email, so.signer_role, so.signer_name) == (
        "manager@demo.test",
        "manager",
        "Morgan Manager",
    )
    call_command("seed_demo", stdout=io.StringIO())  # idempotent
    assert SignOff.objects.count() == 1
