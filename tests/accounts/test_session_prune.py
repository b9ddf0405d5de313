"""Records of ended sessions are pruned once past their retention (SESSION_RECORD_RETENTION_DAYS,
90 days after their last activity): the service, the `prune_sessions` command and the daily
beat task, against PostgreSQL. Live sessions and recent records are never touched; expired
entries of the session store go too."""

from __future__ import annotations

import datetime as dt
from importlib import import_module
from io import StringIO

import pytest
from django.conf import settings as django_settings
from django.contrib.sessions.models import Session
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from aigsec.accounts.models import UserSession
from aigsec.accounts.tasks import prune_sessions
from aigsec.accounts.user_sessions import user_sessions_prune
from aigsec.audit.models import AuditEvent
from tests.conftest import login_with_second_factor
from tests.core.test_deploy_settings import _env, _python
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

DAY = dt.timedelta(days=1)


def _record(user, *, created_days_ago: float, seen_days_ago: float) -> UserSession:
    now = timezone.now()
    return UserSession.objects.create(
        user=user,
        session_key=f"k{UserSession.objects.count()}-{user.pk}-{seen_days_ago}".replace(".", "_"),
        created_at=now - created_days_ago * DAY,
        last_seen_at=now - seen_days_ago * DAY,
        ip="192.0.2.7",
        user_agent="Browser/1.0",
    )


@pytest.fixture
def records(personas):
    other = UserFactory(email="someone@else.test")
    return {
        "live": _record(personas.risk_owner, created_days_ago=0.05, seen_days_ago=0.0001),
        "ended_yesterday": _record(personas.risk_owner, created_days_ago=1, seen_days_ago=1),
        "ended_89_days_ago": _record(personas.auditor, created_days_ago=89.5, seen_days_ago=89),
        "ended_91_days_ago": _record(personas.auditor, created_days_ago=91, seen_days_ago=91),
        "ended_400_days_ago": _record(other, created_days_ago=400, seen_days_ago=400),
        # Past its absolute lifetime long ago, but active within the retention: kept.
        "long_lived": _record(other, created_days_ago=120, seen_days_ago=30),
    }


def _left() -> set[int]:
    return set(UserSession.objects.values_list("pk", flat=True))


def test_records_past_the_retention_are_deleted_and_audited(records):
    assert django_settings.SESSION_RECORD_RETENTION_DAYS == 90
    assert user_sessions_prune() == 2
    gone = {records["ended_91_days_ago"].pk, records["ended_400_days_ago"].pk}
    assert _left() == {r.pk for r in records.values()} - gone
    [event] = AuditEvent.objects.filter(action="session.records_pruned")
    assert event.data["deleted"] == 2 and event.data["retention_days"] == 90
    assert event.actor is None
    # Nothing left to do: a second run deletes nothing, and says so.
    assert user_sessions_prune() == 0
    assert AuditEvent.objects.filter(action="session.records_pruned").count() == 2


def test_a_shorter_retention_prunes_more_but_never_a_live_session(records):
    assert user_sessions_prune(retention_days=1) == 5
    assert _left() == {records["live"].pk}
    with pytest.raises(ValueError, match="at least 1 day"):
        user_sessions_prune(retention_days=0)
    assert _left() == {records["live"].pk}


def test_a_signed_in_session_survives_and_an_abandoned_one_is_cleared(personas):
    """Real sign-ins: one browser left open and used, one closed long ago (its record and its
    session-store entry linger, as nobody logged out)."""
    kept, abandoned = Client(), Client()
    login_with_second_factor(kept, personas.risk_owner)
    login_with_second_factor(abandoned, personas.auditor)
    # Sign-in (the user_logged_in signal) wrote a record for each.
    assert UserSession.objects.filter(user=personas.risk_owner).count() == 1
    assert UserSession.objects.filter(user=personas.auditor).count() == 1
    old_key = abandoned.session.session_key
    long_ago = timezone.now() - 100 * DAY
    UserSession.objects.filter(session_key=old_key).update(
        created_at=long_ago, last_seen_at=long_ago
    )
    Session.objects.filter(session_key=old_key).update(expire_date=long_ago)

    assert user_sessions_prune() == 1
    assert not UserSession.objects.filter(session_key=old_key).exists()
    store = import_module(django_settings.SESSION_ENGINE).SessionStore
    assert not store().exists(old_key)
    assert store().exists(kept.session.session_key)
    assert UserSession.objects.filter(session_key=kept.session.session_key).exists()
    assert kept.get(reverse("sessions")).status_code == 200


def test_the_command_prunes_and_reports(records):
    out = StringIO()
    call_command("prune_sessions", stdout=out)
    assert out.getvalue().strip() == (
        "2 session record(s) last active more than 90 day(s) ago deleted."
    )
    out = StringIO()
    call_command("prune_sessions", "--days", "7", stdout=out)
    assert out.getvalue().startswith("2 session record(s) last active more than 7 day(s)")
    assert _left() == {records["live"].pk, records["ended_yesterday"].pk}
    with pytest.raises(CommandError, match="at least 1 day"):
        call_command("prune_sessions", "--days", "0")
    assert _left() == {records["live"].pk, records["ended_yesterday"].pk}


def test_the_daily_beat_task_runs_the_service(records):
    entry = django_settings.CELERY_BEAT_SCHEDULE["sessions-prune-daily"]
    assert entry["task"] == prune_sessions.name
    when = entry["schedule"]  # once a day, every day
    assert (len(when.minute), len(when.hour), len(when.day_of_week)) == (1, 1, 7)
    assert len(when.day_of_month) == 31 and len(when.month_of_year) == 12
    assert prune_sessions.apply().get() == 2
    assert len(_left()) == len(records) - 2


@pytest.mark.parametrize("value", ["0", "3651", "-5"])
def test_a_retention_out_of_bounds_stops_start_up(tmp_path, value):
    env = _env(tmp_path, DJANGO_DEBUG="1", SESSION_RECORD_RETENTION_DAYS=value)
    result = _python("import django; django.setup()", env)
    assert result.returncode != 0
    assert "SESSION_RECORD_RETENTION_DAYS must be between 1 and 3650" in result.stderr
