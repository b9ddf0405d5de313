"""The one door to tenant data.

Every view, API endpoint and task fetches tenant objects through these functions. They scope by
team membership and role: an object of a team the user does not belong to is a 404 (its
existence is not revealed), a role that lacks the permission is a 403. Both are recorded in the
audit trail.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, TypeVar

from django.core.exceptions import PermissionDenied
from django.db.models import F, Model, QuerySet
from django.http import Http404

from aigsec.accounts.models import Membership, Role
from aigsec.audit.services import audit_record

M = TypeVar("M", bound=Model)


class Perm(StrEnum):
    VIEW = "view"  # read everything of the team
    EDIT = "edit"  # AI systems, assessments (create, copy, status)
    ANSWER = "answer"  # responses, owners, evidence
    REVIEW = "review"  # accept / reject / request changes
    COMMENT = "comment"  # write in the comment thread of an answer (managers only read it)
    REPORT = "report"  # request signed reports (download and exports need only VIEW)
    MANAGE = "manage"  # members, roles, team settings, custom frameworks
    AUDIT = "audit"  # read the audit trail
    APPROVE = (
        "approve"  # sign off an assessment (makes it final; four eyes: assessments/signoff.py)
    )


ROLE_PERMS: dict[str, frozenset[Perm]] = {
    Role.ADMIN: frozenset(
        {
            Perm.VIEW,
            Perm.EDIT,
            Perm.ANSWER,
            Perm.COMMENT,
            Perm.REPORT,
            Perm.MANAGE,
            Perm.AUDIT,
            Perm.APPROVE,
        }
    ),
    Role.RISK_OWNER: frozenset({Perm.VIEW, Perm.EDIT, Perm.ANSWER, Perm.COMMENT}),
    # Auditors judge; they never edit what they judge (separation of duties).
    Role.AUDITOR: frozenset({Perm.VIEW, Perm.REVIEW, Perm.COMMENT, Perm.AUDIT}),
    Role.MANAGER: frozenset({Perm.VIEW, Perm.EDIT, Perm.REPORT, Perm.APPROVE}),
}


def role_allows(role: str, perm: Perm) -> bool:
    return perm in ROLE_PERMS.get(role, frozenset())


def _team_path(model: type[Model]) -> str:
    return getattr(model, "TEAM_PATH", "team")


_MAX_ID = 2**63 - 1


def _as_id(value: Any) -> int:
    """A database id from user input, or 404: out-of-range numbers must not reach the DB."""
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise Http404("Not found.") from None
    if not 0 < n <= _MAX_ID:
        raise Http404("Not found.")
    return n


def teams_with_perm(user: Any, perm: Perm) -> list[int]:
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return []
    roles = [r for r, perms in ROLE_PERMS.items() if perm in perms]
    return list(
        Membership.objects.filter(user=user, role__in=roles).values_list("team_id", flat=True)
    )


def scope_for_user(user: Any, qs: QuerySet[M], perm: Perm = Perm.VIEW) -> QuerySet[M]:
    """Narrow a queryset to the teams in which `user` holds `perm`."""
    path = _team_path(qs.model)
    teams = teams_with_perm(user, perm)
    return qs.filter(**{f"{path}__in": teams})


def record_denial(user: Any, obj_label: str, reason: str, team_id: int | None) -> None:
    """Record a refusal as `access.denied` (target e.g. `response:42`). The door does it for
    every refusal of its own; a service refusing for a rule of its own (who may comment)
    calls it before raising PermissionDenied."""
    audit_record(
        "access.denied",
        actor=user if getattr(user, "is_authenticated", False) else None,
        team=team_id,
        target=obj_label,
        data={"reason": reason},
    )


def get_for_user(user: Any, qs: QuerySet[M], pk: Any, perm: Perm = Perm.VIEW) -> M:
    """Fetch one tenant object the user may act on with `perm`, or raise 404 / 403."""
    model = qs.model
    label = f"{model._meta.model_name}:{pk}"
    path = _team_path(model)
    pk = _as_id(pk)
    # Fetch unscoped first (one query, team id annotated) so a refusal can be recorded.
    obj = qs.filter(pk=pk).annotate(_team_id=F(path)).first()
    if obj is None:
        raise Http404("Not found.")
    team_id = obj._team_id
    role = _role_in(user, team_id)
    if role is None:
        record_denial(user, label, "not a member of the owning team", team_id)
        raise Http404("Not found.")
    if not role_allows(role, perm):
        record_denial(user, label, f"role {role} lacks {perm}", team_id)
        raise PermissionDenied(f"Your role ({Role(role).label}) does not allow this.")
    return obj


def role_in_team(user: Any, team_id: int) -> str | None:
    """The user's current role in a team (None for strangers and inactive users), read fresh:
    for services deciding a write. Views go through get_for_user, which caches per request."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return None
    return (
        Membership.objects.filter(user=user, team_id=team_id).values_list("role", flat=True).first()
    )


def _role_in(user: Any, team_id: int) -> str | None:
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return None
    cache = getattr(user, "_aigsec_roles", None)
    if cache is None:
        cache = dict(Membership.objects.filter(user=user).values_list("team_id", "role"))
        user._aigsec_roles = cache
    return cache.get(team_id)


def get_membership_for_user(user: Any, team_id: Any, perm: Perm = Perm.VIEW) -> Membership:
    """The user's membership of a team, checked for `perm`; 404 for a team not theirs."""
    team_id = _as_id(team_id)
    m = (
        Membership.objects.select_related("team").filter(user=user, team_id=team_id).first()
        if getattr(user, "is_authenticated", False)
        else None
    )
    if m is None:
        record_denial(user, f"team:{team_id}", "not a member", team_id)
        raise Http404("Not found.")
    if not role_allows(m.role, perm):
        record_denial(user, f"team:{team_id}", f"role {m.role} lacks {perm}", team_id)
        raise PermissionDenied(f"Your role ({m.get_role_display()}) does not allow this.")
    return m


def current_membership_for_user(request: Any, perm: Perm = Perm.VIEW) -> Membership:
    """The membership of the team the request works in (request.membership), checked."""
    if not request.membership:
        raise Http404("You are not a member of any team.")
    return get_membership_for_user(request.user, request.membership.team_id, perm)


def can_in_current_team(request: Any, team_id: int, perm: Perm) -> bool:
    """For templates: whether to offer an action. The door still checks when it is used."""
    m = request.membership
    return bool(m) and m.team_id == team_id and role_allows(m.role, perm)
