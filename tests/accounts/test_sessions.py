"""Sessions: rotated at log-in, idle timeout and absolute lifetime, and ended server-side on
log-out, password change or reset, deactivation, leaving the last team, or on request."""

from __future__ import annotations

import re
import time
from importlib import import_module
from io import StringIO

import pytest
from django.conf import settings as django_settings
from django.core import mail
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from aigsec.accounts.models import ApiToken, Membership, Role, User, UserSession
from aigsec.accounts.services import api_token_create, membership_remove
from aigsec.accounts.user_sessions import LOGIN_AT, SEEN_AT, TOUCH_EVERY, user_deactivate
from aigsec.audit.models import AuditEvent
from tests.conftest import login_with_second_factor
from tests.factories import PASSWORD, MembershipFactory, TeamFactory, make_assessment

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "Violet-lantern-orbit-7391"


def _events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("seq"))


def _store():
    return import_module(django_settings.SESSION_ENGINE).SessionStore


def _alive(key: str) -> bool:
    return _store()().exists(key)


def _login(client: Client, email: str, password: str = PASSWORD, **extra):
    return client.post(reverse("login"), {"username": email, "password": password}, **extra)


def _logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def _set(client: Client, **values: float) -> None:
    session = client.session
    for key, value in values.items():
        session[key] = value
    session.save()


def _bearer(secret: str, url: str = "/api/v1/ai-systems/"):
    return Client().get(url, HTTP_AUTHORIZATION=f"Bearer {secret}")


# --- Log-in -------------------------------------------------------------------------------------


def test_session_key_changes_at_login_and_the_session_is_recorded(personas):
    c = Client()
    c.get(reverse("login"))
    before = c.session.session_key
    assert before

    r = _login(c, personas.auditor.email, REMOTE_ADDR="10.7.0.1", HTTP_USER_AGENT="Probe/1.0")

    assert r.status_code == 302
    after = c.session.session_key
    assert after != before
    assert not _alive(before)
    row = UserSession.objects.get(user=personas.auditor)
    assert row.session_key == after
    assert (row.ip, row.user_agent) == ("10.7.0.1", "Probe/1.0")
    assert abs(c.session[LOGIN_AT] - time.time()) < 60

    c.post(reverse("logout"))
    assert not UserSession.objects.filter(user=personas.auditor).exists()
    assert not _alive(after)


def test_logging_in_again_in_the_same_browser_leaves_one_row(personas):
    c = Client()
    _login(c, personas.auditor.email)
    _login(c, personas.auditor.email)  # from the login page again: a new key
    assert UserSession.objects.filter(user=personas.auditor).count() == 1
    assert UserSession.objects.get(user=personas.auditor).session_key == c.session.session_key


# --- Idle timeout and absolute lifetime --------------------------------------------------------


def test_idle_session_ends_and_redirects_to_login(personas):
    c = personas.client(personas.risk_owner)
    key = c.session.session_key
    _set(c, **{SEEN_AT: time.time() - django_settings.SESSION_IDLE_TIMEOUT - 1})

    r = c.get(reverse("tokens"))

    assert r.status_code == 302
    assert r.url == reverse("login") + "?next=" + reverse("tokens").replace("/", "%2F")
    assert not _logged_in(c)
    assert not _alive(key)
    assert not UserSession.objects.filter(session_key=key).exists()
    assert _events("session.expired")[-1].data == {"reason": "idle"}
    page = c.get(r.url)
    assert "without activity" in page.content.decode()


def test_activity_keeps_the_session_and_is_recorded(personas):
    c = personas.client(personas.risk_owner)
    seen = time.time() - TOUCH_EVERY - 5  # active, but not in the last minute
    _set(c, **{SEEN_AT: seen})
    assert c.get(reverse("tokens")).status_code == 200
    assert c.session[SEEN_AT] > seen + 5
    row = UserSession.objects.get(session_key=c.session.session_key)
    assert time.time() - row.last_seen_at.timestamp() < 5


def test_absolute_lifetime_ends_an_active_session(personas):
    c = personas.client(personas.manager)
    now = time.time()
    _set(c, **{LOGIN_AT: now - django_settings.SESSION_ABSOLUTE_LIFETIME - 1, SEEN_AT: now})

    r = c.get(reverse("home"))

    assert r.status_code == 302
    assert r.url.startswith(reverse("login"))
    assert not _logged_in(c)
    assert _events("session.expired")[-1].data == {"reason": "lifetime"}


