"""Second factor: enrolment with the secret shown, two-step sign-in through the real forms,
recovery codes, lockout, enforcement for admins and for teams that require it."""

from __future__ import annotations

import re
import time
from base64 import b32encode
from datetime import timedelta

import pyotp
import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from aigsec.accounts import lockout
from aigsec.accounts.forms import GENERIC_LOCKED
from aigsec.accounts.mfa import mfa_enable, mfa_setup_device
from aigsec.accounts.models import Membership, Team, User
from aigsec.accounts.services import api_token_create
from aigsec.audit.models import AuditEvent
from tests.conftest import login_with_second_factor
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

SECRET_RE = re.compile(r'<code id="mfa-secret">([A-Z2-7 ]+)</code>')


def _events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("seq"))


def _logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def _code(secret: str, steps_ahead: int = 0) -> str:
    # A step ahead is within the accepted window and is a new code after one was used now
    # (a TOTP code is accepted once: django-otp remembers the last step used).
    return pyotp.TOTP(secret).at(time.time() + 30 * steps_ahead)


def _secret(device: TOTPDevice) -> str:
    return b32encode(device.bin_key).decode()


def _device_for(user: User) -> tuple[TOTPDevice, str]:
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    return device, _secret(device)


def _enrolled(user: User) -> tuple[str, list[str]]:
    """Enrolled through the service, with a code computed from the device's secret."""
    device = mfa_setup_device(user=user)
    secret = _secret(device)
    return secret, mfa_enable(user=user, device=device, code=_code(secret))


def _password_step(client: Client, email: str, ip: str = "10.0.0.1"):
    return client.post(reverse("login"), {"username": email, "password": PASSWORD}, REMOTE_ADDR=ip)


def _code_step(client: Client, code: str, ip: str = "10.0.0.1"):
    return client.post(reverse("mfa_verify"), {"code": code}, REMOTE_ADDR=ip)


def _unthrottle(user: User) -> None:
    """django-otp delays a device after a wrong code (1 s, then 2 s, ...): move the failure
    into the past instead of sleeping."""
    past = timezone.now() - timedelta(minutes=5)
    TOTPDevice.objects.filter(user=user).update(throttling_failure_timestamp=past)
    StaticDevice.objects.filter(user=user).update(throttling_failure_timestamp=past)


# --- Enrolment ---------------------------------------------------------------------------------


def test_enrolment_shows_qr_and_secret_confirms_with_a_code_and_shows_codes_once(personas):
    user = personas.risk_owner
    c = personas.client(user)
    page = c.get(reverse("mfa_setup"))
    assert page.status_code == 200
    html = page.content.decode()
    assert 'src="data:image/svg+xml' in html  # the QR code, inline: no request elsewhere
    secret = SECRET_RE.search(html).group(1).replace(" ", "")
    assert f"secret={secret}" in html  # the otpauth link carries the same secret
    assert page["Cache-Control"].startswith("max-age=0")
    # Reloading keeps the same secret until it is confirmed.
    assert secret in c.get(reverse("mfa_setup")).content.decode().replace(" ", "")

    wrong = c.post(reverse("mfa_setup"), {"code": "000000"})
    assert wrong.status_code == 400
    assert "not valid" in wrong.content.decode()
    assert not TOTPDevice.objects.filter(user=user, confirmed=True).exists()
    assert not _events("mfa.enabled")
    _unthrottle(user)

    r = c.post(reverse("mfa_setup"), {"code": _code(secret)})

    assert r.status_code == 200
    codes = r.context["codes"]
    assert len(codes) == 10 and len(set(codes)) == 10
    assert all(code in r.content.decode() for code in codes)
    device = TOTPDevice.objects.get(user=user)
    assert device.confirmed
    # Stored only as hashes: no code, in any spelling, is in the table.
    stored = set(StaticToken.objects.filter(device__user=user).values_list("token", flat=True))
    assert len(stored) == 10
    assert not stored & ({c.replace("-", "") for c in codes} | set(codes))
    [ev] = _events("mfa.enabled")
    assert ev.actor == user.pk
    assert not any(code in str(ev.data) for code in codes)
    # This session is now verified with the new device, and the codes are not shown again.
    assert c.session[DEVICE_ID_SESSION_KEY] == device.persistent_id
    status = c.get(reverse("mfa_setup"))
    assert status.status_code == 200
    assert not any(code in status.content.decode() for code in codes)
    assert "10</strong> unused recovery codes" in status.content.decode()
    assert c.get(reverse("home")).status_code == 200


