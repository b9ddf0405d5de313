"""Writes for users, teams, memberships and API tokens. Each one records an audit event in the
same transaction."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.text import slugify

from aigsec.audit.services import audit_record
from aigsec.core.teamcache import team_changed

from .models import ApiToken, Membership, Role, Team, User
from .user_sessions import user_left_last_team


def team_create(*, name: str, actor: User | None = None) -> Team:
    with transaction.atomic():
        team = Team.objects.create(name=name, slug=slugify(name)[:120])
        audit_record(
            "team.created", actor=actor, team=team, target=f"team:{team.pk}", data={"name": name}
        )
    return team


def _lock_team_memberships(team: Team) -> list[Membership]:
    return list(Membership.objects.select_for_update().filter(team=team))


def _admin_count_after(members: list[Membership], change_pk: int, new_role: str | None) -> int:
    return sum(
        1
        for m in members
        if (new_role if m.pk == change_pk else m.role) == Role.ADMIN
        and not (m.pk == change_pk and new_role is None)
    )


def membership_add(*, team: Team, email: str, role: str, actor: User | None) -> Membership:
    """Add a person to a team; creates the account (no usable password) if it is new."""
    email = User.objects.normalize_email(email).strip().lower()
    if role not in Role.values:
        raise ValidationError({"role": "Unknown role."})
    with transaction.atomic():
        user = User.objects.filter(email__iexact=email).first()
        created = user is None
        if user is None:
            user = User.objects.create_user(email=email, password=None)
        if Membership.objects.filter(team=team, user=user).exists():
            raise ValidationError({"email": "This person is already a member of the team."})
        m = Membership.objects.create(team=team, user=user, role=role)
        audit_record(
            "member.added",
            actor=actor,
            team=team,
            target=f"user:{user.pk}",
            data={"email": email, "role": role, "new_account": created},
        )
        team_changed(team)
    return m


def membership_change_role(*, membership: Membership, role: str, actor: User | None) -> Membership:
    if role not in Role.values:
        raise ValidationError({"role": "Unknown role."})
    with transaction.atomic():
        members = _lock_team_memberships(membership.team)
        current = next(m for m in members if m.pk == membership.pk)
        old = current.role
        if old == role:
            return current
        if _admin_count_after(members, current.pk, role) == 0:
            raise ValidationError({"role": "A team needs at least one admin."})
        current.role = role
        current.save(update_fields=["role"])
        audit_record(
            "member.role_changed",
            actor=actor,
            team=current.team_id,
            target=f"user:{current.user_id}",
            data={"old": old, "new": role},
        )
        team_changed(current.team_id)
    return current


def membership_remove(*, membership: Membership, actor: User | None) -> None:
    with transaction.atomic():
        members = _lock_team_memberships(membership.team)
        current = next((m for m in members if m.pk == membership.pk), None)
        if current is None:
            return
        if _admin_count_after(members, current.pk, None) == 0:
            raise ValidationError({"role": "A team needs at least one admin."})
        current.delete()
        audit_record(
            "member.removed",
            actor=actor,
            team=membership.team_id,
            target=f"user:{membership.user_id}",
            data={"role": membership.role},
        )
        team_changed(membership.team_id)
        # The team is unreachable at once (roles are read per request); leaving the last team
        # also ends the person's sessions and tokens (docs/authentication.md).
        user_left_last_team(user_id=membership.user_id, actor=actor)


def _token_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


TOKEN_MAX_LIFETIME = timedelta(days=365)


def api_token_create(
    *, user: User, name: str, read_only: bool = False, lifetime: timedelta | None = None
) -> tuple[ApiToken, str]:
    """Returns the token row and the secret, which is never stored and never shown again.
    Every token expires, within a year at most."""
    name = (name or "").strip()
    if lifetime is None:
        lifetime = settings.API_TOKEN_DEFAULT_LIFETIME
    if not name or len(name) > ApiToken._meta.get_field("name").max_length:
        raise ValidationError({"name": "Give the token a name of up to 100 characters."})
    if not timedelta(days=1) <= lifetime <= TOKEN_MAX_LIFETIME:
        raise ValidationError({"days": "A token is valid for 1 to 365 days."})
    secret = "aig_" + secrets.token_urlsafe(32)
    with transaction.atomic():
        token = ApiToken.objects.create(
            user=user,
            name=name,
            prefix=secret[:12],
            token_hash=_token_digest(secret),
            read_only=read_only,
            expires_at=timezone.now() + lifetime,
        )
        audit_record(
            "token.created",
            actor=user,
            target=f"token:{token.pk}",
            data={"name": name, "read_only": read_only, "expires_at": token.expires_at.isoformat()},
        )
    return token, secret


class TokenRefused(Exception):
    """A presented token that does not authenticate; the message says why."""


def api_token_authenticate(secret: str) -> ApiToken:
    """The token for a presented secret, with its user, or TokenRefused with the reason.
    Naming the reason (expired, revoked) tells nothing to someone without the secret."""
    token = ApiToken.objects.select_related("user").filter(token_hash=_token_digest(secret)).first()
    if token is None:
        raise TokenRefused("Invalid token.")
    if token.revoked_at is not None:
        raise TokenRefused("This token has been revoked.")
    if token.expires_at <= timezone.now():
        raise TokenRefused(f"This token expired on {token.expires_at:%Y-%m-%d}.")
    if not token.user.is_active:
        raise TokenRefused("The account of this token is deactivated.")
    return token


def api_token_lookup(secret: str) -> ApiToken | None:
    """The usable token for a secret, or None."""
    try:
        return api_token_authenticate(secret)
    except TokenRefused:
        return None


LAST_USED_RESOLUTION = timedelta(minutes=1)


def api_token_mark_used(*, token: ApiToken) -> None:
    """Record use at most once a minute: a write per API request would double its cost. The
    condition is in the UPDATE, so concurrent requests write once between them."""
    now = timezone.now()
    if token.last_used_at is not None and now - token.last_used_at < LAST_USED_RESOLUTION:
        return
    ApiToken.objects.filter(pk=token.pk).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_RESOLUTION)
    ).update(last_used_at=now)


def api_token_revoke(*, token: ApiToken, actor: User) -> None:
    with transaction.atomic():
        revoked = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
        if revoked:  # revoking twice is harmless and records nothing new
            audit_record("token.revoked", actor=actor, target=f"token:{token.pk}")