def test_timeouts_come_from_settings(personas, settings):
    settings.SESSION_IDLE_TIMEOUT = 120
    settings.SESSION_ABSOLUTE_LIFETIME = 600
    c = personas.client(personas.manager)
    _set(c, **{SEEN_AT: time.time() - 100})
    assert c.get(reverse("home")).status_code == 200
    _set(c, **{SEEN_AT: time.time() - 130})
    assert c.get(reverse("home")).status_code == 302

    c = personas.client(personas.manager)
    _set(c, **{LOGIN_AT: time.time() - 601})
    assert c.get(reverse("home")).status_code == 302


def test_expired_session_on_the_api_is_refused(personas):
    c = personas.client(personas.risk_owner)
    assert c.get("/api/v1/ai-systems/").status_code == 200
    _set(c, **{SEEN_AT: time.time() - django_settings.SESSION_IDLE_TIMEOUT - 1})
    assert c.get("/api/v1/ai-systems/").status_code in (401, 403)
    assert not _logged_in(c)


def test_a_session_not_made_by_login_is_not_trusted(personas):
    c = personas.client(personas.risk_owner)
    session = c.session
    del session[LOGIN_AT]
    session.save()
    assert c.get(reverse("home")).status_code == 302
    assert _events("session.expired")[-1].data == {"reason": "untracked"}


# --- Password change and reset -----------------------------------------------------------------


def test_password_change_ends_the_other_sessions_only(personas):
    user = personas.auditor
    here, elsewhere = personas.client(user), personas.client(user)
    other_key = elsewhere.session.session_key
    assert elsewhere.get(reverse("home")).status_code == 200

    r = here.post(
        reverse("password_change"),
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )

    assert r.status_code == 302
    assert here.get(reverse("tokens")).status_code == 200  # this one goes on
    assert not _alive(other_key)  # ended on the server, not only refused later
    assert elsewhere.get(reverse("home")).status_code == 302
    assert list(UserSession.objects.filter(user=user).values_list("session_key", flat=True)) == [
        here.session.session_key
    ]
    [ev] = _events("session.ended")
    assert ev.data == {"reason": "password_changed", "sessions": 1, "kept_current": True}


def test_password_reset_ends_every_session(personas):
    user = personas.auditor
    logged_in = personas.client(user)
    key = logged_in.session.session_key
    c = Client()
    c.post(reverse("password_reset"), {"email": user.email})
    path = re.search(r"https?://[^/\s]+(/accounts/password/reset/\S+/\S+/)", mail.outbox[0].body)
    r = c.get(path.group(1), follow=True)
    c.post(r.redirect_chain[-1][0], {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})

    assert not _alive(key)
    assert logged_in.get(reverse("home")).status_code == 302
    assert _events("session.ended")[-1].data["reason"] == "password_reset"


# --- Deactivation --------------------------------------------------------------------------------


def test_deactivation_ends_sessions_and_revokes_tokens(personas):
    user = personas.risk_owner
    one, two = personas.client(user), personas.client(user)
    keys = [one.session.session_key, two.session.session_key]
    _t1, s1 = api_token_create(user=user, name="a")
    _t2, s2 = api_token_create(user=user, name="b", read_only=True)
    assert _bearer(s1).status_code == 200

    done = user_deactivate(user=user, actor=personas.admin)

    assert done == {"sessions": 2, "tokens": 2}
    assert not any(_alive(k) for k in keys)
    assert not UserSession.objects.filter(user=user).exists()
    assert one.get(reverse("home")).status_code == 302
    assert all(t.revoked_at for t in ApiToken.objects.filter(user=user))
    assert _bearer(s1).status_code == 401 and _bearer(s2).status_code == 401
    [ev] = _events("user.deactivated")
    assert (ev.actor, ev.data) == (personas.admin.pk, {"sessions_ended": 2, "tokens_revoked": 2})
    assert len(_events("token.revoked")) == 2
    assert _login(Client(), user.email).status_code == 200  # can no longer sign in


