"""Accounts and teams: log-in, lockout, passwords, members and roles, team switch, API tokens,
demo data, health check. Personas come from conftest (admin, risk owner, auditor, manager of
"Acme AI"; the stranger is the admin of "Other Co")."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta
from io import StringIO

import pytest
from django.conf import settings as django_settings
from django.contrib.sessions.backends.db import SessionStore
from django.core import mail
from django.core.cache import cache
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response as APIResponse
from rest_framework.test import APIRequestFactory
from rest_framework.views import APIView

from aigsec.accounts import lockout
from aigsec.accounts.api_auth import BearerTokenAuthentication
from aigsec.accounts.forms import GENERIC_LOCKED
from aigsec.accounts.middleware import SESSION_KEY
from aigsec.accounts.models import ApiToken, Membership, Role, Team, User
from aigsec.accounts.services import api_token_create
from aigsec.audit.models import AuditEvent
from tests.factories import PASSWORD, MembershipFactory

INVALID_LOGIN = "E-mail or password is not correct."
NEW_PASSWORD = "Violet-lantern-orbit-7391"
# A masked CSRF token: 64 letters and digits, different on every render.
CSRF_TOKEN = re.compile(r"\b[A-Za-z0-9]{64}\b")


def _login(client: Client, email: str, password: str = PASSWORD, ip: str = "10.0.0.1"):
    return client.post(reverse("login"), {"username": email, "password": password}, REMOTE_ADDR=ip)


def _events(action: str, **filters) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action, **filters).order_by("seq"))


def _logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def _normalised(response, *replace: str) -> str:
    """The page text with CSRF tokens and the given strings (e.g. the e-mail typed) blanked."""
    text = response.content.decode()
    for s in replace:
        text = text.replace(s, "<REPLACED>")
    return CSRF_TOKEN.sub("<CSRF>", text)


# --- Log in, log out, failed log-in --------------------------------------------------------


def test_login_with_email_records_event_and_rotates_session(personas):
    user = personas.risk_owner
    c = Client()
    session = c.session  # an anonymous session exists before logging in
    session["probe"] = 1
    session.save()
    before = session.session_key

    r = _login(c, user.email)

    assert r.status_code == 302
    assert r.url == reverse("home")
    assert int(c.session["_auth_user_id"]) == user.pk
    after = c.cookies[django_settings.SESSION_COOKIE_NAME].value
    assert after != before, "the session key must change on log-in (session fixation)"
    assert not SessionStore().exists(before), "the pre-login session must be gone"
    [ev] = _events("auth.login")
    assert ev.actor == user.pk
    assert ev.target == f"user:{user.pk}"
    assert ev.data["ip"] == "10.0.0.1"


def test_login_email_is_the_username_field(personas):
    # The form field is an e-mail field: a non-address is refused before authentication.
    r = Client().post(reverse("login"), {"username": "admin", "password": PASSWORD})
    assert r.status_code == 200
    assert "username" in r.context["form"].errors
    assert not _events("auth.login")


def test_login_email_is_case_insensitive(personas):
    assert _login(Client(), personas.admin.email.title()).status_code == 302


def test_logout_is_post_only_and_records_event(personas):
    c = personas.client(personas.auditor)
    assert c.get(reverse("logout")).status_code == 405
    assert _logged_in(c)

    r = c.post(reverse("logout"))

    assert r.status_code == 302
    assert r.url == reverse("login")
    assert not _logged_in(c)
    [ev] = _events("auth.logout")
    assert ev.actor == personas.auditor.pk


def test_failed_login_records_event_with_email(personas):
    c = Client()
    r = _login(c, personas.admin.email.upper(), "not-the-password", ip="10.9.9.9")

    assert r.status_code == 200
    assert r.context["form"].non_field_errors() == [INVALID_LOGIN]
    assert not _logged_in(c)
    [ev] = _events("auth.login_failed")
    assert ev.actor is None
    assert ev.data == {"email": personas.admin.email, "ip": "10.9.9.9"}
    assert not _events("auth.login")


def test_unauthenticated_pages_redirect_to_login(personas):
    c = Client()
    for url in ("/", reverse("members", args=[personas.team.pk]), reverse("tokens")):
        r = c.get(url)
        assert r.status_code == 302, url
        assert r.url.startswith(reverse("login") + "?next="), url


# --- Lockout ---------------------------------------------------------------------------------


def test_lockout_refuses_correct_password_with_one_message_for_known_and_unknown(
    personas, settings
):
    limit = settings.LOGIN_FAILURE_LIMIT
    assert limit == 5
    known, unknown = personas.risk_owner.email, "nobody-here@acme.test"
    for email, ip in ((known, "10.1.0.1"), (unknown, "10.1.0.2")):
        c = Client()
        for _ in range(limit):
            r = _login(c, email, "wrong-password-123", ip=ip)
            assert r.context["form"].non_field_errors() == [INVALID_LOGIN]

    r_known = _login(Client(), known, PASSWORD, ip="10.1.0.1")
    r_unknown = _login(Client(), unknown, PASSWORD, ip="10.1.0.2")

    for r in (r_known, r_unknown):
        assert r.status_code == 429  # a rate limit, with the form and the generic message
        assert r.context["form"].non_field_errors() == [GENERIC_LOCKED]
        assert GENERIC_LOCKED in r.content.decode()
    # Byte for byte the same page, once the e-mail typed and the CSRF tokens are blanked.
    assert _normalised(r_known, known) == _normalised(r_unknown, unknown)
    assert not _events("auth.login")
    # Refusals while locked are recorded too (they never reach authentication).
    assert {e.data["email"] for e in _events("auth.login_locked")} == {known, unknown}
    # The lock is per address: someone else signs in from the same IP.
    assert _login(Client(), personas.admin.email, ip="10.1.0.1").status_code == 302


def test_lockout_per_ip_triggers(personas, settings):
    ip, limit = "10.2.0.1", settings.LOGIN_IP_FAILURE_LIMIT
    assert limit > settings.LOGIN_FAILURE_LIMIT
    for i in range(limit):
        # A different address each time, so no per-address counter reaches its limit.
        _login(Client(), f"guess{i}@acme.test", "wrong-password-123", ip=ip)

    r = _login(Client(), personas.admin.email, PASSWORD, ip=ip)
    assert r.status_code == 429
    assert r.context["form"].non_field_errors() == [GENERIC_LOCKED]

    other_ip = _login(Client(), personas.admin.email, PASSWORD, ip="10.2.0.2")
    assert other_ip.status_code == 302


def test_lockout_counter_lives_in_the_cache(personas, settings):
    if settings.REDIS_URL:
        assert settings.CACHES["default"]["BACKEND"].endswith("RedisCache")
    email, ip = personas.manager.email, "10.3.0.1"
    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        _login(Client(), email, "wrong-password-123", ip=ip)
    (email_key, _), (ip_key, _) = lockout._keys(email, ip)
    assert cache.get(email_key) == settings.LOGIN_FAILURE_LIMIT
    assert cache.get(ip_key) == settings.LOGIN_FAILURE_LIMIT
    assert lockout.is_locked(email, ip)
    assert _login(Client(), email, PASSWORD, ip=ip).status_code == 429

    cache.delete(email_key)  # what the window's expiry does

    assert _login(Client(), email, PASSWORD, ip=ip).status_code == 302


def test_successful_login_resets_the_address_counter(personas, settings):
    email = personas.manager.email
    for _ in range(settings.LOGIN_FAILURE_LIMIT - 1):
        _login(Client(), email, "wrong-password-123")
    assert _login(Client(), email).status_code == 302
    _login(Client(), email, "wrong-password-123")
    assert _login(Client(), email).status_code == 302


# --- Passwords -------------------------------------------------------------------------------


def test_passwords_are_hashed_with_argon2id(personas):
    personas.admin.refresh_from_db()
    assert personas.admin.password.startswith("argon2$argon2id$")
    assert django_settings.PASSWORD_HASHERS[0].endswith("Argon2PasswordHasher")


def test_common_password_is_refused(personas):
    c = personas.client(personas.admin)
    r = c.post(
        reverse("password_change"),
        {
            "old_password": PASSWORD,
            "new_password1": "password123456",
            "new_password2": "password123456",
        },
    )
    assert r.status_code == 200
    errors = " ".join(r.context["form"].errors.get("new_password2", []))
    assert "too common" in errors
    personas.admin.refresh_from_db()
    assert personas.admin.check_password(PASSWORD)
    assert not _events("auth.password_changed")


def test_password_change_records_event_and_keeps_session(personas):
    c = personas.client(personas.admin)
    r = c.post(
        reverse("password_change"),
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert r.status_code == 302
    personas.admin.refresh_from_db()
    assert personas.admin.check_password(NEW_PASSWORD)
    assert personas.admin.password.startswith("argon2")
    [ev] = _events("auth.password_changed")
    assert ev.actor == personas.admin.pk
    assert NEW_PASSWORD not in str(ev.data)
    assert c.get(reverse("tokens")).status_code == 200  # still logged in


def test_password_reset_mails_known_address_and_link_works(personas):
    c = Client()
    r = c.post(reverse("password_reset"), {"email": personas.auditor.email})
    assert r.status_code == 302
    assert r.url == reverse("password_reset_done")
    [msg] = mail.outbox
    assert msg.to == [personas.auditor.email]
    path = re.search(r"https?://[^/\s]+(/accounts/password/reset/\S+/\S+/)", msg.body).group(1)

    r = c.get(path, follow=True)
    assert r.status_code == 200
    assert r.context["validlink"]
    r = c.post(
        r.redirect_chain[-1][0], {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    )
    assert r.status_code == 302
    assert r.url == reverse("login")
    personas.auditor.refresh_from_db()
    assert personas.auditor.check_password(NEW_PASSWORD)
    assert _login(Client(), personas.auditor.email, NEW_PASSWORD).status_code == 302
    # The link is single-use.
    assert not Client().get(path, follow=True).context["validlink"]


def test_password_reset_unknown_address_same_page_and_no_mail(personas):
    known = Client().post(reverse("password_reset"), {"email": personas.auditor.email}, follow=True)
    mail.outbox.clear()
    unknown = Client().post(reverse("password_reset"), {"email": "ghost@acme.test"}, follow=True)

    assert mail.outbox == []
    assert unknown.redirect_chain == known.redirect_chain == [(reverse("password_reset_done"), 302)]
    assert _normalised(unknown) == _normalised(known)


def test_new_member_can_choose_a_password_through_reset(personas):
    c = personas.client(personas.admin)
    c.post(
        reverse("members", args=[personas.team.pk]), {"email": "fresh@acme.test", "role": "auditor"}
    )
    Client().post(reverse("password_reset"), {"email": "fresh@acme.test"})
    assert [m.to for m in mail.outbox] == [["fresh@acme.test"]]


# --- Team switch -----------------------------------------------------------------------------


def test_user_in_two_teams_switches(personas):
    MembershipFactory(user=personas.auditor, team=personas.other_team, role=Role.MANAGER)
    c = personas.client(personas.auditor)
    page = c.get(reverse("tokens"))
    assert page.context["membership"].team == personas.team
    assert {m.team_id for m in page.context["memberships"]} == {
        personas.team.pk,
        personas.other_team.pk,
    }

    r = c.post(reverse("team_switch"), {"team": personas.other_team.pk})

    assert r.status_code == 302
    assert c.session[SESSION_KEY] == personas.other_team.pk
    page = c.get(reverse("tokens"))
    assert page.context["membership"].team == personas.other_team
    assert page.context["membership"].role == Role.MANAGER


@pytest.mark.parametrize("team", ["other", "garbage"])
def test_switch_to_a_team_not_yours_is_404(personas, team):
    c = personas.client(personas.risk_owner)
    value = personas.other_team.pk if team == "other" else "x'; --"
    r = c.post(reverse("team_switch"), {"team": value})
    assert r.status_code == 404
    assert SESSION_KEY not in c.session
    if team == "other":
        [ev] = _events("access.denied", actor=personas.risk_owner.pk)
        assert ev.target == f"team:{personas.other_team.pk}"


# --- API tokens ------------------------------------------------------------------------------


class _Probe(APIView):
    """A minimal authenticated endpoint, so the token checks do not depend on other apps."""

    authentication_classes = [BearerTokenAuthentication]
    permission_classes = [IsAuthenticated]

    def get(self, request):
        return APIResponse({"email": request.user.email})

    def post(self, request):
        return APIResponse({"written": True}, status=201)


def _probe(method: str, secret: str | None = None, header: str | None = None):
    headers = {}
    if header is not None:
        headers["HTTP_AUTHORIZATION"] = header
    elif secret is not None:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {secret}"
    request = getattr(APIRequestFactory(), method)("/probe/", **headers)
    return _Probe.as_view()(request)


def test_token_page_shows_secret_once_and_stores_only_its_hash(personas):
    c = personas.client(personas.manager)
    r = c.post(reverse("tokens"), {"name": "ci", "scope": "write", "days": 30})

    assert r.status_code == 200
    secret = r.context["secret"]
    assert secret.startswith("aig_")
    assert secret in r.content.decode()
    token = ApiToken.objects.get(user=personas.manager)
    assert token.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in {token.name, token.prefix, token.token_hash}
    assert token.expires_at - timezone.now() > timedelta(days=29)
    assert not token.read_only
    assert secret not in c.get(reverse("tokens")).content.decode()  # shown only once
    [ev] = _events("token.created")
    assert secret not in str(ev.data)

    ok = _probe("get", secret)
    assert ok.status_code == 200
    assert ok.data == {"email": personas.manager.email}


def test_token_form_errors_are_400(personas):
    r = personas.client(personas.manager).post(reverse("tokens"), {"name": "", "days": 1000})
    assert r.status_code == 400
    assert not ApiToken.objects.exists()


def test_revoked_token_is_401(personas):
    token, secret = api_token_create(user=personas.risk_owner, name="laptop")
    assert _probe("get", secret).status_code == 200
    c = personas.client(personas.risk_owner)

    r = c.post(reverse("token_revoke", args=[token.pk]))

    assert r.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    [ev] = _events("token.revoked")
    assert ev.actor == personas.risk_owner.pk
    refused = _probe("get", secret)
    assert refused.status_code == 401
    assert refused["WWW-Authenticate"] == "Bearer"
    # Through the project's URLconf as well.
    api = Client().get("/api/v1/ai-systems/", HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert api.status_code == 401
    # Revoking again changes nothing and records nothing.
    c.post(reverse("token_revoke", args=[token.pk]))
    assert len(_events("token.revoked")) == 1


def test_expired_token_is_401(personas):
    token, secret = api_token_create(user=personas.risk_owner, name="old")
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert _probe("get", secret).status_code == 401


def test_token_of_inactive_user_is_401(personas):
    _token, secret = api_token_create(user=personas.risk_owner, name="x")
    User.objects.filter(pk=personas.risk_owner.pk).update(is_active=False)
    assert _probe("get", secret).status_code == 401


@pytest.mark.parametrize(
    "header", ["Bearer aig_not-a-real-token", "Bearer", "Bearer a b", "   "], ids=repr
)
def test_bad_authorization_headers_are_401(db, header):
    assert _probe("get", header=header).status_code == 401


def test_another_users_token_cannot_be_revoked(personas):
    token, secret = api_token_create(user=personas.stranger, name="theirs")
    r = personas.client(personas.admin).post(reverse("token_revoke", args=[token.pk]))
    assert r.status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None
    assert _probe("get", secret).status_code == 200
    [ev] = _events("access.denied", actor=personas.admin.pk)
    assert ev.target == f"token:{token.pk}"
    assert not _events("token.revoked")


def test_read_only_token_is_refused_for_post(personas):
    _token, secret = api_token_create(user=personas.manager, name="ro", read_only=True)
    assert _probe("get", secret).status_code == 200
    r = _probe("post", secret)
    assert r.status_code == 403
    assert "read-only" in str(r.data["detail"])
    _rw_token, rw_secret = api_token_create(user=personas.manager, name="rw")
    assert _probe("post", rw_secret).status_code == 201


def test_api_token_command_prints_a_working_token_last(personas):
    out = StringIO()
    call_command("api_token", personas.auditor.email.upper(), stdout=out)
    secret = out.getvalue().strip().splitlines()[-1]

    token = ApiToken.objects.get(user=personas.auditor)
    assert token.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert _probe("get", secret).data == {"email": personas.auditor.email}
    api = Client().get("/api/v1/ai-systems/", HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert api.status_code == 200


def test_api_token_command_unknown_user_fails(db):
    with pytest.raises(CommandError):
        call_command("api_token", "nobody@acme.test", stdout=StringIO())
    assert not ApiToken.objects.exists()


# --- Demo data -------------------------------------------------------------------------------

DEMO_ROLES = {
    "risk@demo.test": ("Demo AI Ltd", Role.RISK_OWNER),
    "auditor@demo.test": ("Demo AI Ltd", Role.AUDITOR),
    "manager@demo.test": ("Demo AI Ltd", Role.MANAGER),
    "admin@demo.test": ("Demo AI Ltd", Role.ADMIN),
    "other@demo.test": ("Other Co", Role.RISK_OWNER),
}


def _counts() -> tuple[int, int, int]:
    return User.objects.count(), Team.objects.count(), Membership.objects.count()


def test_seed_demo_is_idempotent_and_uses_demo_password(db, monkeypatch):
    monkeypatch.setenv("DEMO_PASSWORD", "Demo-passphrase-for-tests-42")
    call_command("seed_demo", stdout=StringIO())
    first = _counts()
    call_command("seed_demo", stdout=StringIO())
    assert _counts() == first

    for email, (team, role) in DEMO_ROLES.items():
        assert Membership.objects.get(user__email=email, team__name=team).role == role
    assert not Membership.objects.filter(user__email="other@demo.test", team__name="Demo AI Ltd")
    for email in DEMO_ROLES:
        assert User.objects.get(email=email).password.startswith("argon2")
    r = _login(Client(), "auditor@demo.test", "Demo-passphrase-for-tests-42")
    assert r.status_code == 302


def test_seed_demo_prints_a_generated_password(db, monkeypatch):
    monkeypatch.delenv("DEMO_PASSWORD", raising=False)
    out = StringIO()
    call_command("seed_demo", stdout=out)
    text = out.getvalue()
    password = re.search(r"password for all: (\S+?)[ )]", text).group(1)
    for email in DEMO_ROLES:
        assert email in text
    assert _login(Client(), "admin@demo.test", password).status_code == 302
    # Running it again keeps the printed password working (it is kept in the data dir).
    again = StringIO()
    call_command("seed_demo", stdout=again)
    assert f"password for all: {password} " in again.getvalue()
    assert _login(Client(), "risk@demo.test", password).status_code == 302


# --- Health ----------------------------------------------------------------------------------


def test_healthz_reports_database_and_broker(db):
    r = Client().get("/healthz")
    assert r.status_code == 200
    assert r["Content-Type"] == "application/json"
    body = r.json()
    assert body["database"] == "ok"
    assert body["broker"] in {"ok", "in-process"}
    assert body["status"] == "ok"
