"""Writes for users, teams, memberships and API tokens. Each one records an audit event in the
same transaction."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from aigsec.audit.services import audit_record

from .models import ApiToken, Membership, Role, Team, User


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


def _token_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def api_token_create(
    *, user: User, name: str, read_only: bool = False, lifetime: timedelta | None = None
) -> tuple[ApiToken, str]:
    """Returns the token row and the secret, which is never stored and never shown again."""
    secret = "aig_" + secrets.token_urlsafe(32)
    with transaction.atomic():
        token = ApiToken.objects.create(
            user=user,
            name=name,
            prefix=secret[:12],
            token_hash=_token_digest(secret),
            read_only=read_only,
            expires_at=timezone.now() + (lifetime or settings.API_TOKEN_DEFAULT_LIFETIME),
        )
        audit_record(
            "token.created",
            actor=user,
            target=f"token:{token.pk}",
            data={"name": name, "read_only": read_only, "expires_at": token.expires_at.isoformat()},
        )
    return token, secret


def api_token_lookup(secret: str) -> ApiToken | None:
    token = (
        ApiToken.objects.select_related("user")
        .filter(
            token_hash=_token_digest(secret),
            revoked_at__isnull=True,
            expires_at__gt=timezone.now(),
            user__is_active=True,
        )
        .first()
    )
    return token


def api_token_revoke(*, token: ApiToken, actor: User) -> None:
    with transaction.atomic():
        revoked = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
        if revoked:  # revoking twice is harmless and records nothing new
            audit_record("token.revoked", actor=actor, target=f"token:{token.pk}")