def test_deactivate_user_command(personas):
    c = personas.client(personas.manager)
    out = StringIO()
    call_command("deactivate_user", personas.manager.email.upper(), stdout=out)
    assert "1 session(s) ended" in out.getvalue()
    assert not User.objects.get(pk=personas.manager.pk).is_active
    assert c.get(reverse("home")).status_code == 302


# --- Removal from a team ------------------------------------------------------------------------


def test_removal_from_the_only_team_ends_sessions_and_tokens(personas):
    user = personas.risk_owner
    c = personas.client(user)
    _token, secret = api_token_create(user=user, name="ci")
    m = Membership.objects.get(user=user, team=personas.team)

    r = personas.client(personas.admin).post(reverse("member_remove", args=[m.pk]))

    assert r.status_code == 302
    assert c.get(reverse("home")).status_code == 302
    assert not UserSession.objects.filter(user=user).exists()
    assert _bearer(secret).status_code == 401
    assert _events("session.ended")[-1].data["reason"] == "removed_from_last_team"


def test_removal_from_one_of_two_teams_cuts_that_team_off_at_once(personas):
    user = personas.risk_owner
    second = TeamFactory(name="Second team")
    MembershipFactory(user=user, team=second, role=Role.RISK_OWNER)
    a = make_assessment(team=personas.team, actor=user)
    c = personas.client(user)
    _token, secret = api_token_create(user=user, name="ci")
    url = f"/api/v1/assessments/{a.pk}/"
    assert c.get(url).status_code == 200
    assert _bearer(secret, url).status_code == 200

    membership_remove(
        membership=Membership.objects.get(user=user, team=personas.team), actor=personas.admin
    )

    # The next request through the session or the token no longer reaches the team...
    assert c.get(url).status_code == 404
    assert c.get(reverse("assessment_detail", args=[a.pk])).status_code == 404
    assert _bearer(secret, url).status_code == 404
    # ... while the person keeps working in the team they still belong to.
    assert c.get(reverse("home")).status_code == 200
    assert _bearer(secret).status_code == 200
    assert not _events("session.ended")


# --- Your sessions page ---------------------------------------------------------------------------


def test_sessions_page_lists_own_sessions_and_ends_the_others(personas):
    user = personas.auditor
    here = Client()
    _login(here, user.email, HTTP_USER_AGENT="Here-Browser")
    there = Client()
    _login(there, user.email, HTTP_USER_AGENT="There-Browser")
    stranger = personas.client(personas.stranger)

    page = here.get(reverse("sessions"))

    assert page.status_code == 200
    html = page.content.decode()
    assert "Here-Browser" in html and "There-Browser" in html
    assert "(this session)" in html
    assert "There-Browser" not in stranger.get(reverse("sessions")).content.decode()
    assert here.get(reverse("sessions_end_others")).status_code == 405

    r = here.post(reverse("sessions_end_others"))

    assert r.status_code == 302
    assert there.get(reverse("home")).status_code == 302
    assert here.get(reverse("home")).status_code == 200
    assert "There-Browser" not in here.get(reverse("sessions")).content.decode()
    [ev] = _events("session.ended")
    assert (ev.actor, ev.data["reason"], ev.data["sessions"]) == (
        user.pk,
        "signed_out_others",
        1,
    )
    # The stranger's own session was untouched.
    assert stranger.get(reverse("home")).status_code == 200


def test_sessions_page_hides_sessions_past_their_timeouts(personas):
    user = personas.auditor
    c = personas.client(user)
    old = personas.client(user)
    UserSession.objects.filter(session_key=old.session.session_key).update(
        last_seen_at="2000-01-01T00:00:00Z"
    )
    assert len(c.get(reverse("sessions")).context["rows"]) == 1


def test_sessions_page_query_count_does_not_grow(personas):
    user = personas.admin
    c = login_with_second_factor(Client(), user)

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert c.get(reverse("sessions")).status_code == 200
        return len(ctx.captured_queries)

    one = count()
    for _ in range(5):
        login_with_second_factor(Client(), user)
    assert len(c.get(reverse("sessions")).context["rows"]) == 6
    # session, user, OTP device, memberships, the sessions: the same for 1 and 6 rows
    assert count() == one <= 5
