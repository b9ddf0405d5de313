"""Journey 5, a stranger: the admin of another team, signed in for real (password and code),
types in every URL of the first team's objects (all of tests/core/test_stranger_sweep.py's
URL_TABLE), and gets the "Not found" page every time; the pages of their own team show none of
the first team's data."""

from __future__ import annotations

import json

from django.urls import reverse
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, expect

from aigsec.accounts.models import Membership
from aigsec.accounts.services import api_token_create
from aigsec.audit.models import AuditEvent
from evidence.models import EvidenceItem
from reports.models import Report
from tests.core.test_stranger_sweep import OBJECT, OWN, URL_TABLE

from .conftest import STRANGER


def _victim(demo) -> dict:
    """The first team's objects, under the names URL_TABLE uses."""
    a = demo.assessment
    response = a.responses.select_related("control__guideline__pillar").first()
    membership = Membership.objects.select_related("user").get(
        team=demo.team, user__email="risk@demo.test"
    )
    token, _ = api_token_create(user=membership.user, name="victim")
    return {
        "team": demo.team.pk,
        "membership": membership.pk,
        "token": token.pk,
        "system": a.ai_system_id,
        "assessment": a.pk,
        "response": response.pk,
        "evidence": EvidenceItem.objects.filter(team=demo.team).first().pk,
        "guideline": response.control.guideline_id,
        "pillar_ref": response.control.guideline.pillar.ref,
        "audit_seq": AuditEvent.objects.filter(team=demo.team.pk).latest("seq").seq,
        "export_fmt": "csv",
        "report": Report.objects.get(team=demo.team).pk,
    }


def _url(name: str, victim: dict) -> str:
    kw = URL_TABLE[name][1]
    return reverse(name, kwargs={k: victim[v] for k, v in kw.items()} if kw else None)


def _csrf(page: Page) -> str:
    return json.loads(page.locator("body").get_attribute("hx-headers"))["X-CSRFToken"]


def test_stranger_is_refused_every_url_of_the_first_team(demo_with_report, open_page):
    demo = demo_with_report  # a signed report too, so its download URL is one of those tried
    secret = demo.assessment.ai_system.name  # "Support chatbot": on every page of the victim
    victim = _victim(demo)
    page = open_page(STRANGER)
    expect(page.locator(".team-name")).to_contain_text(demo.other_team.name)
    csrf = _csrf(page)

    objects = sorted(n for n, (kind, kw) in URL_TABLE.items() if kind == OBJECT and kw)
    assert len(objects) > 25, "URL_TABLE looks truncated"
    refused = []
    for name in objects:
        url = _url(name, victim)
        try:
            resp = page.goto(url)
        except PlaywrightError as exc:
            # Chromium shows its own error page for an error without a body: the 405 of a
            # POST-only URL. Then the browser's own session posts the form instead.
            assert "ERR_HTTP_RESPONSE_CODE_FAILURE" in str(exc), (name, exc)
            resp = page.request.get(url)
        if resp.status == 405:
            resp = page.request.post(url, form={"csrfmiddlewaretoken": csrf, "status": "full"})
            assert resp.status == 404, (name, url, resp.status)
            assert secret not in resp.text(), (name, url)
        else:
            assert resp.status == 404, (name, url, resp.status)
            expect(page.get_by_role("heading", level=1)).to_have_text("Not found")
            assert secret not in page.content(), (name, url)
        refused.append(name)
    assert refused == objects

    # Switching into the first team by posting its id: refused the same way.
    resp = page.request.post(
        reverse("team_switch"), form={"csrfmiddlewaretoken": csrf, "team": str(victim["team"])}
    )
    assert resp.status == 404

    # Pages scoped to the stranger's own team: they open, and show nothing of the first team.
    own = sorted(n for n, (kind, _kw) in URL_TABLE.items() if kind == OWN and n != "logout")
    for name in own:
        url = _url(name, victim)
        try:
            resp = page.goto(url)
            body = page.content()
        except PlaywrightError as exc:  # an export: the browser downloads it
            assert "Download is starting" in str(exc), (name, exc)
            resp = page.request.get(url)
            body = resp.text()
        assert resp.status == 200, (name, url, resp.status)
        assert secret not in body, (name, url)
