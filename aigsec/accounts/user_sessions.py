"""Server-side sessions: a UserSession row per logged-in session, so that a user's sessions
can be listed and ended (sign out elsewhere, password change, deactivation, leaving the last
team) without scanning the session store.

Times kept in the session itself (seconds since the epoch) drive the idle timeout and the
absolute lifetime (middleware_security.py). The records of sessions nobody ended are deleted
once past their retention (`user_sessions_prune`, daily)."""

from __future__ import annotations

import contextlib
import time
from datetime import timedelta
from importlib import import_module
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from aigsec.audit.services import audit_record

from .models import ApiToken, User, UserSession
from .net import client_ip

LOGIN_AT = "aigsec_login_at"
SEEN_AT = "aigsec_seen_at"
ROW_ID = "aigsec_user_session"
# last-activity is written at most this often: a session write per request would cost a
# database write per page.
TOUCH_EVERY = 60


def _store(session_key: str):
    return import_module(settings.SESSION_ENGINE).SessionStore(session_key=session_key)


def live_cutoffs() -> tuple[Any, Any]:
    """A session last seen before the first, or created before the second, has ended (the
    middleware refuses it), whether or not its row is still there."""
    now = timezone.now()
    idle = timedelta(seconds=settings.SESSION_IDLE_TIMEOUT + TOUCH_EVERY)
    return now - idle, now - timedelta(seconds=settings.SESSION_ABSOLUTE_LIFETIME)


def live_sessions(user: User):
    seen_after, created_after = live_cutoffs()
    return UserSession.objects.filter(
        user=user, last_seen_at__gt=seen_after, created_at__gt=created_after
    )


def user_session_start(*, request: Any, user: User) -> None:
    """At log-in (the user_logged_in signal), after Django has rotated the session key."""
    session = request.session
    if session.session_key is None:
        session.save()
    now = time.time()
    session[LOGIN_AT] = now
    session[SEEN_AT] = now
    ip = client_ip(request) if getattr(request, "META", None) else None
    agent = (request.META.get("HTTP_USER_AGENT", "") if hasattr(request, "META") else "")[:300]
    seen_after, created_after = live_cutoffs()
    with transaction.atomic():
        # A re-login in the same browser rotates the key: the old row is stale.
        if session.get(ROW_ID):
            UserSession.objects.filter(pk=session[ROW_ID]).delete()
        UserSession.objects.filter(user=user, last_seen_at__lte=seen_after).delete()
        UserSession.objects.filter(user=user, created_at__lte=created_after).delete()
        row, _ = UserSession.objects.update_or_create(
            session_key=session.session_key,
            defaults={"user": user, "ip": ip or None, "user_agent": agent},
        )
    session[ROW_ID] = row.pk


def user_session_touch(*, request: Any) -> None:
    """Record activity (idle timeout), at most once per TOUCH_EVERY seconds."""
    now = time.time()
    if now - request.session.get(SEEN_AT, 0) < TOUCH_EVERY:
        return
    request.session[SEEN_AT] = now
    UserSession.objects.filter(session_key=request.session.session_key).update(
        last_seen_at=timezone.now()
    )


def user_session_forget(*, session_key: str | None) -> None:
    """At log-out: the session itself is flushed by Django."""
    if session_key:
        UserSession.objects.filter(session_key=session_key).delete()


def user_session_rekeyed(*, old_key: str | None, new_key: str | None) -> None:
    """Django rotated the key of a logged-in session (password change): follow it."""
    if old_key and new_key and old_key != new_key:
        UserSession.objects.filter(session_key=old_key).update(session_key=new_key)


