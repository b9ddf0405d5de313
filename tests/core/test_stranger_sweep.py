"""Every URL, typed in by a user of another team, is refused.

The table below must name every URL pattern of the project; a new URL without an entry fails
`test_every_url_has_an_entry`, so no page can be added without deciding who may see it.
"""

from __future__ import annotations

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from aigsec.accounts.models import Membership
from aigsec.audit.models import AuditEvent
from reports.models import Report
from tests.factories import make_assessment

# name -> which object of the victim team fills the URL's parameters ("team-level" pages take
# no id: they show the caller's own team, so the check is that no victim data appears).
OBJECT = "object"
OWN = "own-team"  # pages scoped to the caller's own team or account
PUBLIC = "public"  # login, password reset, health, API schema and docs

URL_TABLE: dict[str, tuple[str, dict | None]] = {
    "home": (OWN, None),
    "healthz": (PUBLIC, None),
    "favicon": (PUBLIC, None),
    "login": (PUBLIC, None),
    "logout": (OWN, None),
    "password_change": (OWN, None),
    "password_reset": (PUBLIC, None),
    "password_reset_done": (PUBLIC, None),
    "password_reset_confirm": (PUBLIC, None),
    "team_switch": (OBJECT, None),  # POST team=<victim team> is refused (tested below)
    "members": (OBJECT, {"team_id": "team"}),
    "member_role": (OBJECT, {"membership_id": "membership"}),
    "member_remove": (OBJECT, {"membership_id": "membership"}),
    "tokens": (OWN, None),
    "token_revoke": (OBJECT, {"token_id": "token"}),
    "mfa_setup": (OWN, None),  # the caller's own second factor
    "mfa_verify": (PUBLIC, None),  # second sign-in step; only with a pending password login
    "mfa_manage": (
        OBJECT,
        None,
    ),  # POST, acts on the caller's own devices: tests/accounts/test_mfa.py
    "team_mfa": (OBJECT, {"team_id": "team"}),
    "sessions": (OWN, None),  # the caller's own sessions
    "sessions_end_others": (
        OBJECT,
        None,
    ),  # POST, the caller's own: tests/accounts/test_sessions.py
    "api-schema": (PUBLIC, None),
    "api-docs": (PUBLIC, None),
    "frameworks": (OWN, None),
    "framework_upload": (OBJECT, {"team_id": "team"}),
    "ai_system_list": (OWN, None),
    "ai_system_create": (OWN, None),
    "ai_system_detail": (OBJECT, {"pk": "system"}),
    "ai_system_edit": (OBJECT, {"pk": "system"}),
    "ai_system_archive": (OBJECT, {"pk": "system"}),
    "assessment_create": (OBJECT, {"pk": "system"}),
    "assessment_detail": (OBJECT, {"pk": "assessment"}),
    "questionnaire": (OBJECT, {"pk": "assessment", "pillar_ref": "pillar_ref"}),
    "assessment_status": (OBJECT, {"pk": "assessment"}),
    "assessment_sign_off": (OBJECT, {"pk": "assessment"}),
    "assessment_compare": (OBJECT, {"pk": "assessment"}),
    "assessment_export": (OBJECT, {"pk": "assessment", "fmt": "export_fmt"}),  # "csv"
    "guideline_assign": (OBJECT, {"pk": "assessment", "guideline_id": "guideline"}),
    "response_edit": (OBJECT, {"pk": "response"}),
    "response_evidence": (OBJECT, {"pk": "response"}),
    "my_work": (OWN, None),
    "assessment_controls": (OBJECT, {"pk": "assessment"}),
    "search": (OWN, None),  # the current team's results only (tests/assessments/test_search.py)
    "evidence_list": (OWN, None),
    "evidence_create": (OWN, None),
    "evidence_detail": (OBJECT, {"pk": "evidence"}),
    "evidence_download": (OBJECT, {"pk": "evidence"}),
    "evidence_revision": (OBJECT, {"pk": "evidence"}),
    "evidence_link": (OBJECT, {"pk": "evidence"}),
    "evidence_unlink": (OBJECT, {"pk": "evidence"}),
    "evidence_withdraw": (OBJECT, {"pk": "evidence"}),
    "review_queue": (
        OBJECT,
        None,
    ),  # auditors only; stranger cases in tests/reviews/test_reviews.py
    "review_create": (OBJECT, None),  # POST target_id=<victim's>: tests/reviews/test_reviews.py
    "review_bulk": (OBJECT, None),  # POST target=<victim's>: tests/reviews/test_review_bulk.py
    "response_comment": (OBJECT, {"pk": "response"}),
    "report_list": (OWN, None),
    "report_verify": (OWN, None),
    "report_status": (OBJECT, {"pk": "report"}),
    "report_download": (OBJECT, {"pk": "report"}),
    "assessment_reports": (OBJECT, {"pk": "assessment"}),
    "report_request": (OBJECT, {"pk": "assessment"}),
    "audit_trail": (OWN, None),  # auditors and admins; the caller's own team's events only
    "audit_export": (OWN, {"fmt": "export_fmt"}),
    "audit_verify": (OWN, None),  # whole-chain result only, no events
    "audit_event": (OBJECT, {"seq": "audit_seq"}),
    "audit_log_vkey": (PUBLIC, None),  # the audit log's verifier key, for anyone
}


