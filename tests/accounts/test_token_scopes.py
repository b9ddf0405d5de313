"""API tokens: scope (read / write), expiry, shown once, stored hashed, listed and revoked in the
UI, the `api_token` command, and that a token never grants more than the user's current role.

Through the real URLconf and authentication classes, against PostgreSQL. The older, narrower
token tests live in tests/accounts/test_accounts.py.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from aigsec.accounts.models import ApiToken, Membership, Role, TokenScope, User
from aigsec.accounts.services import (
    api_token_create,
    membership_change_role,
    membership_remove,
)
from aigsec.audit.models import AuditEvent
from tests.factories import MembershipFactory, make_assessment

API = "/api/v1"


def bearer(secret: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


@pytest.fixture
def assessment(personas):
    return make_assessment(team=personas.team, actor=personas.risk_owner)


def _days_left(token: ApiToken) -> float:
    return (token.expires_at - timezone.now()).total_seconds() / 86400


def _response(assessment):
    return assessment.responses.order_by("control__order", "id").first()


def _patch(client: APIClient, response):
    response.refresh_from_db()
    return client.patch(
        f"{API}/responses/{response.pk}/",
        {"version": response.version, "status": "full", "justification": "Done."},
        format="json",
    )


# --- Scope --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "/ai-systems/", {"name": "New system", "purpose": "x"}),
        ("put", "/ai-systems/{system}/", {"name": "Renamed", "purpose": "x"}),
        ("patch", "/ai-systems/{system}/", {"name": "Renamed"}),
        ("delete", "/ai-systems/{system}/", None),
        ("patch", "/responses/{response}/", {"version": 1, "status": "full"}),
        ("post", "/evidence/", {"title": "N", "note": "x"}),
    ],
)
def test_read_token_reads_but_every_write_is_403_with_reason(
    personas, assessment, method, path, body
):
    _, secret = api_token_create(user=personas.risk_owner, name="dash", read_only=True)
    client = bearer(secret)
    response = _response(assessment)
    url = API + path.format(system=assessment.ai_system_id, response=response.pk)
    assert client.get(f"{API}/assessments/{assessment.pk}/").status_code == 200
    events_before = AuditEvent.objects.count()

    r = getattr(client, method)(url, body, format="json")

    assert r.status_code == 403
    assert "this token is read-only" in r.json()["detail"].lower()
    assert AuditEvent.objects.count() == events_before  # nothing was written
    assessment.ai_system.refresh_from_db()
    assert assessment.ai_system.name != "Renamed"
    response.refresh_from_db()
    assert response.version == 1


def test_write_token_writes(personas, assessment):
    _, secret = api_token_create(user=personas.risk_owner, name="ci")
    r = _patch(bearer(secret), _response(assessment))
    assert r.status_code == 200, r.content
    assert r.json()["version"] == 2


# --- Expired, revoked, deactivated: 401 with the reason -------------------------------------


def test_expired_revoked_deactivated_and_unknown_tokens_are_401_with_reason(personas):
    expired, s_expired = api_token_create(user=personas.manager, name="old")
    ApiToken.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(hours=1))
    revoked, s_revoked = api_token_create(user=personas.manager, name="gone")
    ApiToken.objects.filter(pk=revoked.pk).update(revoked_at=timezone.now())
    _, s_inactive = api_token_create(user=personas.auditor, name="leaver")
    User.objects.filter(pk=personas.auditor.pk).update(is_active=False)

    for secret, reason in (
        (s_expired, "expired"),
        (s_revoked, "revoked"),
        (s_inactive, "deactivated"),
        ("aig_" + "x" * 43, "invalid token"),
    ):
        r = bearer(secret).get(f"{API}/ai-systems/")
        assert r.status_code == 401, reason
        assert reason in r.json()["detail"].lower()
        assert r["WWW-Authenticate"] == "Bearer"


def test_token_still_valid_shortly_before_expiry(personas):
    token, secret = api_token_create(user=personas.manager, name="edge")
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() + timedelta(seconds=30))
    assert bearer(secret).get(f"{API}/ai-systems/").status_code == 200


# --- Never more than the current role -------------------------------------------------------


def test_demoted_risk_owner_token_can_no_longer_answer(personas, assessment):
    _, secret = api_token_create(user=personas.risk_owner, name="ci")
    client = bearer(secret)
    response = _response(assessment)
    assert _patch(client, response).status_code == 200

    membership = Membership.objects.get(user=personas.risk_owner, team=personas.team)
    membership_change_role(membership=membership, role=Role.AUDITOR, actor=personas.admin)

    r = _patch(client, response)
    assert r.status_code == 403
    assert "Auditor" in r.json()["detail"]
    response.refresh_from_db()
    assert response.version == 2
    # Still a member: the auditor's own permission (view) is what is left.
    assert client.get(f"{API}/responses/{response.pk}/").status_code == 200


def test_token_of_a_user_removed_from_the_team_finds_nothing(personas, assessment):
    # Still in another team, so the account and its tokens live on (leaving the last team
    # ends them altogether: tests of aigsec/accounts/user_sessions.py).
    MembershipFactory(user=personas.risk_owner, team=personas.other_team, role=Role.AUDITOR)
    _, secret = api_token_create(user=personas.risk_owner, name="ci")
    client = bearer(secret)
    response = _response(assessment)
    assert client.get(f"{API}/responses/{response.pk}/").status_code == 200

    membership = Membership.objects.get(user=personas.risk_owner, team=personas.team)
    membership_remove(membership=membership, actor=personas.admin)

    assert client.get(f"{API}/responses/{response.pk}/").status_code == 404
    assert _patch(client, response).status_code == 404
    assert client.get(f"{API}/assessments/").json()["count"] == 0
    assert client.get(f"{API}/ai-systems/").status_code == 200  # the token itself still works


def test_token_of_a_deactivated_user_is_401_everywhere(personas, assessment):
    _, secret = api_token_create(user=personas.risk_owner, name="ci")
    client = bearer(secret)
    assert client.get(f"{API}/assessments/").status_code == 200
    User.objects.filter(pk=personas.risk_owner.pk).update(is_active=False)
    assert client.get(f"{API}/assessments/").status_code == 401
    assert _patch(client, _response(assessment)).status_code == 401


def test_stranger_token_gets_404_on_the_other_teams_objects(personas, assessment):
    _, secret = api_token_create(user=personas.stranger, name="theirs")
    client = bearer(secret)
    response = _response(assessment)
    assert client.get(f"{API}/responses/{response.pk}/").status_code == 404
    assert _patch(client, response).status_code == 404


# --- The tokens page: create, shown once, hashed, listed, revoked ---------------------------


def test_token_is_shown_once_never_cached_and_stored_only_as_a_hash(personas):
    c = personas.client(personas.risk_owner)
    r = c.post(reverse("tokens"), {"name": "Nightly export", "scope": "read", "days": "7"})

    assert r.status_code == 200
    secret = r.context["secret"]
    assert secret in r.content.decode()
    assert "no-store" in r["Cache-Control"]
    token = ApiToken.objects.get(user=personas.risk_owner)
    assert (token.name, token.read_only, token.scope) == ("Nightly export", True, TokenScope.READ)
    assert _days_left(token) == pytest.approx(7, abs=0.01)
    assert token.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    # Nowhere in the database: neither the token table nor the audit trail.
    assert secret not in repr(list(ApiToken.objects.values_list()))
    assert secret not in repr(list(AuditEvent.objects.values_list()))
    # Reloading the page (a GET) never shows it again.
    again = c.get(reverse("tokens"))
    assert secret not in again.content.decode()
    assert secret[12:] not in again.content.decode()
    # And it works, read-only.
    assert bearer(secret).get(f"{API}/ai-systems/").status_code == 200
    assert bearer(secret).post(f"{API}/ai-systems/", {"name": "x"}).status_code == 403


def test_token_list_shows_name_scope_dates_last_use_and_status(personas, settings):
    user = personas.manager
    active, secret = api_token_create(user=user, name="alpha-rw", lifetime=timedelta(days=30))
    expired, _ = api_token_create(user=user, name="bravo-ro", read_only=True)
    ApiToken.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(days=1))
    revoked, _ = api_token_create(user=user, name="charlie-ro", read_only=True)
    c = personas.client(user)
    c.post(reverse("token_revoke", args=[revoked.pk]))
    bearer(secret).get(f"{API}/ai-systems/")
    api_token_create(user=personas.admin, name="not-mine")

    with CaptureQueriesContext(connection) as ctx:
        page = c.get(reverse("tokens"))
    html = page.content.decode()
    rows = {t.name: t for t in page.context["rows"]}

    assert set(rows) == {"alpha-rw", "bravo-ro", "charlie-ro"}
    assert [rows[n].state for n in ("alpha-rw", "bravo-ro", "charlie-ro")] == [
        "active",
        "expired",
        "revoked",
    ]
    active.refresh_from_db()
    for text in (
        "read-write",
        "read-only",
        f"{active.created_at:%Y-%m-%d}",
        f"{active.expires_at:%Y-%m-%d}",
        f"{active.last_used_at:%Y-%m-%d %H:%M}",
        ">never<",
        ">expired<",
        ">revoked<",
        ">active<",
    ):
        assert text in html, text
    assert "not-mine" not in html
    # One revoke button: for the two tokens not yet revoked (expired ones can be revoked too).
    assert html.count('class="secondary outline">Revoke') == 2
    # Queries: session, user, memberships (header), tokens; the same with 3 tokens or 30.
    token_queries = [q for q in ctx.captured_queries if "accounts_apitoken" in q["sql"]]
    assert len(token_queries) == 1


def test_form_defaults_are_read_only_and_the_configured_lifetime(personas, settings):
    settings.API_TOKEN_DEFAULT_LIFETIME = timedelta(days=30)
    form = personas.client(personas.admin).get(reverse("tokens")).context["form"]
    assert form["scope"].value() == TokenScope.READ
    assert form["days"].value() == 30
    assert [d for d, _ in form.fields["days"].choices] == [7, 30, 90, 365]
    assert "never" not in str(form["days"]).lower()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "", "scope": "read", "days": "30"}, "name"),
        ({"name": "   ", "scope": "read", "days": "30"}, "name"),
        ({"name": "x" * 101, "scope": "read", "days": "30"}, "name"),
        ({"name": "ci", "scope": "read", "days": "1000"}, "days"),
        ({"name": "ci", "scope": "read", "days": "14"}, "days"),
        ({"name": "ci", "scope": "read", "days": "0"}, "days"),
        ({"name": "ci", "scope": "read", "days": "abc"}, "days"),
        ({"name": "ci", "scope": "read", "days": ""}, "days"),
        ({"name": "ci", "scope": "admin", "days": "30"}, "scope"),
        ({"name": "ci", "days": "30"}, "scope"),
    ],
    ids=repr,
)
def test_invalid_token_form_is_400_with_a_field_error_and_creates_nothing(personas, body, field):
    r = personas.client(personas.risk_owner).post(reverse("tokens"), body)
    assert r.status_code == 400
    assert field in r.context["form"].errors
    assert r.context["secret"] is None
    assert not ApiToken.objects.exists()
    assert not AuditEvent.objects.filter(action="token.created").exists()


def test_service_refuses_a_token_longer_than_a_year_or_without_a_name(personas):
    with pytest.raises(ValidationError):
        api_token_create(user=personas.admin, name="x", lifetime=timedelta(days=366))
    with pytest.raises(ValidationError):
        api_token_create(user=personas.admin, name="x", lifetime=timedelta(0))
    with pytest.raises(ValidationError):
        api_token_create(user=personas.admin, name=" ")
    assert not ApiToken.objects.exists()


def test_create_and_revoke_are_audited_without_the_secret(personas):
    c = personas.client(personas.risk_owner)
    secret = c.post(reverse("tokens"), {"name": "ci", "scope": "write", "days": "90"}).context[
        "secret"
    ]
    token = ApiToken.objects.get()
    [created] = AuditEvent.objects.filter(action="token.created")
    assert created.actor == personas.risk_owner.pk
    assert created.target == f"token:{token.pk}"
    assert created.data["read_only"] is False and created.data["name"] == "ci"
    assert secret not in str(created.data)

    assert c.post(reverse("token_revoke", args=[token.pk])).status_code == 302
    [revoked] = AuditEvent.objects.filter(action="token.revoked")
    assert revoked.target == f"token:{token.pk}"
    r = bearer(secret).get(f"{API}/ai-systems/")
    assert r.status_code == 401 and "revoked" in r.json()["detail"]


def test_stranger_cannot_revoke_a_token_of_another_teams_user(personas):
    token, secret = api_token_create(user=personas.risk_owner, name="victim")
    r = personas.client(personas.stranger).post(reverse("token_revoke", args=[token.pk]))
    assert r.status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None
    assert bearer(secret).get(f"{API}/ai-systems/").status_code == 200
    # Not even the victim's own team admin may revoke it from this page: it is per account.
    assert personas.client(personas.admin).post(
        reverse("token_revoke", args=[token.pk])
    ).status_code == (404)
    assert not AuditEvent.objects.filter(action="token.revoked").exists()


# --- last_used_at: at most one write a minute -------------------------------------------------


def _token_updates(ctx) -> list[str]:
    return [
        q["sql"] for q in ctx.captured_queries if q["sql"].startswith('UPDATE "accounts_apitoken"')
    ]


def test_last_used_is_written_at_most_once_a_minute(personas):
    token, secret = api_token_create(user=personas.auditor, name="poll")
    client = bearer(secret)
    with CaptureQueriesContext(connection) as first:
        assert client.get(f"{API}/ai-systems/").status_code == 200
    token.refresh_from_db()
    stamp = token.last_used_at
    assert stamp is not None and len(_token_updates(first)) == 1

    with CaptureQueriesContext(connection) as again:
        for _ in range(3):
            assert client.get(f"{API}/ai-systems/").status_code == 200
    token.refresh_from_db()
    assert token.last_used_at == stamp
    assert _token_updates(again) == []

    ApiToken.objects.filter(pk=token.pk).update(last_used_at=stamp - timedelta(seconds=61))
    client.get(f"{API}/ai-systems/")
    token.refresh_from_db()
    assert token.last_used_at > stamp


# --- The command --------------------------------------------------------------------------------


def _command(*args: str) -> tuple[ApiToken, str, str]:
    out = StringIO()
    call_command("api_token", *args, stdout=out)
    secret = out.getvalue().strip().splitlines()[-1]
    token = ApiToken.objects.get(token_hash=hashlib.sha256(secret.encode()).hexdigest())
    return token, secret, out.getvalue()


def test_command_defaults_to_a_read_write_token_with_the_default_lifetime(personas):
    token, secret, _ = _command(personas.risk_owner.email)
    assert (token.name, token.scope) == ("cli", TokenScope.WRITE)
    assert _days_left(token) == pytest.approx(90, abs=0.01)
    assert bearer(secret).post(f"{API}/evidence/", {"title": "N", "note": "x"}).status_code == 201


def test_command_name_scope_and_days(personas):
    token, secret, out = _command(
        personas.auditor.email, "--name", "dashboards", "--scope", "read", "--days", "7"
    )
    assert (token.name, token.scope) == ("dashboards", TokenScope.READ)
    assert _days_left(token) == pytest.approx(7, abs=0.01)
    assert "Read-only" in out
    assert bearer(secret).get(f"{API}/assessments/").status_code == 200
    assert bearer(secret).post(f"{API}/ai-systems/", {"name": "x"}).status_code == 403
    legacy, _, _ = _command(personas.auditor.email, "--read-only")
    assert legacy.scope == TokenScope.READ


@pytest.mark.parametrize("args", [("--days", "366"), ("--days", "0"), ("--name", "  ")])
def test_command_refuses_bad_input_and_creates_nothing(personas, args):
    with pytest.raises(CommandError):
        call_command("api_token", personas.auditor.email, *args, stdout=StringIO())
    assert not ApiToken.objects.exists()
