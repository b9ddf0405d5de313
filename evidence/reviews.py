"""The review loop: auditors accept, reject or request changes on evidence items and responses.

Reviews are immutable history. The current decision of a target is its latest review, void
("pending" again) once the target changed after it: a response saved after the review, or an
evidence item with a revision newer than the one reviewed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import OuterRef, QuerySet, Subquery

from aigsec.accounts.models import Role, User
from aigsec.audit.services import audit_record
from aigsec.core.access import Perm, role_allows, role_in_team, teams_with_perm
from assessments.models import Assessment, Response, ResponseStatus
from assessments.services import AssessmentLocked

from .models import EvidenceItem, EvidenceRevision, Review, ReviewDecision

PENDING = "pending"
DECISION_FILTERS = (PENDING, *ReviewDecision.values)
QUEUE_LIMIT = 1000  # per kind of target; the page is a work list, not an archive


class CurrentDecision(NamedTuple):
    decision: str  # one of ReviewDecision, or "pending"
    comment: str
    reviewer: User | None


NO_DECISION = CurrentDecision(PENDING, "", None)


# --- Services -------------------------------------------------------------------------------


def _check_reviewer(reviewer: User, team_id: int) -> None:
    role = role_in_team(reviewer, team_id)
    if role is None or not role_allows(role, Perm.REVIEW):
        label = Role(role).label if role else "not a member"
        raise PermissionDenied(f"Only auditors review ({label}).")


def review_create(
    *,
    reviewer: User,
    decision: str,
    comment: str,
    evidence: EvidenceItem | None = None,
    response: Response | None = None,
) -> Review:
    """Record a decision. Raises PermissionDenied (not an auditor of the target's team),
    ValidationError (bad input) or AssessmentLocked (a response of a final assessment)."""
    if (evidence is None) == (response is None):
        raise ValidationError("Review either one evidence item or one response.")
    team_id = evidence.team_id if evidence is not None else None
    if response is not None:
        team_id = Assessment.objects.values_list("team_id", flat=True).get(
            pk=response.assessment_id
        )
    assert team_id is not None
    _check_reviewer(reviewer, team_id)
    comment = (comment or "").strip()
    if decision not in ReviewDecision.values:
        raise ValidationError({"decision": "Choose accept, reject or request changes."})
    if decision != ReviewDecision.ACCEPTED and not comment:
        label = ReviewDecision(decision).label.lower()
        raise ValidationError({"comment": f"A comment is required when the decision is “{label}”."})
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
        else:
            assert evidence is not None
            item = EvidenceItem.objects.select_for_update().get(pk=evidence.pk)
            if item.is_withdrawn:
                raise ValidationError("This evidence has been withdrawn.")
            revision = EvidenceRevision.objects.filter(item=item).order_by("-number").first()
            target = f"evidenceitem:{item.pk}"
        review = Review.objects.create(
            team_id=team_id,
            evidence=evidence,
            response=response,
            revision=revision,
            decision=decision,
            comment=comment,
            reviewer=reviewer,
        )
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
    return review


# --- Selectors ------------------------------------------------------------------------------


def _latest_per(field: str, ids: Iterable[int]) -> QuerySet[Review]:
    """The latest review of each target, one query on any database (the embedded SQLite has
    no DISTINCT ON): keep the reviews whose id is the newest for their target."""
    newest = (
        Review.objects.filter(**{field: OuterRef(field)})
        .order_by("-created_at", "-id")
        .values("pk")[:1]
    )
    return (
        Review.objects.filter(**{f"{field}__in": list(ids)})
        .filter(pk=Subquery(newest))
        .select_related("reviewer")
        .order_by(field)
    )


def current_decisions_for_responses(response_ids: Iterable[int]) -> dict[int, CurrentDecision]:
    """id -> current decision of each response (pending when none or void), one query."""
    ids = list(response_ids)
    out = dict.fromkeys(ids, NO_DECISION)
    if not ids:
        return out
    qs = _latest_per("response_id", ids).annotate(
        _updated_at=Subquery(
            Response.objects.filter(pk=OuterRef("response_id")).values("updated_at")
        )
    )
    for r in qs:
        if r._updated_at is not None and r._updated_at <= r.created_at:
            out[r.response_id] = CurrentDecision(r.decision, r.comment, r.reviewer)
    return out


def current_decisions_for_evidence(item_ids: Iterable[int]) -> dict[int, CurrentDecision]:
    """id -> current decision of each evidence item, one query: void once a newer revision
    than the reviewed one exists."""
    ids = list(item_ids)
    out = dict.fromkeys(ids, NO_DECISION)
    if not ids:
        return out
    latest_rev = (
        EvidenceRevision.objects.filter(item_id=OuterRef("evidence_id"))
        .order_by("-number")
        .values("id")[:1]
    )
    for r in _latest_per("evidence_id", ids).annotate(_latest_rev=Subquery(latest_rev)):
        if r._latest_rev is None or r._latest_rev == r.revision_id:
            out[r.evidence_id] = CurrentDecision(r.decision, r.comment, r.reviewer)
    return out


@dataclass
class QueueRow:
    kind: str  # "response" | "evidence"
    target_id: int
    team_id: int
    title: str
    detail: str
    assessment: Assessment | None
    guideline_ref: str
    current: CurrentDecision

    @property
    def decision(self) -> str:
        return self.current.decision

    @property
    def decision_label(self) -> str:
        return "Pending" if self.decision == PENDING else ReviewDecision(self.decision).label


def review_queue(
    user: User,
    *,
    assessment_id: int | None = None,
    guideline_ref: str | None = None,
    decision: str | None = None,
) -> list[QueueRow]:
    """Answered responses and live evidence items of the teams where `user` reviews, with their
    current decision, pending first. Five queries whatever the size."""
    teams = teams_with_perm(user, Perm.REVIEW)
    responses = (
        Response.objects.filter(assessment__team_id__in=teams)
        .exclude(status=ResponseStatus.NOT_STARTED)
        .select_related("assessment__ai_system", "control__guideline")
        .order_by("assessment_id", "control__order")
    )
    items = EvidenceItem.objects.filter(team_id__in=teams, withdrawn_at__isnull=True)
    if assessment_id is not None:
        responses = responses.filter(assessment_id=assessment_id)
        items = items.filter(links__response__assessment_id=assessment_id)
    if guideline_ref:
        responses = responses.filter(control__guideline__ref=guideline_ref)
        items = items.filter(links__response__control__guideline__ref=guideline_ref)
    if assessment_id is not None or guideline_ref:
        items = items.distinct()
    resp_list = list(responses[:QUEUE_LIMIT])
    item_list = list(items.order_by("-created_at", "-id")[:QUEUE_LIMIT])
    r_dec = current_decisions_for_responses(r.pk for r in resp_list)
    e_dec = current_decisions_for_evidence(i.pk for i in item_list)
    rows: list[QueueRow] = [
        QueueRow(
            kind="response",
            target_id=r.pk,
            team_id=r.assessment.team_id,
            title=f"{r.control.ref} {r.control.title}",
            detail=r.get_status_display(),
            assessment=r.assessment,
            guideline_ref=r.control.guideline.ref,
            current=r_dec[r.pk],
        )
        for r in resp_list
    ]
    rows += [
        QueueRow(
            kind="evidence",
            target_id=i.pk,
            team_id=i.team_id,
            title=i.title,
            detail=i.get_kind_display(),
            assessment=None,
            guideline_ref="",
            current=e_dec[i.pk],
        )
        for i in item_list
    ]
    if decision:
        rows = [row for row in rows if row.decision == decision]
    rows.sort(key=lambda row: row.decision != PENDING)  # stable: pending first
    return rows


def reviews_for_user(user: Any) -> QuerySet[Review]:
    """Reviews of the user's teams (for lists and the API)."""
    from aigsec.core.access import scope_for_user

    return scope_for_user(user, Review.objects.all(), Perm.VIEW).order_by("-created_at", "-id")
