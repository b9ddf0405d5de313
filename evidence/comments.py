"""Comment threads per response: the risk owner and the auditor discuss an answer.

Comments are immutable. Risk owners, admins and auditors of the team write; managers read.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import OuterRef
from django.db.models.functions import Coalesce

from aigsec.accounts.models import Role, User
from aigsec.audit.services import audit_record
from aigsec.core.access import Perm, record_denial, role_allows, role_in_team
from aigsec.core.paging import subquery_count
from aigsec.core.teamcache import team_changed
from assessments.errors import AssessmentLocked
from assessments.models import Assessment, Response

from .models import ResponseComment

MAX_BODY = 5000
COMMENTER_ROLES = frozenset({Role.RISK_OWNER, Role.ADMIN, Role.AUDITOR})


def _check_author(author: User, team_id: int, response: Response) -> None:
    role = role_in_team(author, team_id)
    if role is None or not role_allows(role, Perm.VIEW) or role not in COMMENTER_ROLES:
        label = Role(role).label if role else "not a member"
        reason = f"role {role} may not comment" if role else "not a member of the owning team"
        record_denial(author, f"response:{response.pk}", reason, team_id)
        raise PermissionDenied(f"Your role ({label}) may not comment.")


def comment_add(*, response: Response, author: User, body: str) -> ResponseComment:
    """Add a comment. Raises PermissionDenied (role may not comment; recorded as
    access.denied), ValidationError (empty or too long) or AssessmentLocked (the assessment
    is final)."""
    team_id = Assessment.objects.values_list("team_id", flat=True).get(pk=response.assessment_id)
    _check_author(author, team_id, response)
    body = (body or "").strip()
    if not body:
        raise ValidationError({"body": "Write a comment."})
    if len(body) > MAX_BODY:
        raise ValidationError({"body": f"A comment has at most {MAX_BODY} characters."})
    with transaction.atomic():
        locked = Response.objects.select_for_update().get(pk=response.pk)
        assessment = Assessment.objects.get(pk=locked.assessment_id)
        if assessment.is_locked:
            raise AssessmentLocked(assessment)
        comment = ResponseComment.objects.create(response=locked, author=author, body=body)
        audit_record(
            "response.commented",
            actor=author,
            team=team_id,
            target=f"response:{locked.pk}",
            data={"comment": comment.pk, "length": len(body)},
        )
        team_changed(team_id)
    return comment


def comments_for_responses(response_ids: Iterable[int]) -> dict[int, list[ResponseComment]]:
    """id -> the thread of each response, oldest first; one query."""
    ids = list(response_ids)
    out: dict[int, list[ResponseComment]] = {i: [] for i in ids}
    if not ids:
        return out
    for c in (
        ResponseComment.objects.filter(response_id__in=ids)
        .select_related("author")
        .order_by("created_at", "id")
    ):
        out[c.response_id].append(c)
    return out


def comment_count() -> Coalesce:
    """Annotation for a Response queryset: the number of comments in its thread."""
    return subquery_count(ResponseComment.objects.filter(response_id=OuterRef("pk")), "response_id")


def may_comment(request, team_id: int, assessment: Assessment) -> bool:
    """For templates: whether to offer the comment form. comment_add still checks."""
    m = getattr(request, "membership", None)
    return (
        bool(m) and m.team_id == team_id and m.role in COMMENTER_ROLES and not assessment.is_locked
    )