def test_enrolment_cannot_be_confirmed_twice(personas):
    user = personas.risk_owner
    _enrolled(user)
    c = login_with_second_factor(Client(), user)
    r = c.post(reverse("mfa_setup"), {"code": "123456"})
    assert r.status_code == 302  # the status page; nothing is re-enrolled
    assert TOTPDevice.objects.filter(user=user).count() == 1


# --- Two-step sign-in ------------------------------------------------------------------------


def test_login_with_totp_goes_through_two_steps(personas):
    user = personas.risk_owner
    secret, _codes = _enrolled(user)
    c = Client()
    c.get(reverse("login"))
    anonymous_key = c.session.session_key

    r = _password_step(c, user.email.upper())

    assert r.status_code == 302
    assert r.url == reverse("mfa_verify")
    assert not _logged_in(c), "a correct password alone must not log in"
    pending_key = c.session.session_key
    assert pending_key != anonymous_key
    assert c.get(reverse("home")).url.startswith(reverse("login"))
    assert c.get("/api/v1/ai-systems/").status_code in (401, 403)
    assert not _events("auth.login")
    assert c.get(reverse("mfa_verify")).status_code == 200

    r = _code_step(c, _code(secret, 1))

    assert r.status_code == 302
    assert r.url == reverse("home")
    assert int(c.session["_auth_user_id"]) == user.pk
    assert c.session.session_key not in (anonymous_key, pending_key)
    assert c.session[DEVICE_ID_SESSION_KEY] == TOTPDevice.objects.get(user=user).persistent_id
    assert c.get(reverse("home")).status_code == 200
    [ev] = _events("auth.login")
    assert ev.actor == user.pk


def test_next_is_kept_across_the_second_step(personas):
    user = personas.risk_owner
    _device, secret = _device_for(user)
    c = Client()
    r = c.post(
        reverse("login") + "?next=/evidence/", {"username": user.email, "password": PASSWORD}
    )
    assert r.url == reverse("mfa_verify")
    assert _code_step(c, _code(secret)).url == "/evidence/"


def test_wrong_code_is_refused_recorded_and_counted_toward_the_lockout(personas, settings):
    user = personas.risk_owner
    _device, secret = _device_for(user)
    c = Client()
    _password_step(c, user.email, ip="10.5.0.1")

    r = _code_step(c, "000000", ip="10.5.0.1")

    assert r.status_code == 400
    assert "not valid" in r.content.decode()
    assert not _logged_in(c)
    [ev] = _events("login.mfa_failed")
    assert ev.actor == user.pk
    assert ev.data == {"kind": "totp", "ip": "10.5.0.1", "purpose": "login"}
    (email_key, _), (ip_key, _) = lockout._keys(user.email, "10.5.0.1")
    from django.core.cache import cache

    assert cache.get(email_key) == 1
    assert cache.get(ip_key) == 1
    # Typing the password again must not reset the count (it would allow endless guessing).
    _password_step(c, user.email, ip="10.5.0.1")
    assert cache.get(email_key) == 1
    # A correct code still works (once django-otp's short delay after a wrong one is over).
    _unthrottle(user)
    assert _code_step(c, _code(secret), ip="10.5.0.1").status_code == 302
    assert _logged_in(c)
    assert cache.get(email_key) is None  # a complete sign-in resets it


def test_too_many_wrong_codes_lock_the_account_out(personas, settings):
    user = personas.risk_owner
    _device, secret = _device_for(user)
    c = Client()
    _password_step(c, user.email)
    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        _unthrottle(user)
        assert _code_step(c, "111111").status_code == 400

    _unthrottle(user)
    r = _code_step(c, _code(secret))

    assert r.status_code == 429
    assert GENERIC_LOCKED in r.content.decode()
    assert not _logged_in(c)
    # The half-way state is gone, and the password step is locked too.
    assert _code_step(c, _code(secret)).url == reverse("login")
    again = Client()
    assert GENERIC_LOCKED in _password_step(again, user.email).content.decode()
    assert not _logged_in(again)
    assert len(_events("login.mfa_failed")) == settings.LOGIN_FAILURE_LIMIT


