"""Writes of the review loop: an auditor's decision on an answer or an evidence item, and a
message in the comment thread of an answer. Both are immutable history; both are audited.

Who may do what is the door's (aigsec/core/access.py): `review` for decisions, `comment` for
messages (managers read threads but do not write in them).
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from aigsec.accounts.models import Role, User
from aigsec.audit.services import audit_record
from aigsec.core.access import Perm, record_denial, role_allows, role_in_team
from aigsec.core.teamcache import team_changed
from assessments.errors import AssessmentLocked
from assessments.models import Assessment, Response, ResponseStatus
from evidence.models import EvidenceItem, EvidenceRevision

from .errors import ReviewConflict
from .models import ResponseComment, Review, ReviewDecision

MAX_COMMENT = 5000


def _check_reviewer(reviewer: User, team_id: int) -> None:
    role = role_in_team(reviewer, team_id)
    if role is None or not role_allows(role, Perm.REVIEW):
        label = Role(role).label if role else "not a member"
        raise PermissionDenied(f"Only auditors review ({label}).")


def review_check_input(*, decision: str, comment: str) -> str:
    """The decision and comment as review_create would take them, or ValidationError naming
    the field. Returns the comment, stripped."""
    comment = (comment or "").strip()
    if decision not in ReviewDecision.values:
        raise ValidationError({"decision": "Choose accept, reject or request changes."})
    if decision != ReviewDecision.ACCEPTED and not comment:
        label = ReviewDecision(decision).label.lower()
        raise ValidationError({"comment": f"A comment is required when the decision is “{label}”."})
    if len(comment) > MAX_COMMENT:
        raise ValidationError({"comment": f"A comment has at most {MAX_COMMENT} characters."})
    return comment


def target_version(target: Response | EvidenceItem) -> int:
    """The version of a target a decision is made on: a response's `version` (one more on each
    save), an evidence item's newest revision id (0 for links and notes, which have none)."""
    if isinstance(target, Response):
        return target.version
    return target.latest_revision_id or 0


def _check_current(
    locked: Response | EvidenceItem,
    *,
    reviewer: User,
    decision: str,
    comment: str,
    expected_version: int | None,
    seen_review: int | None,
) -> Review | None:
    """Refuse a decision made on a page older than the target (ReviewConflict). A resubmission
    of the very decision this reviewer just recorded on that page (a double click, Back and
    submit) returns that review instead, so that it is recorded once."""
    label = "answer" if isinstance(locked, Response) else "evidence item"
    if expected_version is not None and expected_version != target_version(locked):
        what = "saved again" if isinstance(locked, Response) else "given a new revision"
        raise ReviewConflict(
            f"This {label} was {what} after you opened the page; reload it and review what "
            "is there now. Nothing was recorded."
        )
    if seen_review is None or (locked.latest_review_id or 0) == seen_review:
        return None
    latest = Review.objects.select_related("reviewer").get(pk=locked.latest_review_id)
    if (latest.reviewer_id, latest.decision, latest.comment) == (reviewer.pk, decision, comment):
        return latest
    who = latest.reviewer.display_name if latest.reviewer else "Someone"
    raise ReviewConflict(
        f"{who} recorded a decision on this {label} after you opened the page "
        f"({latest.get_decision_display().lower()}); reload it to see it. Nothing was recorded."
    )


def review_create(
    *,
    reviewer: User,
    decision: str,
    comment: str,
    evidence: EvidenceItem | None = None,
    response: Response | None = None,
    expected_version: int | None = None,
    seen_review: int | None = None,
) -> Review:
    """Record a decision. Raises PermissionDenied (not an auditor of the target's team),
    ValidationError (bad input), AssessmentLocked (a response of a final assessment) or
    ReviewConflict (`expected_version` is not the target's version, or its latest review is no
    longer `seen_review`, 0 for none: a stale page). Without them, no staleness check."""
    if (evidence is None) == (response is None):
        raise ValidationError("Review either one evidence item or one response.")
    team_id = evidence.team_id if evidence is not None else None
    if response is not None:
        team_id = Assessment.objects.values_list("team_id", flat=True).get(
            pk=response.assessment_id
        )
    assert team_id is not None
    _check_reviewer(reviewer, team_id)
    comment = review_check_input(decision=decision, comment=comment)
    with transaction.atomic():
        revision = None
        if response is not None:
            locked = Response.objects.select_for_update().get(pk=response.pk)
            assessment = Assessment.objects.get(pk=locked.assessment_id)
            if assessment.is_locked:
                raise AssessmentLocked(assessment)
            if locked.status == ResponseStatus.NOT_STARTED:
                raise ValidationError("This control has not been answered yet.")
            target = f"response:{locked.pk}"
            same = _check_current(
                locked,
                reviewer=reviewer,
                decision=decision,
                comment=comment,
                expected_version=expected_version,
                seen_review=seen_review,
            )
        else:
            assert evidence is not None
            item = EvidenceItem.objects.select_for_update().get(pk=evidence.pk)
            if item.is_withdrawn:
                raise ValidationError("This evidence has been withdrawn.")
            revision = EvidenceRevision.objects.filter(item=item).order_by("-number").first()
            target = f"evidenceitem:{item.pk}"
            same = _check_current(
                item,
                reviewer=reviewer,
                decision=decision,
                comment=comment,
                expected_version=expected_version,
                seen_review=seen_review,
            )
        if same is not None:
            return same
        review = Review.objects.create(
            team_id=team_id,
            evidence=evidence,
            response=response,
            revision=revision,
            decision=decision,
            comment=comment,
            reviewer=reviewer,
        )
        # The target's denormalised latest review, on the row locked above (so reviews of one
        # target are recorded one at a time, each the newest). A queryset update: it must not
        # touch Response.updated_at, or the review would void itself.
        if response is not None:
            Response.objects.filter(pk=locked.pk).update(latest_review=review)
            response.latest_review = review
        else:
            EvidenceItem.objects.filter(pk=item.pk).update(latest_review=review)
            evidence.latest_review = review
        audit_record(
            "review.recorded",
            actor=reviewer,
            team=team_id,
            target=target,
            data={
                "review": review.pk,
                "decision": decision,
                "revision": revision.number if revision else None,
            },
        )
        team_changed(team_id)
    return review


# --- Comments ---------------------------------------------------------------------------------


def _check_author(author: User, team_id: int, response: Response) -> None:
    role = role_in_team(author, team_id)
    if role is None or not role_allows(role, Perm.COMMENT):
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
    if len(body) > MAX_COMMENT:
        raise ValidationError({"body": f"A comment has at most {MAX_COMMENT} characters."})
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
