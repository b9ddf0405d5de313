"""Members and roles, managed by a team's admin: add, change a role, remove, the last admin kept,
and who may not. Personas come from conftest (admin, risk owner, auditor, manager of "Acme AI";
the stranger is the admin of "Other Co")."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from aigsec.accounts.models import Membership, Role, Team, User
from aigsec.audit.models import AuditEvent
from tests.factories import PASSWORD

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


# --- Members and roles (team admin) --------------------------------------------------------


def _members_url(p) -> str:
    return reverse("members", args=[p.team.pk])


def _membership(user: User, team: Team) -> Membership:
    return Membership.objects.get(user=user, team=team)


def test_admin_sees_members_page(personas):
    r = personas.client(personas.admin).get(_members_url(personas))
    assert r.status_code == 200
    for u in (personas.admin, personas.risk_owner, personas.auditor, personas.manager):
        assert u.email in r.content.decode()
    assert personas.stranger.email not in r.content.decode()


def test_admin_adds_new_person(personas):
    c = personas.client(personas.admin)
    r = c.post(_members_url(personas), {"email": "New.Person@Acme.test", "role": Role.AUDITOR})

    assert r.status_code == 302
    assert r.url == _members_url(personas)
    user = User.objects.get(email="new.person@acme.test")
    assert not user.has_usable_password()
    assert _membership(user, personas.team).role == Role.AUDITOR
    [ev] = _events("member.added")
    assert ev.actor == personas.admin.pk
    assert ev.team == personas.team.pk
    assert ev.target == f"user:{user.pk}"
    assert ev.data == {"email": "new.person@acme.test", "role": "auditor", "new_account": True}


def test_admin_adds_existing_account_without_creating_one(personas):
    users_before = User.objects.count()
    c = personas.client(personas.admin)
    r = c.post(_members_url(personas), {"email": personas.stranger.email, "role": Role.MANAGER})
    assert r.status_code == 302
    assert User.objects.count() == users_before
    assert _membership(personas.stranger, personas.team).role == Role.MANAGER
    assert _events("member.added")[0].data["new_account"] is False


def test_adding_an_existing_member_is_a_form_error(personas):
    c = personas.client(personas.admin)
    count = Membership.objects.count()
    r = c.post(_members_url(personas), {"email": personas.auditor.email, "role": Role.MANAGER})

    assert r.status_code == 400
    assert "already a member" in " ".join(r.context["form"].errors["email"])
    assert Membership.objects.count() == count
    assert _membership(personas.auditor, personas.team).role == Role.AUDITOR
    assert not _events("member.added")


def test_adding_with_unknown_role_is_a_form_error(personas):
    c = personas.client(personas.admin)
    r = c.post(_members_url(personas), {"email": "x@acme.test", "role": "superuser"})
    assert r.status_code == 400
    assert "role" in r.context["form"].errors
    assert not User.objects.filter(email="x@acme.test").exists()


def test_admin_changes_role(personas):
    m = _membership(personas.auditor, personas.team)
    r = personas.client(personas.admin).post(
        reverse("member_role", args=[m.pk]), {"role": Role.MANAGER}
    )
    assert r.status_code == 302
    assert r.url == _members_url(personas)
    m.refresh_from_db()
    assert m.role == Role.MANAGER
    [ev] = _events("member.role_changed")
    assert ev.actor == personas.admin.pk
    assert ev.team == personas.team.pk
    assert ev.target == f"user:{personas.auditor.pk}"
    assert ev.data == {"old": "auditor", "new": "manager"}


def test_bad_role_value_changes_nothing(personas):
    m = _membership(personas.auditor, personas.team)
    c = personas.client(personas.admin)
    r = c.post(reverse("member_role", args=[m.pk]), {"role": "owner"}, follow=True)
    assert r.status_code == 200
    assert "Choose one of the listed roles." in [str(x) for x in r.context["messages"]]
    m.refresh_from_db()
    assert m.role == Role.AUDITOR
    assert not _events("member.role_changed")


def test_admin_removes_member(personas):
    m = _membership(personas.risk_owner, personas.team)
    r = personas.client(personas.admin).post(reverse("member_remove", args=[m.pk]))
    assert r.status_code == 302
    assert not Membership.objects.filter(pk=m.pk).exists()
    assert User.objects.filter(pk=personas.risk_owner.pk).exists()  # the account stays
    [ev] = _events("member.removed")
    assert ev.actor == personas.admin.pk
    assert ev.team == personas.team.pk
    assert ev.data == {"role": "risk_owner"}


@pytest.mark.parametrize("how", ["demote", "remove"])
def test_last_admin_cannot_be_demoted_or_removed(personas, how):
    m = _membership(personas.admin, personas.team)
    c = personas.client(personas.admin)
    if how == "demote":
        r = c.post(reverse("member_role", args=[m.pk]), {"role": Role.AUDITOR}, follow=True)
    else:
        r = c.post(reverse("member_remove", args=[m.pk]), follow=True)

    assert r.status_code == 200
    assert "A team needs at least one admin." in [str(x) for x in r.context["messages"]]
    m.refresh_from_db()
    assert m.role == Role.ADMIN
    assert not _events("member.role_changed")
    assert not _events("member.removed")


def test_an_admin_can_step_down_when_another_admin_remains(personas):
    second = _membership(personas.manager, personas.team)
    c = personas.client(personas.admin)
    c.post(reverse("member_role", args=[second.pk]), {"role": Role.ADMIN})
    mine = _membership(personas.admin, personas.team)
    r = c.post(reverse("member_role", args=[mine.pk]), {"role": Role.RISK_OWNER})
    assert r.status_code == 302
    mine.refresh_from_db()
    assert mine.role == Role.RISK_OWNER
    assert Membership.objects.filter(team=personas.team, role=Role.ADMIN).count() == 1


@pytest.mark.parametrize("who", ["risk_owner", "auditor", "manager"])
def test_non_admins_get_403_on_member_management(personas, who):
    user = getattr(personas, who)
    c = personas.client(user)
    victim = _membership(personas.risk_owner, personas.team)
    requests = [
        ("get", _members_url(personas), None),
        ("post", _members_url(personas), {"email": "sneak@acme.test", "role": Role.ADMIN}),
        ("post", reverse("member_role", args=[victim.pk]), {"role": Role.ADMIN}),
        ("post", reverse("member_remove", args=[victim.pk]), {}),
    ]
    for method, url, data in requests:
        r = getattr(c, method)(url, data) if data is not None else getattr(c, method)(url)
        assert r.status_code == 403, (method, url)

    denied = _events("access.denied", actor=user.pk)
    assert len(denied) == len(requests)
    assert all(ev.team == personas.team.pk for ev in denied)
    victim.refresh_from_db()
    assert victim.role == Role.RISK_OWNER
    assert not User.objects.filter(email="sneak@acme.test").exists()
    assert not _events("member.added") and not _events("member.role_changed")


def test_stranger_gets_404_on_another_teams_members(personas):
    c = personas.client(personas.stranger)
    victim = _membership(personas.auditor, personas.team)
    admin_m = _membership(personas.admin, personas.team)
    requests = [
        ("get", _members_url(personas), None),
        ("post", _members_url(personas), {"email": "sneak@other.test", "role": Role.ADMIN}),
        ("post", reverse("member_role", args=[victim.pk]), {"role": Role.ADMIN}),
        ("post", reverse("member_role", args=[admin_m.pk]), {"role": Role.AUDITOR}),
        ("post", reverse("member_remove", args=[victim.pk]), {}),
        ("post", reverse("member_remove", args=[admin_m.pk]), {}),
    ]
    for method, url, data in requests:
        r = getattr(c, method)(url, data) if data is not None else getattr(c, method)(url)
        assert r.status_code == 404, (method, url)
        assert personas.auditor.email not in r.content.decode()

    denied = _events("access.denied", actor=personas.stranger.pk)
    assert len(denied) == len(requests)
    assert {ev.team for ev in denied} == {personas.team.pk}
    assert {ev.target for ev in denied} == {
        f"team:{personas.team.pk}",
        f"membership:{victim.pk}",
        f"membership:{admin_m.pk}",
    }
    assert Membership.objects.filter(team=personas.team).count() == 4
    victim.refresh_from_db()
    assert victim.role == Role.AUDITOR


def test_unknown_membership_is_404(personas):
    c = personas.client(personas.admin)
    assert c.post(reverse("member_role", args=[999_999_999]), {"role": "admin"}).status_code == 404
    assert c.post(reverse("member_remove", args=[999_999_999])).status_code == 404