def test_second_step_without_password_step_goes_back_to_login(personas):
    r = Client().post(reverse("mfa_verify"), {"code": "123456"})
    assert r.status_code == 302
    assert r.url == reverse("login")
    assert not _events("login.mfa_failed")


def test_half_way_state_expires(personas):
    user = personas.risk_owner
    _device, secret = _device_for(user)
    c = Client()
    _password_step(c, user.email)
    session = c.session
    session["aigsec_mfa_pending"]["at"] -= 301
    session.save()
    assert _code_step(c, _code(secret)).url == reverse("login")
    assert not _logged_in(c)


# --- Recovery codes ----------------------------------------------------------------------------


def test_recovery_code_signs_in_once(personas):
    user = personas.risk_owner
    _totp, codes = _enrolled(user)
    c = Client()
    _password_step(c, user.email)

    r = _code_step(c, codes[0].upper().replace("-", " "))  # typed loosely

    assert r.status_code == 302
    assert _logged_in(c)
    [ev] = _events("mfa.recovery_code_used")
    assert ev.actor == user.pk
    assert ev.data["left"] == 9
    assert codes[0] not in str(ev.data)
    assert StaticToken.objects.filter(device__user=user).count() == 9
    assert "9 left" in c.get(reverse("home")).content.decode()

    again = Client()
    _password_step(again, user.email)
    refused = _code_step(again, codes[0])
    assert refused.status_code == 400
    assert not _logged_in(again)
    _unthrottle(user)
    assert _code_step(again, codes[1]).status_code == 302


def test_new_recovery_codes_replace_the_old_ones(personas):
    user = personas.risk_owner
    secret, old = _enrolled(user)
    c = login_with_second_factor(Client(), user)

    r = c.post(reverse("mfa_manage"), {"action": "codes", "code": _code(secret, 1)})

    assert r.status_code == 200
    new = r.context["codes"]
    assert len(new) == 10 and not set(new) & set(old)
    assert _events("mfa.recovery_codes_regenerated")
    assert c.get(reverse("home")).status_code == 200  # the session stays verified
    login = Client()
    _password_step(login, user.email)
    assert _code_step(login, old[0]).status_code == 400
    _unthrottle(user)
    assert _code_step(login, new[0]).status_code == 302


def test_manage_actions_need_a_current_code(personas):
    user = personas.risk_owner
    _enrolled(user)
    c = login_with_second_factor(Client(), user)
    for action in ("codes", "replace", "disable"):
        _unthrottle(user)
        r = c.post(reverse("mfa_manage"), {"action": action, "code": "000000"})
        assert r.status_code == 400, action
    assert c.post(reverse("mfa_manage"), {"action": "bogus"}).status_code == 400
    assert TOTPDevice.objects.filter(user=user, confirmed=True).count() == 1
    assert StaticToken.objects.filter(device__user=user).count() == 10
    assert not _events("mfa.disabled") and not _events("mfa.recovery_codes_regenerated")


def test_move_to_a_new_app_keeps_the_old_one_until_the_new_one_works(personas):
    user = personas.admin
    old_secret, _codes = _enrolled(user)
    old = TOTPDevice.objects.get(user=user, confirmed=True)
    c = login_with_second_factor(Client(), user)

    r = c.post(reverse("mfa_manage"), {"action": "replace", "code": _code(old_secret, 1)})
    assert r.url == reverse("mfa_setup")
    page = c.get(reverse("mfa_setup"))
    new_secret = SECRET_RE.search(page.content.decode()).group(1).replace(" ", "")
    assert new_secret != old_secret
    assert TOTPDevice.objects.filter(pk=old.pk, confirmed=True).exists()

    r = c.post(reverse("mfa_setup"), {"code": _code(new_secret)})

    assert r.status_code == 200 and len(r.context["codes"]) == 10
    assert not TOTPDevice.objects.filter(pk=old.pk).exists()
    assert TOTPDevice.objects.filter(user=user, confirmed=True).count() == 1
    assert c.get(reverse("home")).status_code == 200
    assert _events("mfa.enabled")[-1].data["replaced"] is True


# --- Turning it off ----------------------------------------------------------------------------