def user_sessions_end(
    *, user: User, reason: str, actor: User | None = None, keep_session_key: str | None = None
) -> int:
    """End every session of the user (but `keep_session_key`), server-side. Returns how many
    live sessions were ended."""
    with transaction.atomic():
        rows = list(
            UserSession.objects.select_for_update()
            .filter(user=user)
            .exclude(session_key=keep_session_key or "")
        )
        for row in rows:
            _store(row.session_key).delete()
        UserSession.objects.filter(pk__in=[r.pk for r in rows]).delete()
        seen_after, created_after = live_cutoffs()
        ended = sum(1 for r in rows if r.last_seen_at > seen_after and r.created_at > created_after)
        audit_record(
            "session.ended",
            actor=actor,
            target=f"user:{user.pk}",
            data={"reason": reason, "sessions": ended, "kept_current": bool(keep_session_key)},
        )
    return ended


def user_sessions_prune(*, retention_days: int | None = None) -> int:
    """Delete the UserSession records of sessions that have ended (idle or past their
    lifetime) and were last active more than `retention_days` ago (default
    SESSION_RECORD_RETENTION_DAYS); then clear the expired entries of the session store
    (Django's clearsessions). Live sessions are never touched. Returns how many records were
    deleted; recorded as `session.records_pruned`, in the same transaction.

    Until then, the record of a session nobody ended (the browser was closed) keeps its times,
    IP and browser for the retention period; a person's next sign-in removes their own."""
    days = settings.SESSION_RECORD_RETENTION_DAYS if retention_days is None else retention_days
    if days < 1:
        raise ValueError(f"The retention is at least 1 day, not {days}.")
    seen_after, created_after = live_cutoffs()
    older_than = timezone.now() - timedelta(days=days)
    ended = Q(last_seen_at__lte=seen_after) | Q(created_at__lte=created_after)
    with transaction.atomic():
        deleted, _ = UserSession.objects.filter(ended, last_seen_at__lt=older_than).delete()
        audit_record(
            "session.records_pruned",
            data={"deleted": deleted, "retention_days": days, "last_seen_before": older_than},
        )
    # Every store of Django's implements it; a custom one may not.
    with contextlib.suppress(NotImplementedError):
        import_module(settings.SESSION_ENGINE).SessionStore.clear_expired()
    return deleted


def api_tokens_revoke_all(*, user: User, reason: str, actor: User | None = None) -> int:
    with transaction.atomic():
        ids = list(
            ApiToken.objects.select_for_update()
            .filter(user=user, revoked_at__isnull=True)
            .values_list("pk", flat=True)
        )
        ApiToken.objects.filter(pk__in=ids).update(revoked_at=timezone.now())
        for pk in ids:
            audit_record(
                "token.revoked", actor=actor, target=f"token:{pk}", data={"reason": reason}
            )
    return len(ids)


def user_deactivate(*, user: User, actor: User | None = None) -> dict[str, int]:
    """Deactivate an account: it can no longer sign in, every session ends and every API
    token is revoked, in one transaction."""
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user.pk)
        was_active = user.is_active
        user.is_active = False
        user.save(update_fields=["is_active"])
        sessions = user_sessions_end(user=user, reason="deactivated", actor=actor)
        tokens = api_tokens_revoke_all(user=user, reason="deactivated", actor=actor)
        if was_active:
            audit_record(
                "user.deactivated",
                actor=actor,
                target=f"user:{user.pk}",
                data={"sessions_ended": sessions, "tokens_revoked": tokens},
            )
    return {"sessions": sessions, "tokens": tokens}


def user_left_last_team(*, user_id: int, actor: User | None) -> None:
    """After a membership is removed: someone who belongs to no team any more has no use for
    a session or a token, so both end. Someone still in other teams keeps them: access to the
    team they left is refused on the next request anyway (roles are read per request)."""
    from .models import Membership

    if Membership.objects.filter(user_id=user_id).exists():
        return
    user = User.objects.get(pk=user_id)
    user_sessions_end(user=user, reason="removed_from_last_team", actor=actor)
    api_tokens_revoke_all(user=user, reason="removed_from_last_team", actor=actor)
