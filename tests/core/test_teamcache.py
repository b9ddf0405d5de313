"""The page cache (aigsec/core/teamcache.py): values and page fragments reused while nothing
changed, recomputed after any write service changed the team's data, never stale after a
commit; reads, downloads and refused requests leave it alone."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.cache import caches
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from aigsec.audit.services import audit_record
from aigsec.core import teamcache
from assessments import scoring, services
from tests.factories import make_assessment, make_framework_version

pytestmark = pytest.mark.django_db


def _answer(personas, r, status: str, justification: str):
    """The risk owner saves an answer through the service (which audits it in the team)."""
    return services.response_save(
        response=r,
        expected_version=r.version,
        actor=personas.risk_owner,
        status=status,
        justification=justification,
    )


def _compute_counter():
    calls: list[list[int]] = []

    def compute(ids: list[int]) -> dict[int, str]:
        calls.append(sorted(ids))
        return {i: f"value-{i}-{len(calls)}" for i in ids}

    return compute, calls


def test_values_are_reused_until_the_team_changes(personas):
    compute, calls = _compute_counter()
    team, other = personas.team.pk, personas.other_team.pk
    objs = {1: team, 2: other}
    first = teamcache.cached_per_object("t", objs, compute)
    assert teamcache.cached_per_object("t", objs, compute) == first
    assert calls == [[1, 2]]
    # A change in one team recomputes only that team's objects.
    teamcache.team_changed(team)
    again = teamcache.cached_per_object("t", objs, compute)
    assert calls == [[1, 2], [1]]
    assert again[2] == first[2] and again[1] != first[1]


def test_audit_events_alone_change_nothing(personas):
    """The audit writer is the lowest layer: it does not reach up into the page cache."""
    compute, calls = _compute_counter()
    teamcache.cached_per_object("t", {1: personas.team.pk}, compute)
    audit_record("test.global", actor=personas.manager)
    audit_record("test.read", actor=personas.manager, team=personas.team)
    teamcache.cached_per_object("t", {1: personas.team.pk}, compute)
    assert calls == [[1]]


def test_a_value_stored_during_a_write_is_dropped_when_it_commits(
    personas, django_capture_on_commit_callbacks
):
    """A concurrent reader may compute from the data before the commit and store it under the
    version of that moment: the bump at commit makes that value unreachable."""
    compute, calls = _compute_counter()
    team = personas.team.pk
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        teamcache.team_changed(team)
        stale = teamcache.cached_per_object("t", {1: team}, compute)  # "another reader"
    after = teamcache.cached_per_object("t", {1: team}, compute)
    assert len(calls) == 2 and after != stale


def test_a_lost_version_is_replaced_by_a_new_token_not_reused(personas):
    team = personas.team.pk
    before = teamcache.team_versions([team])[team]
    assert teamcache.team_versions([team])[team] == before  # stable while nothing changes
    caches["template_fragments"].delete(f"teamver:{team}")  # evicted
    assert teamcache.team_versions([team])[team] != before


def test_values_are_kept_per_day(personas, monkeypatch):
    """Evidence expires by the calendar: yesterday's figures are not today's."""
    compute, calls = _compute_counter()
    teamcache.cached_per_object("t", {1: personas.team.pk}, compute)
    tomorrow = dt.date.today() + dt.timedelta(days=1)
    monkeypatch.setattr(teamcache.timezone, "localdate", lambda: tomorrow)
    teamcache.cached_per_object("t", {1: personas.team.pk}, compute)
    assert len(calls) == 2


def test_a_cache_outage_computes_from_the_database(personas, settings):
    settings.CACHES = {
        **settings.CACHES,
        "template_fragments": {
            "BACKEND": "aigsec.core.cache_backend.ForgivingRedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens there
        },
    }
    compute, _calls = _compute_counter()
    out = teamcache.cached_per_object("t", {1: personas.team.pk}, compute)
    assert out == {1: "value-1-1"}
    teamcache.team_changed(personas.team.pk)  # a write does not fail either
    # Pages with fragments render from the database.
    c = personas.client(personas.risk_owner)
    for name in ("home", "my_work", "evidence_list"):
        assert c.get(reverse(name)).status_code == 200


def test_scores_on_pages_follow_an_answer_at_once(personas):
    """Dashboard and questionnaire show the new score right after a save, then serve it from
    the cache (fewer queries) until the next change."""
    version = make_framework_version(2, 2, 2)
    a = make_assessment(team=personas.team, actor=personas.risk_owner, version=version)
    c = personas.client(personas.risk_owner)
    url = reverse("assessment_detail", args=[a.pk])
    assert "Self-assessed 0.0 " in c.get(url).content.decode()
    with CaptureQueriesContext(connection) as cold:
        c.get(url)
    r = a.responses.order_by("control__order").first()
    _answer(personas, r, "full", "done")
    assert "Self-assessed 12.5" in c.get(url).content.decode()
    with CaptureQueriesContext(connection) as warm:
        assert "Self-assessed 12.5" in c.get(url).content.decode()
    assert len(warm.captured_queries) <= len(cold.captured_queries)
    assert scoring.assessment_scores(a, cached=False).overall == 12.5


def test_questionnaire_summaries_follow_every_kind_of_change(personas):
    """The pillar page's summaries come from the cache; each change a summary shows (answer,
    evidence linked, comment, review) appears on the next visit."""
    from evidence.services import evidence_create
    from reviews.services import comment_add, review_create

    version = make_framework_version(1, 1, 2)
    a = make_assessment(team=personas.team, actor=personas.risk_owner, version=version)
    r = a.responses.order_by("control__order").first()
    pillar = version.pillars.get()
    c = personas.client(personas.risk_owner)
    url = reverse("questionnaire", args=[a.pk, pillar.ref])

    def summary() -> str:
        html = c.get(url).content.decode()
        start = html.index(f'id="r{r.pk}"')
        return html[start : html.index("</article>", start)]

    assert "Not started" in summary() and "0 evidence" in summary()
    r = _answer(personas, r, "full", "done")
    assert "Fully implemented" in summary() and "Review pending" in summary()
    evidence_create(
        team=personas.team,
        actor=personas.risk_owner,
        kind="note",
        title="Policy",
        note="n",
        responses=[r],
    )
    assert "1 evidence" in summary()
    comment_add(response=r, author=personas.risk_owner, body="see the policy")
    assert "1 comment<" in summary()
    review_create(reviewer=personas.auditor, decision="accepted", comment="", response=r)
    assert "Review: accepted" in summary()


def test_my_work_follows_assignments_and_answers(personas):
    version = make_framework_version(1, 1, 2)
    a = make_assessment(team=personas.team, actor=personas.risk_owner, version=version)
    first, second = a.responses.order_by("control__order")
    c = personas.client(personas.risk_owner)
    assert "Nothing is assigned to you." in c.get(reverse("my_work")).content.decode()
    services.responses_assign(
        assessment=a,
        responses=[first],
        owner=personas.risk_owner,
        due_date=None,
        actor=personas.manager,
    )
    html = c.get(reverse("my_work")).content.decode()
    assert first.control.ref in html and second.control.ref not in html
    assert "Not started" in html
    first.refresh_from_db()
    _answer(personas, first, "partial", "half")
    assert "Partially implemented" in c.get(reverse("my_work")).content.decode()
    # Another user's page is their own, whatever is cached for this one.
    other = personas.client(personas.auditor)
    assert "Nothing is assigned to you." in other.get(reverse("my_work")).content.decode()


def test_evidence_list_follows_uploads_and_withdrawals(personas):
    from evidence.services import evidence_create, evidence_withdraw

    c = personas.client(personas.risk_owner)
    url = reverse("evidence_list")
    assert "No evidence yet." in c.get(url).content.decode()
    item = evidence_create(
        team=personas.team, actor=personas.risk_owner, kind="note", title="Threat model", note="n"
    )
    assert "Threat model" in c.get(url).content.decode()
    evidence_withdraw(item=item, actor=personas.risk_owner, reason="superseded")
    assert "Threat model" not in c.get(url).content.decode()
    # Members of another team never see this team's cached rows.
    assert "No evidence yet." in personas.client(personas.stranger).get(url).content.decode()


def test_dashboard_cards_follow_changes_and_the_viewers_role(personas):
    editor, auditor = personas.client(personas.manager), personas.client(personas.auditor)
    home = reverse("home")
    assert "No AI systems yet." in editor.get(home).content.decode()
    assert "No AI systems yet." in auditor.get(home).content.decode()
    system = services.ai_system_create(
        team=personas.team, actor=personas.manager, name="Fraud scorer", model_source="in_house"
    )
    start = reverse("assessment_create", args=[system.pk])
    for_editor, for_auditor = editor.get(home).content.decode(), auditor.get(home).content.decode()
    assert "Fraud scorer" in for_editor and "Fraud scorer" in for_auditor
    assert start in for_editor and start not in for_auditor  # cached per kind of viewer


def test_audit_trail_page_shows_each_new_event_of_the_team(personas):
    c = personas.client(personas.auditor)
    url = reverse("audit_trail")
    c.get(url)
    event = audit_record("test.something_happened", actor=personas.manager, team=personas.team)
    assert f">{event.seq}</a>" in c.get(url).content.decode()
    # Filters are part of the key: another query is another page.
    filtered = c.get(url, {"action": "test.something_happened"}).content.decode()
    assert "test.something_happened" in filtered
    assert c.get(url, {"action": "no-such-action"}).status_code == 400


def test_reads_downloads_and_refusals_leave_the_team_cache_alone(personas):
    """Only write services change a team's version: a stranger probing ids, a member reading
    pages or downloading an export does not flush the team's cache."""
    from evidence.services import evidence_create

    version = make_framework_version(1, 1, 2)
    a = make_assessment(team=personas.team, actor=personas.risk_owner, version=version)
    item = evidence_create(
        team=personas.team, actor=personas.risk_owner, kind="note", title="Policy", note="n"
    )
    team = personas.team.pk
    before = teamcache.team_versions([team])[team]
    member, stranger = personas.client(personas.manager), personas.client(personas.stranger)
    pages = [
        reverse("home"),
        reverse("assessment_detail", args=[a.pk]),
        reverse("evidence_detail", args=[item.pk]),
        reverse("evidence_list"),
        reverse("my_work"),
    ]
    for url in pages:
        assert member.get(url).status_code == 200
    export = member.get(reverse("assessment_export", args=[a.pk, "csv"]))
    assert export.status_code == 200  # recorded as export.downloaded in the team's trail
    for url in pages[1:3]:
        assert stranger.get(url).status_code == 404  # recorded as access.denied in the team
    assert teamcache.team_versions([team])[team] == before
    # ...while a write does change it.
    services.ai_system_create(
        team=personas.team, actor=personas.manager, name="Chatbot", model_source="in_house"
    )
    assert teamcache.team_versions([team])[team] != before


def test_audit_trail_shows_reads_and_refusals_at_once(personas):
    """The trail varies on the team's newest event, not on the data version."""
    version = make_framework_version(1, 1, 2)
    a = make_assessment(team=personas.team, actor=personas.risk_owner, version=version)
    c = personas.client(personas.auditor)
    url = reverse("audit_trail")
    assert "export.downloaded" not in c.get(url).content.decode()
    personas.client(personas.manager).get(reverse("assessment_export", args=[a.pk, "csv"]))
    assert "export.downloaded" in c.get(url).content.decode()