@pytest.mark.parametrize("proof", ["code", "password"])
def test_member_turns_mfa_off_with_a_code_or_the_password(personas, proof):
    user = personas.auditor
    secret, _codes = _enrolled(user)
    c = login_with_second_factor(Client(), user)
    wrong = {"code": "999999"} if proof == "code" else {"password": "not-my-password-9"}
    assert c.post(reverse("mfa_manage"), {"action": "disable", **wrong}).status_code == 400
    assert TOTPDevice.objects.filter(user=user).exists()
    _unthrottle(user)
    good = {"code": _code(secret, 1)} if proof == "code" else {"password": PASSWORD}

    r = c.post(reverse("mfa_manage"), {"action": "disable", **good})

    assert r.status_code == 302
    assert not TOTPDevice.objects.filter(user=user).exists()
    assert not StaticDevice.objects.filter(user=user).exists()
    [ev] = _events("mfa.disabled")
    assert ev.actor == user.pk
    assert c.get(reverse("home")).status_code == 200  # not required: still signed in
    plain = Client()
    assert _password_step(plain, user.email).url == reverse("home")  # one step again


def test_admin_cannot_turn_mfa_off(personas):
    _totp, _codes = _enrolled(personas.admin)
    c = login_with_second_factor(Client(), personas.admin)
    r = c.post(reverse("mfa_manage"), {"action": "disable", "password": PASSWORD})
    assert r.status_code == 403
    assert "required" in r.content.decode()
    assert TOTPDevice.objects.filter(user=personas.admin, confirmed=True).exists()
    assert not _events("mfa.disabled")


def test_member_of_a_team_requiring_mfa_cannot_turn_it_off(personas):
    Team.objects.filter(pk=personas.team.pk).update(require_mfa=True)
    _enrolled(personas.manager)
    c = login_with_second_factor(Client(), personas.manager)
    r = c.post(reverse("mfa_manage"), {"action": "disable", "password": PASSWORD})
    assert r.status_code == 403
    assert TOTPDevice.objects.filter(user=personas.manager).exists()


# --- Enforcement -------------------------------------------------------------------------------