def _routes(resolver=None, prefix: str = "") -> dict[str, str]:
    """Every named URL pattern with its full route."""
    out: dict[str, str] = {}
    for p in (resolver or get_resolver()).url_patterns:
        if isinstance(p, URLResolver):
            out |= _routes(p, prefix + str(p.pattern))
        elif isinstance(p, URLPattern) and p.name:
            out[p.name] = prefix + str(p.pattern)
    return out


def _html_names() -> set[str]:
    # The REST API has its own stranger tests per endpoint (tests/test_api_*.py).
    return {
        n
        for n, route in _routes().items()
        if not route.startswith("api/v1/") or n in ("api-schema", "api-docs")
    }


def test_every_url_has_an_entry():
    missing = _html_names() - set(URL_TABLE)
    assert not missing, f"URLs without an access decision in URL_TABLE: {sorted(missing)}"


@pytest.fixture
def victim(personas):
    from aigsec.accounts.services import api_token_create

    a = make_assessment(team=personas.team, actor=personas.risk_owner)
    response = a.responses.select_related("control__guideline__pillar").first()
    token, _ = api_token_create(user=personas.risk_owner, name="victim")
    from evidence.services import evidence_create

    evidence = evidence_create(
        team=personas.team,
        actor=personas.risk_owner,
        kind="note",
        title=f"Evidence of {a.ai_system.name}",
        note="Victim note",
        responses=[response],
    )
    return {
        "team": personas.team.pk,
        "membership": Membership.objects.get(user=personas.risk_owner).pk,
        "token": token.pk,
        "system": a.ai_system_id,
        "assessment": a.pk,
        "response": response.pk,
        "evidence": evidence.pk,
        "guideline": response.control.guideline_id,
        "pillar_ref": response.control.guideline.pillar.ref,
        "secret_name": a.ai_system.name,
        "audit_seq": AuditEvent.objects.filter(team=personas.team.pk).latest("seq").seq,
        "export_fmt": "csv",
        "report": Report.objects.create(
            team=personas.team, assessment=a, requested_by=personas.manager
        ).pk,
    }


@pytest.mark.django_db
@pytest.mark.parametrize(
    "name", sorted(n for n, (kind, kw) in URL_TABLE.items() if kind == OBJECT and kw)
)
def test_stranger_is_refused_on_every_object_url(personas, victim, name):
    kwargs = {k: victim[v] for k, v in URL_TABLE[name][1].items()}
    url = reverse(name, kwargs=kwargs)
    client = personas.client(personas.stranger)
    before = AuditEvent.objects.filter(action="access.denied").count()
    for method in ("get", "post"):
        resp = getattr(client, method)(url, {"status": "full", "role": "admin"})
        assert resp.status_code in (404, 405), (name, method, resp.status_code)
        assert victim["secret_name"].encode() not in resp.content
    assert AuditEvent.objects.filter(action="access.denied").count() > before


@pytest.mark.django_db
def test_stranger_cannot_switch_into_the_victim_team(personas, victim):
    resp = personas.client(personas.stranger).post(reverse("team_switch"), {"team": victim["team"]})
    assert resp.status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize(
    "name", sorted(n for n, (kind, _kw) in URL_TABLE.items() if kind == OWN and n != "logout")
)
def test_own_team_pages_show_no_victim_data(personas, victim, name):
    kw = URL_TABLE[name][1]
    url = reverse(name, kwargs={k: victim[v] for k, v in kw.items()} if kw else None)
    resp = personas.client(personas.stranger).get(url)
    assert resp.status_code == 200, (name, resp.status_code)
    body = b"".join(resp.streaming_content) if resp.streaming else resp.content  # exports
    assert victim["secret_name"].encode() not in body


@pytest.mark.django_db
@pytest.mark.parametrize(
    "name", sorted(n for n, (kind, _kw) in URL_TABLE.items() if kind != PUBLIC)
)
def test_anonymous_is_sent_to_login(client, victim, name):
    kw = URL_TABLE[name][1]
    url = reverse(name, kwargs={k: victim[v] for k, v in kw.items()} if kw else None)
    resp = client.get(url)
    assert resp.status_code in (302, 405), (name, resp.status_code)
    if resp.status_code == 302:
        assert resp["Location"].startswith(reverse("login"))


@pytest.mark.django_db
@pytest.mark.parametrize("bad", ["99999999999999999999", "-1", "0", "abc"])
def test_out_of_range_or_garbage_ids_are_404_not_500(personas, bad):
    c = personas.client(personas.admin)
    # The same URLs with the admin's own team answer 200, so a 404 below means the id.
    assert c.get(f"/accounts/teams/{personas.team.pk}/members/").status_code == 200
    assert c.post(reverse("team_switch"), {"team": bad}).status_code == 404
    if bad.isdigit():
        assert c.get(f"/accounts/teams/{bad}/members/").status_code == 404
        assert c.get(f"/assessments/{bad}/").status_code == 404
