"""The questionnaire and the other HTML pages of assessments: saving, conflicts, locking, roles,
assignment, copying, comparing, and query counts at two data sizes."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from aigsec.audit.models import AuditEvent
from assessments import services
from assessments.models import AISystem, Assessment, Response
from evidence.services import evidence_create
from tests.factories import AISystemFactory, make_assessment, make_final, make_framework_version

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def assessment(personas):
    return make_assessment(
        team=personas.team, actor=personas.risk_owner, version=make_framework_version(2, 2, 2)
    )


def _first(a: Assessment) -> Response:
    return a.responses.order_by("control__order").first()


def _post(client, r: Response, **data):
    payload = {
        "version": r.version,
        "status": "full",
        "justification": "",
        "owner": "",
        "due_date": "",
    }
    payload.update(data)
    return client.post(reverse("response_edit", args=[r.pk]), payload, **HX)


def test_saving_an_answer_updates_it_and_the_progress_without_reload(personas, assessment):
    r = _first(assessment)
    resp = _post(personas.client(personas.risk_owner), r, status="largely")
    assert resp.status_code == 200
    body = resp.content.decode()
    assert 'id="progress"' in body and 'hx-swap-oob="true"' in body
    assert "13% answered" in body  # 1 of 8 controls
    r.refresh_from_db()
    assert (r.status, r.version) == ("largely", 2)
    ev = AuditEvent.objects.filter(action="response.answered").latest("seq")
    assert ev.data == {"control": r.control.ref, "old": "not_started", "new": "largely"}
    assessment.refresh_from_db()
    assert assessment.status == "in_progress"  # the first answer starts the assessment


def test_second_writer_gets_a_conflict_showing_the_other_answer(personas, assessment):
    r = _first(assessment)
    alice = personas.client(personas.risk_owner)
    bob = personas.client(personas.admin)
    assert _post(alice, r, status="partial", justification="Alice's reason").status_code == 200
    resp = _post(bob, r, status="full", justification="Bob's view")  # still version 1
    assert resp.status_code == 409
    body = resp.content.decode()
    assert "someone else changed this answer" in body
    assert "Alice&#x27;s reason" in body and "Partially implemented" in body
    assert "Bob&#x27;s view" in body  # Bob's own input is kept in the form
    r.refresh_from_db()
    assert (r.status, r.justification, r.version) == ("partial", "Alice's reason", 2)


@pytest.mark.parametrize("status", ["not_applicable", "partial"])
def test_justification_is_required_for_na_and_partial(personas, assessment, status):
    r = _first(assessment)
    resp = _post(personas.client(personas.risk_owner), r, status=status, justification="  ")
    assert resp.status_code == 400
    assert "justification is required" in resp.content.decode()
    r.refresh_from_db()
    assert (r.status, r.version) == ("not_started", 1)


def test_unknown_status_and_bad_owner_are_refused(personas, assessment):
    r = _first(assessment)
    c = personas.client(personas.risk_owner)
    assert _post(c, r, status="perfect").status_code == 400
    assert _post(c, r, owner=str(personas.auditor.pk)).status_code == 400  # not a risk owner
    r.refresh_from_db()
    assert (r.status, r.owner_id, r.version) == ("not_started", None, 1)


def test_final_assessment_is_locked(personas, assessment):
    c = personas.client(personas.manager)
    # The status form no longer leads to final: only a sign-off does.
    for status in ("in_progress", "in_review", "final"):
        resp = c.post(reverse("assessment_status", args=[assessment.pk]), {"status": status})
        assert resp.status_code == 302
    assessment.refresh_from_db()
    assert assessment.status == "in_review" and assessment.finalised_at is None
    services.assessment_set_status(
        assessment=assessment, status="in_progress", actor=personas.manager
    )
    assessment = make_final(assessment, personas)
    assert assessment.status == "final" and assessment.finalised_at is not None
    assert AuditEvent.objects.filter(
        action="assessment.locked", target=f"assessment:{assessment.pk}"
    ).exists()
    r = _first(assessment)
    resp = _post(personas.client(personas.risk_owner), r, status="not_implemented")
    assert resp.status_code == 409 and "locked" in resp.content.decode()
    r.refresh_from_db()
    assert r.status == "full"
    page = personas.client(personas.risk_owner).get(
        reverse("questionnaire", args=[assessment.pk, "1"]), {"open": "all"}
    )
    assert b"read-only" in page.content and b'hx-post="' not in page.content
    # No way back out of final.
    c.post(reverse("assessment_status", args=[assessment.pk]), {"status": "in_review"})
    assessment.refresh_from_db()
    assert assessment.status == "final"


def test_invalid_transition_changes_nothing(personas, assessment):
    resp = personas.client(personas.manager).post(
        reverse("assessment_status", args=[assessment.pk]), {"status": "final"}, follow=True
    )
    assert "becomes final only by a sign-off" in resp.content.decode()
    assessment.refresh_from_db()
    assert assessment.status == "draft"


@pytest.mark.parametrize("who", ["auditor", "manager"])
def test_auditors_and_managers_cannot_answer(personas, assessment, who):
    r = _first(assessment)
    resp = _post(personas.client(getattr(personas, who)), r, status="full")
    assert resp.status_code == 403
    r.refresh_from_db()
    assert r.status == "not_started"
    page = personas.client(getattr(personas, who)).get(
        reverse("questionnaire", args=[assessment.pk, "1"]), {"open": "all"}
    )
    # No answer form (auditors may still comment, which is another form).
    answer_url = reverse("response_edit", args=[r.pk])
    assert page.status_code == 200 and f'hx-post="{answer_url}"'.encode() not in page.content


def test_assign_a_whole_guideline(personas, assessment):
    g = _first(assessment).control.guideline
    due = timezone.localdate() + dt.timedelta(days=10)
    resp = personas.client(personas.risk_owner).post(
        reverse("guideline_assign", args=[assessment.pk, g.pk]),
        {"owner": personas.risk_owner.pk, "due_date": due.isoformat()},
    )
    assert resp.status_code == 302
    rows = assessment.responses.filter(control__guideline=g)
    assert rows.count() == 2
    assert all(r.owner_id == personas.risk_owner.pk and r.due_date == due for r in rows)
    # The date input shows the stored date (type=date needs ISO, not the locale's format).
    page = personas.client(personas.risk_owner).get(
        reverse("questionnaire", args=[assessment.pk, "1"]), {"open": "all"}
    )
    assert f'value="{due.isoformat()}"' in page.content.decode()
    assert (
        assessment.responses.exclude(control__guideline=g).filter(owner__isnull=False).count() == 0
    )
    assert AuditEvent.objects.filter(action="response.owner_assigned").exists()


def test_my_work_lists_assignments_overdue_first_across_teams(personas, assessment):
    today = timezone.localdate()
    rows = list(assessment.responses.order_by("control__order"))
    services.response_save(
        response=rows[0],
        expected_version=1,
        actor=personas.admin,
        status="not_started",
        justification="",
        owner=personas.risk_owner,
        due_date=today + dt.timedelta(days=5),
    )
    services.response_save(
        response=rows[1],
        expected_version=1,
        actor=personas.admin,
        status="not_started",
        justification="",
        owner=personas.risk_owner,
        due_date=today - dt.timedelta(days=3),
    )
    resp = personas.client(personas.risk_owner).get(reverse("my_work"))
    body = resp.content.decode()
    assert resp.status_code == 200 and "1 overdue" in body
    assert body.index(rows[1].control.title) < body.index(rows[0].control.title)
    # The auditor has nothing assigned.
    assert (
        "Nothing is assigned"
        in personas.client(personas.auditor).get(reverse("my_work")).content.decode()
    )


def test_ai_system_create_edit_archive(personas):
    c = personas.client(personas.risk_owner)
    data = {
        "name": "Fraud model",
        "description": "",
        "business_owner": "CFO",
        "criticality": "high",
        "model_source": "in_house",
        "deployment": "DC1",
        "status": "production",
    }
    assert c.post(reverse("ai_system_create"), data).status_code == 302
    system = AISystem.objects.get(name="Fraud model", team=personas.team)
    dup = c.post(reverse("ai_system_create"), {**data, "name": "fraud MODEL"})
    assert dup.status_code == 400 and b"already has an AI system" in dup.content
    bad = c.post(reverse("ai_system_create"), {**data, "name": "X", "model_source": "magic"})
    assert bad.status_code == 400
    assert AISystem.objects.filter(team=personas.team).count() == 1
    c.post(reverse("ai_system_edit", args=[system.pk]), {**data, "deployment": "DC2"})
    c.post(reverse("ai_system_archive", args=[system.pk]))
    system.refresh_from_db()
    assert (system.deployment, system.status) == ("DC2", "archived")
    actions = set(
        AuditEvent.objects.filter(target=f"aisystem:{system.pk}").values_list("action", flat=True)
    )
    assert actions == {"ai_system.created", "ai_system.updated", "ai_system.archived"}
    assert (
        personas.client(personas.auditor)
        .post(reverse("ai_system_create"), {**data, "name": "Y"})
        .status_code
        == 403
    )


def test_new_assessment_from_an_earlier_one_copies_answers_and_compare_shows_changes(
    personas, assessment
):
    r = _first(assessment)
    services.response_save(
        response=r,
        expected_version=1,
        actor=personas.risk_owner,
        status="partial",
        justification="half way",
    )
    note = evidence_create(
        team=personas.team,
        actor=personas.risk_owner,
        kind="note",
        title="Training register",
        note="See HR system",
        responses=[r],
    )
    c = personas.client(personas.risk_owner)
    resp = c.post(
        reverse("assessment_create", args=[assessment.ai_system_id]),
        {
            "title": "Second",
            "framework_version": assessment.framework_version_id,
            "based_on": assessment.pk,
        },
    )
    assert resp.status_code == 302
    second = Assessment.objects.get(title="Second")
    copied = second.responses.get(control=r.control)
    assert (copied.status, copied.justification) == ("partial", "half way")
    assert list(copied.evidence_links.values_list("item_id", flat=True)) == [note.pk]
    assert second.responses.exclude(pk=copied.pk).filter(evidence_links__isnull=False).count() == 0
    assert second.responses.count() == assessment.responses.count()
    services.response_save(
        response=copied,
        expected_version=copied.version,
        actor=personas.risk_owner,
        status="full",
        justification="done",
    )
    page = c.get(reverse("assessment_compare", args=[second.pk]), {"other": assessment.pk})
    assert page.status_code == 200
    assert "1 control changed" in page.content.decode()
    other_system = AISystemFactory(team=personas.team)
    foreign = make_assessment(
        ai_system=other_system, actor=personas.risk_owner, version=assessment.framework_version
    )
    assert (
        c.get(reverse("assessment_compare", args=[second.pk]), {"other": foreign.pk}).status_code
        == 400
    )


# --- Query counts: the same at two data sizes --------------------------------------------


def _count(client, url) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


def _systems_with_assessments(personas, n: int, version) -> list[Assessment]:
    out = []
    for _ in range(n):
        a = make_assessment(team=personas.team, actor=personas.risk_owner, version=version)
        for r in a.responses.all()[:3]:
            services.response_save(
                response=r,
                expected_version=r.version,
                actor=personas.risk_owner,
                status="largely",
                justification="",
                owner=personas.risk_owner,
                due_date=timezone.localdate() - dt.timedelta(days=1),
            )
        out.append(a)
    return out


def test_dashboard_and_my_work_query_counts_do_not_grow(personas):
    version = make_framework_version(2, 2, 3)
    c = personas.client(personas.risk_owner)
    _systems_with_assessments(personas, 1, version)
    # Dashboard: session, user, membership (x2: middleware + door); on the first visit after
    # a change also systems + latest id, latest assessments, tallies, overdue counts and the
    # evidence freshness (then the cards are cached under the team's data version); the
    # framework's pillars and guidelines are cached per process after the first request.
    # My work: the page is cached the same way (totals, rows and their decisions: 4 queries).
    pages = ("home", "my_work", "ai_system_list")
    for u in pages:
        c.get(reverse(u))
    small = {u: _count(c, reverse(u)) for u in pages}
    _systems_with_assessments(personas, 19, version)  # a change: the team's cache is stale
    large_cold = {u: _count(c, reverse(u)) for u in pages}
    large = {u: _count(c, reverse(u)) for u in pages}
    assert small == large, (small, large)
    assert large_cold == large | {"home": large["home"] + 5, "my_work": large["my_work"] + 4}
    assert small["home"] <= 4


def test_questionnaire_query_count_does_not_grow_with_controls(personas):
    c = personas.client(personas.risk_owner)
    small = make_assessment(
        team=personas.team, actor=personas.risk_owner, version=make_framework_version(2, 1, 1)
    )
    large = make_assessment(
        team=personas.team, actor=personas.risk_owner, version=make_framework_version(2, 5, 8)
    )
    for a in (small, large):
        for r in a.responses.all():
            services.response_save(
                response=r,
                expected_version=r.version,
                actor=personas.risk_owner,
                status="full",
                justification="",
                owner=personas.risk_owner,
            )
    # Session, user, membership, the door (assessment + roles), pillars, responses with
    # controls and owners, owner choices, evidence links, review decisions, comment threads,
    # the team's linkable evidence, tallies (with verification), pillars, guidelines.
    for a in (small, large):  # evidence on every control, one of them expired
        for r in a.responses.all():
            evidence_create(
                team=personas.team,
                actor=personas.risk_owner,
                kind="note",
                title=f"Note {r.pk}",
                note="n",
                responses=[r],
                collected_on=timezone.localdate() - dt.timedelta(days=400),
                valid_until=timezone.localdate() - dt.timedelta(days=1),
            )
    for opened in ("", "?open=all"):  # summaries (the default), and every control open
        n_small = _count(c, reverse("questionnaire", args=[small.pk, "1"]) + opened)
        n_large = _count(c, reverse("questionnaire", args=[large.pk, "1"]) + opened)
        assert n_small == n_large, opened
        assert n_small <= 15
    n_small = _count(c, reverse("assessment_detail", args=[small.pk]))
    n_large = _count(c, reverse("assessment_detail", args=[large.pk]))
    assert n_small == n_large


def test_controls_show_their_evidence_and_flag_when_all_of_it_expired(personas, assessment):
    rows = list(assessment.responses.order_by("control__order"))
    today = timezone.localdate()
    evidence_create(
        team=personas.team,
        actor=personas.risk_owner,
        kind="note",
        title="Old pen test",
        note="2019",
        responses=[rows[0]],
        collected_on=today - dt.timedelta(days=400),
        valid_until=today - dt.timedelta(days=1),
    )
    evidence_create(
        team=personas.team,
        actor=personas.risk_owner,
        kind="note",
        title="Fresh model card",
        note="v3",
        responses=[rows[1]],
        valid_until=today + dt.timedelta(days=10),
    )
    page = (
        personas.client(personas.auditor)
        .get(reverse("questionnaire", args=[assessment.pk, "1"]), {"open": "all"})
        .content.decode()
    )
    first = page[page.index(f'id="r{rows[0].pk}"') : page.index(f'id="r{rows[1].pk}"')]
    second = page[page.index(f'id="r{rows[1].pk}"') :]
    assert "Old pen test" in first and "all evidence expired" in first
    assert "Fresh model card" in second and "Expiring" in second
    assert "all evidence expired" not in second[: second.index("</article>")]
    # The summaries (nothing opened) say the same from counts, without the items.
    summaries = _articles(
        personas.client(personas.auditor)
        .get(reverse("questionnaire", args=[assessment.pk, "1"]))
        .content.decode()
    )
    assert "1 evidence" in summaries[rows[0].pk] and "all expired" in summaries[rows[0].pk]
    assert "1 evidence" in summaries[rows[1].pk] and "all expired" not in summaries[rows[1].pk]
    assert "Old pen test" not in summaries[rows[0].pk]


def test_auditor_reviews_a_control_from_the_questionnaire(personas, assessment):
    r = _first(assessment)
    services.response_save(
        response=r, expected_version=1, actor=personas.risk_owner, status="full", justification=""
    )
    url = r.get_absolute_url()  # the control, opened on its pillar page
    auditor = personas.client(personas.auditor)
    page = auditor.get(url).content.decode()
    assert "Review pending" in page and f"Your review of {r.control.ref}" in page
    assert "Your review of" not in personas.client(personas.risk_owner).get(url).content.decode()
    resp = auditor.post(
        reverse("review_create"),
        {
            "target_type": "response",
            "target_id": r.pk,
            "decision": "changes_requested",
            "comment": "Attach the training register",
            "next": url,
        },
    )
    assert resp.status_code == 302 and resp["Location"] == url
    owner_view = personas.client(personas.risk_owner).get(url).content.decode()
    assert "Review: changes requested" in owner_view
    assert "Attach the training register" in owner_view
    # Off-site "next" is ignored.
    resp = auditor.post(
        reverse("review_create"),
        {
            "target_type": "response",
            "target_id": r.pk,
            "decision": "accepted",
            "comment": "",
            "next": "https://evil.example/",
        },
    )
    assert resp["Location"] == reverse("review_queue")


def test_link_and_unlink_existing_evidence_from_the_control(personas, assessment):
    r = _first(assessment)
    item = evidence_create(
        team=personas.team,
        actor=personas.risk_owner,
        kind="note",
        title="Threat model v2",
        note="In the wiki",
    )
    url = reverse("response_evidence", args=[r.pk])
    c = personas.client(personas.risk_owner)
    page = c.get(r.get_absolute_url()).content.decode()
    # The picker is loaded per control when asked for (docs/benchmarks.md), with and without htmx.
    assert f'hx-get="{url}"' in page and "Threat model v2" not in page
    for headers in ({}, {"HTTP_HX_REQUEST": "true"}):
        picker = c.get(url, **headers).content.decode()
        assert f'<option value="{item.pk}">Threat model v2</option>' in picker
    resp = c.post(url, {"item": item.pk, "action": "link"})
    assert resp.status_code == 302 and resp["Location"].endswith(f"#r{r.pk}")
    assert list(r.evidence_links.values_list("item_id", flat=True)) == [item.pk]
    c.post(url, {"item": item.pk, "action": "unlink"})
    assert not r.evidence_links.exists()
    actions = list(
        AuditEvent.objects.filter(action__startswith="evidence.").values_list("action", flat=True)
    )
    assert actions[-2:] == ["evidence.linked", "evidence.unlinked"]
    # The auditor may not; another team's item is not found; a bad action changes nothing.
    assert (
        personas.client(personas.auditor).post(url, {"item": item.pk, "action": "link"}).status_code
        == 403
    )
    foreign = evidence_create(
        team=personas.other_team, actor=personas.stranger, kind="note", title="Theirs", note="x"
    )
    assert c.post(url, {"item": foreign.pk, "action": "link"}).status_code == 404
    c.post(url, {"item": item.pk, "action": "steal"})
    assert not r.evidence_links.exists()


def test_dashboard_shows_evidence_freshness_and_integrity_incidents(personas, assessment, settings):
    from pathlib import Path

    from django.core.files.base import ContentFile

    rows = list(assessment.responses.order_by("control__order"))
    today = timezone.localdate()
    evidence_create(
        team=personas.team,
        actor=personas.risk_owner,
        kind="note",
        title="Old",
        note="x",
        responses=rows[:2],
        collected_on=today - dt.timedelta(days=400),
        valid_until=today - dt.timedelta(days=1),
    )
    evidence_create(
        team=personas.team,
        actor=personas.risk_owner,
        kind="note",
        title="Soon",
        note="y",
        responses=[rows[2]],
        valid_until=today + dt.timedelta(days=5),
    )
    page = personas.client(personas.manager).get(reverse("home")).content.decode()
    assert "1 evidence expired" in page and "1 evidence expiring" in page
    assert "Integrity incidents" not in page
    item = evidence_create(
        team=personas.team,
        actor=personas.risk_owner,
        kind="file",
        title="Log",
        uploaded_file=ContentFile(b"a,b\n1,2\n", name="l.csv"),
    )
    rev = item.revisions.get()
    (Path(settings.MEDIA_ROOT) / rev.storage_name).write_bytes(b"a,b\n6,6\n")
    assert (
        personas.client(personas.admin)
        .get(reverse("evidence_download", args=[item.pk]))
        .status_code
        == 409
    )
    for who in ("admin", "auditor"):
        page = personas.client(getattr(personas, who)).get(reverse("home")).content.decode()
        assert "Integrity incidents" in page and f"evidenceitem:{item.pk}" in page
    assert (
        "Integrity incidents"
        not in personas.client(personas.manager).get(reverse("home")).content.decode()
    )


def _articles(page: str) -> dict[int, str]:
    """response id -> the HTML of its control on a pillar page."""
    out = {}
    for chunk in page.split('<article class="control')[1:]:
        rid = int(chunk.split('id="r', 1)[1].split('"', 1)[0])
        out[rid] = chunk.split("</article>", 1)[0]
    return out


def test_pillar_page_shows_summaries_and_opens_a_control_on_demand(personas, assessment):
    rows = list(assessment.responses.order_by("control__order"))
    first, second = rows[0], rows[1]
    services.response_save(
        response=first,
        expected_version=1,
        actor=personas.risk_owner,
        status="partial",
        justification="Half the pipelines",
        owner=personas.risk_owner,
    )
    evidence_create(
        team=personas.team,
        actor=personas.risk_owner,
        kind="note",
        title="Pipeline inventory",
        note="n",
        responses=[first],
    )
    c = personas.client(personas.risk_owner)
    url = reverse("questionnaire", args=[assessment.pk, "1"])
    summaries = _articles(c.get(url).content.decode())
    assert set(summaries) == {r.pk for r in rows if r.control.guideline.pillar.ref == "1"}
    s = summaries[first.pk]
    # The state is on the summary; the form, the evidence titles and the thread are not.
    assert "control-summary" in s and "Partially implemented" in s
    assert f"owner {personas.risk_owner.display_name}" in s and "1 evidence" in s
    assert "0 comments" in s and "Review pending" in s
    assert "Pipeline inventory" not in s and "<form" not in s
    edit = reverse("response_edit", args=[first.pk])
    assert f'hx-get="{edit}" hx-trigger="toggle once" hx-target="#r{first.pk}"' in s
    assert f'href="?open={first.pk}#r{first.pk}"' in s  # without JavaScript
    # Opened with htmx: the whole control, which replaces the summary.
    fragment = c.get(edit, **HX).content.decode()
    assert fragment.startswith(f'<article class="control" id="r{first.pk}"')
    assert "Pipeline inventory" in fragment and f'hx-post="{edit}"' in fragment
    # Opened on the page (links, redirects, no JavaScript): that control only.
    opened = _articles(c.get(url, {"open": first.pk}).content.decode())
    assert (
        "Pipeline inventory" in opened[first.pk]
        and 'value="Half the pipelines"' not in (opened[second.pk])
    )
    assert "control-summary" not in opened[first.pk] and "control-summary" in opened[second.pk]
    assert f'hx-post="{edit}"' in opened[first.pk]
    # All of them; ids that are not numbers, or of other controls, open nothing and break nothing.
    every = _articles(c.get(url, {"open": "all"}).content.decode())
    assert all("control-summary" not in html for html in every.values())
    for junk in ("x", "-1", "²", "9" * 40, str(rows[-1].pk + 1000)):
        resp = c.get(url, {"open": junk})
        assert resp.status_code == 200
        assert all("control-summary" in html for html in _articles(resp.content.decode()).values())


def test_review_from_an_opened_control_returns_to_the_pillar_page(personas, assessment):
    """A control opened by htmx is rendered at /responses/<id>/: its review form must send the
    auditor back to the pillar page, not to that fragment."""
    r = _first(assessment)
    services.response_save(
        response=r, expected_version=1, actor=personas.risk_owner, status="full", justification=""
    )
    auditor = personas.client(personas.auditor)
    fragment = auditor.get(reverse("response_edit", args=[r.pk]), **HX).content.decode()
    assert f'name="next" value="{r.get_absolute_url()}"' in fragment.replace("&amp;", "&")
    resp = auditor.post(
        reverse("review_create"),
        {
            "target_type": "response",
            "target_id": r.pk,
            "decision": "accepted",
            "comment": "",
            "next": r.get_absolute_url(),
        },
    )
    assert resp.status_code == 302 and resp["Location"] == r.get_absolute_url()


def test_dashboard_freshness_counts_follow_the_freshness_rule_at_its_edges(personas, assessment):
    """Counted in SQL, the dashboard's figures must agree with `freshness` day for day."""
    from evidence.models import EvidenceItem
    from evidence.selectors import EXPIRING_DAYS, evidence_freshness_by_assessment, freshness

    r = _first(assessment)
    today = timezone.localdate()
    ends = [today + dt.timedelta(days=d) for d in (-1, 0, 1, EXPIRING_DAYS, EXPIRING_DAYS + 1)]
    for i, end in enumerate([*ends, None]):
        evidence_create(
            team=personas.team,
            actor=personas.risk_owner,
            kind="note",
            title=f"E{i}",
            note="n",
            responses=[r],
            collected_on=today - dt.timedelta(days=400),
            valid_until=end,
        )
    stored = [i.valid_until for i in EvidenceItem.objects.filter(links__response=r)]
    expected = [freshness(end, today) for end in stored]
    assert len(stored) == 6
    counts = evidence_freshness_by_assessment([assessment.pk, assessment.pk + 10_000])
    assert counts[assessment.pk] == {
        "expired": expected.count("expired"),
        "expiring": expected.count("expiring"),
    }
    assert counts[assessment.pk]["expiring"] == 3  # today, tomorrow, the last day
    assert counts[assessment.pk + 10_000] == {"expired": 0, "expiring": 0}


@pytest.mark.parametrize("page", ["²", "x", "-2", "9" * 30])
def test_my_work_page_numbers_that_are_not_numbers_give_the_first_page(personas, page):
    resp = personas.client(personas.risk_owner).get(reverse("my_work"), {"page": page})
    assert resp.status_code == 200 and b"My work" in resp.content