def test_admin_without_a_device_can_only_set_it_up(personas):
    admin = personas.admin
    assert not TOTPDevice.objects.filter(user=admin).exists()
    c = Client()
    r = _password_step(c, admin.email)
    assert r.url == reverse("home")  # logged in by the password (they have no second factor)

    for url in (
        reverse("home"),
        reverse("members", args=[personas.team.pk]),
        reverse("tokens"),
        reverse("sessions"),
        reverse("password_change"),
        "/evidence/",
    ):
        r = c.get(url)
        assert r.status_code == 302, url
        assert r.url == reverse("mfa_setup"), url
    r = c.post(reverse("members", args=[personas.team.pk]), {"email": "x@acme.test"})
    assert r.url == reverse("mfa_setup")
    assert not User.objects.filter(email="x@acme.test").exists()
    api = c.get("/api/v1/ai-systems/")
    assert api.status_code == 403
    assert api.json()["detail"].startswith("Set up two-factor authentication")
    page = c.get(reverse("mfa_setup"))
    assert page.status_code == 200
    assert "requires a second factor" in page.content.decode()

    # A bearer token is separate: it was made by a verified user and keeps working.
    _token, secret = api_token_create(user=admin, name="ci")
    with_token = c.get("/api/v1/ai-systems/", HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert with_token.status_code == 200

    totp = SECRET_RE.search(page.content.decode()).group(1).replace(" ", "")
    assert c.post(reverse("mfa_setup"), {"code": _code(totp)}).status_code == 200
    assert c.get(reverse("members", args=[personas.team.pk])).status_code == 200
    assert c.get("/api/v1/ai-systems/").status_code == 200


def test_logout_stays_reachable_while_setup_is_pending(personas):
    c = Client()
    c.force_login(personas.admin)
    assert c.get(reverse("home")).url == reverse("mfa_setup")
    r = c.post(reverse("logout"))
    assert r.url == reverse("login")
    assert not _logged_in(c)


def test_session_opened_before_enrolment_elsewhere_is_logged_out(personas):
    user = personas.risk_owner
    old = Client()
    old.force_login(user)
    assert old.get(reverse("home")).status_code == 200
    _enrolled(user)  # in another browser

    r = old.get(reverse("home"))

    assert r.status_code == 302
    assert r.url.startswith(reverse("login"))
    assert not _logged_in(old)
    assert _events("session.expired")[-1].data == {"reason": "second factor not verified"}


def test_team_admin_requires_mfa_for_the_whole_team(personas):
    admin_client = personas.client(personas.admin)
    members_url = reverse("members", args=[personas.team.pk])
    page = admin_client.get(members_url)
    assert page.status_code == 200
    assert reverse("team_mfa", args=[personas.team.pk]) in page.content.decode()
    risk = personas.client(personas.risk_owner)
    stranger_team_member = Membership.objects.create(
        user=User.objects.create_user("out@other.test", PASSWORD),
        team=personas.other_team,
        role="auditor",
    ).user
    other = personas.client(stranger_team_member)
    assert risk.get(reverse("home")).status_code == 200

    r = admin_client.post(reverse("team_mfa", args=[personas.team.pk]), {"require_mfa": "on"})

    assert r.status_code == 302
    assert r.url == members_url
    personas.team.refresh_from_db()
    assert personas.team.require_mfa
    [ev] = _events("team.mfa_required_changed")
    assert (ev.actor, ev.team, ev.data) == (
        personas.admin.pk,
        personas.team.pk,
        {"old": False, "new": True},
    )
    assert risk.get(reverse("home")).url == reverse("mfa_setup")
    assert risk.get("/api/v1/ai-systems/").status_code == 403
    assert other.get(reverse("home")).status_code == 200  # another team: unaffected
    # Setting the same value again records nothing.
    admin_client.post(reverse("team_mfa", args=[personas.team.pk]), {"require_mfa": "on"})
    assert len(_events("team.mfa_required_changed")) == 1

    admin_client.post(reverse("team_mfa", args=[personas.team.pk]), {})  # box unticked
    personas.team.refresh_from_db()
    assert not personas.team.require_mfa
    assert risk.get(reverse("home")).status_code == 200


@pytest.mark.parametrize("who", ["risk_owner", "auditor", "manager", "stranger"])
def test_only_the_teams_admin_can_change_the_requirement(personas, who):
    c = personas.client(getattr(personas, who))
    r = c.post(reverse("team_mfa", args=[personas.team.pk]), {"require_mfa": "on"})
    assert r.status_code == (404 if who == "stranger" else 403)
    personas.team.refresh_from_db()
    assert not personas.team.require_mfa
    assert not _events("team.mfa_required_changed")
    [denied] = _events("access.denied")
    assert denied.actor == getattr(personas, who).pk


def test_members_page_shows_who_has_a_second_factor(personas):
    _enrolled(personas.auditor)
    c = personas.client(personas.admin)
    r = c.get(reverse("members", args=[personas.team.pk]))
    rows = {m.user_id for m in r.context["rows"] if m.user_id in r.context["mfa_users"]}
    assert rows == {personas.auditor.pk, personas.admin.pk}


def test_demo_admin_gets_a_device_and_its_secret_is_printed(db, monkeypatch):
    from io import StringIO

    from django.core.management import call_command

    monkeypatch.setenv("DEMO_PASSWORD", "Demo-passphrase-for-tests-42")
    out = StringIO()
    call_command("seed_demo", stdout=out)
    text = out.getvalue()
    secret = re.search(r"secret ([A-Z2-7]+)", text).group(1)
    admin = User.objects.get(email="admin@demo.test")
    assert _secret(TOTPDevice.objects.get(user=admin, confirmed=True)) == secret
    assert "otpauth://totp/" in text
    # The printed secret signs the demo admin in through both steps.
    c = Client()
    r = c.post(
        reverse("login"),
        {"username": "admin@demo.test", "password": "Demo-passphrase-for-tests-42"},
    )
    assert r.url == reverse("mfa_verify")
    assert _code_step(c, _code(secret)).url == reverse("home")
    assert c.get(reverse("home")).status_code == 200
    # Seeding again keeps the same secret.
    again = StringIO()
    call_command("seed_demo", stdout=again)
    assert f"secret {secret}" in again.getvalue()
    assert django_settings.OTP_TOTP_ISSUER == "aigsec"
