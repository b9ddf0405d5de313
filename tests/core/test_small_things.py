"""The small things a person notices (issue 14): removing a member asks first, a completed
password reset says so, the quick start's 404 is the app's page, long names in the header."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from aigsec.accounts.models import Membership, Role
from aigsec.audit.models import AuditEvent
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db
NEW_PASSWORD = "a-brand-new-horse-battery-77"


# --- Removing a member ----------------------------------------------------------------------


def test_remove_asks_for_confirmation_first(personas):
    m = Membership.objects.get(user=personas.auditor, team=personas.team)
    c = personas.client(personas.admin)
    members = c.get(reverse("members", args=[personas.team.pk])).content.decode()
    url = reverse("member_remove", args=[m.pk])
    assert f'<a href="{url}" role="button"' in members  # a link to a page, not a POST
    page = c.get(url)
    assert page.status_code == 200
    html = page.content.decode()
    assert "Remove this member?" in html and personas.auditor.email in html
    assert f'<form method="post" action="{url}">' in html
    # Nothing happened yet: the GET changed nothing and recorded nothing.
    assert Membership.objects.filter(pk=m.pk).exists()
    assert not AuditEvent.objects.filter(action="member.removed").exists()
    resp = c.post(url)
    assert resp.status_code == 302 and not Membership.objects.filter(pk=m.pk).exists()
    assert AuditEvent.objects.filter(action="member.removed").count() == 1


def test_confirmation_page_refuses_others(personas):
    m = Membership.objects.get(user=personas.auditor, team=personas.team)
    url = reverse("member_remove", args=[m.pk])
    assert personas.client(personas.manager).get(url).status_code == 403
    assert personas.client(personas.stranger).get(url).status_code == 404
    assert Membership.objects.filter(pk=m.pk).exists()


def test_removing_yourself_is_said_plainly(personas):
    MembershipFactory(team=personas.team, role=Role.ADMIN)  # not the last admin
    m = Membership.objects.get(user=personas.admin, team=personas.team)
    html = personas.client(personas.admin).get(reverse("member_remove", args=[m.pk]))
    assert "You are removing yourself" in html.content.decode()


def test_a_long_name_is_shown_whole_on_the_confirmation_page(personas):
    user = UserFactory(full_name="N" * 150)
    m = MembershipFactory(team=personas.team, user=user, role=Role.AUDITOR)
    html = personas.client(personas.admin).get(reverse("member_remove", args=[m.pk]))
    assert "N" * 150 in html.content.decode()


# --- Password reset -------------------------------------------------------------------------


def test_a_completed_reset_says_so_on_the_log_in_page(personas):
    c = Client()
    c.post(reverse("password_reset"), {"email": personas.auditor.email})
    path = re.search(r"https?://[^/\s]+(/accounts/password/reset/\S+/\S+/)", mail.outbox[0].body)
    r = c.get(path.group(1), follow=True)
    r = c.post(
        r.redirect_chain[-1][0],
        {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
        follow=True,
    )
    html = r.content.decode()
    assert r.request["PATH_INFO"] == reverse("login")
    assert "Your password has been changed. Log in with your new password." in html


# --- The app's own 404 page in the quick start (debug) ----------------------------------------


@pytest.mark.parametrize("path", ["/no-such-page/", "/assessments/999999999/"])
def test_404_under_debug_is_the_apps_page(personas, settings, path):
    settings.DEBUG = True
    settings.DEBUG_404_PAGE = False
    resp = personas.client(personas.risk_owner).get(path)
    assert resp.status_code == 404
    html = resp.content.decode()
    assert "There is nothing here, or it is not yours to see." in html
    assert "DEBUG = True" not in html and "URLconf" not in html
    assert 'site-header"' in html and 'id="site-search-q"' in html  # the app's layout


def test_404_under_debug_for_anonymous_and_api(client, settings):
    settings.DEBUG = True
    settings.DEBUG_404_PAGE = False
    assert "nothing here" in client.get("/no-such-page/").content.decode()
    resp = client.get("/api/v1/no-such-thing/")
    assert resp.status_code == 404 and resp["Content-Type"].startswith("application/json")


def test_djangos_debug_page_on_request(client, settings):
    settings.DEBUG = True
    settings.DEBUG_404_PAGE = True
    assert "DEBUG = True" in client.get("/no-such-page/").content.decode()


def test_outside_debug_the_handler_is_used_as_before(client, settings):
    settings.DEBUG = False
    html = client.get("/no-such-page/").content.decode()
    assert "nothing here" in html


# --- Long names in the header ---------------------------------------------------------------


def test_long_team_and_user_names_are_cut_with_the_whole_name_as_title(personas):
    personas.team.name = "T" * 120
    personas.team.save()
    personas.risk_owner.full_name = "U" * 150
    personas.risk_owner.save()
    html = personas.client(personas.risk_owner).get(reverse("home")).content.decode()
    assert f'<span class="team-name" title="{"T" * 120} · Risk owner">' in html
    assert f'<summary class="user-name" title="{"U" * 150}">' in html


# --- The AI system's name once ----------------------------------------------------------------


def test_the_system_name_is_not_repeated_in_my_work_or_search(personas):
    from assessments.models import Response
    from tests.factories import AISystemFactory, make_assessment

    system = AISystemFactory(team=personas.team, name="Support chatbot")
    a = make_assessment(
        actor=personas.risk_owner, ai_system=system, title="Support chatbot — 2026 baseline"
    )
    other = make_assessment(actor=personas.risk_owner, ai_system=system, title="Second look")
    Response.objects.filter(assessment__in=[a, other]).update(owner=personas.risk_owner)
    c = personas.client(personas.risk_owner)
    for html in (
        c.get(reverse("my_work")).content.decode(),
        c.get(reverse("search"), {"q": "place"}).content.decode(),
    ):
        assert "Support chatbot — 2026 baseline" in html
        assert "Support chatbot — Support chatbot" not in html
        assert "Support chatbot · Support chatbot" not in html
        assert "Support chatbot — Second look" in html


# --- The browser tests' console watch (tests/e2e/conftest.py) ----------------------------------


@pytest.mark.parametrize(
    ("kind", "text", "url", "defect"),
    [
        ("error", "Refused to execute inline script because it violates CSP", "", True),
        ("error", "htmx:targetError", "/static/vendor/htmx/htmx.min.js", True),
        (
            "error",
            "Failed to load resource: the server responded with a status of 404 (Not Found)",
            "/static/aigsec/missing.js",
            True,
        ),
        (
            "error",
            "Failed to load resource: the server responded with a status of 500 ()",
            "/responses/3/",
            True,
        ),
        (
            "error",
            "Failed to load resource: the server responded with a status of 409 (Conflict)",
            "/responses/3/",
            False,
        ),  # the app's deliberate answer to a stale save
        (
            "error",
            "Failed to load resource: the server responded with a status of 404 (Not Found)",
            "/assessments/9/",
            False,
        ),  # a stranger's refused page
        ("warning", "something", "", False),
    ],
)
def test_the_browser_tests_fail_on_console_errors(kind, text, url, defect):
    from tests.e2e.conftest import console_problem

    assert (console_problem(kind, text, url) is not None) is defect
