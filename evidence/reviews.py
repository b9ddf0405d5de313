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
from django.db.models import (
    BigIntegerField,
    Case,
    CharField,
    F,
    OuterRef,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Cast

from aigsec.accounts.models import Role, User
from aigsec.audit.services import audit_record
from aigsec.core.access import Perm, role_allows, role_in_team, teams_with_perm
from assessments.models import Assessment, Response, ResponseStatus
from assessments.services import AssessmentLocked

from .models import EvidenceItem, EvidenceRevision, Review, ReviewDecision

PENDING = "pending"
DECISION_FILTERS = (PENDING, *ReviewDecision.values)
QUEUE_PAGE_SIZE = 50


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


def _current_response_decision() -> dict[str, Any]:
    """Annotations giving each Response its current decision in SQL (as
    current_decisions_for_responses): the latest review, void once the response was saved
    after it."""
    latest = Review.objects.filter(response_id=OuterRef("pk")).order_by("-created_at", "-id")
    return {
        "_review_at": Subquery(latest.values("created_at")[:1]),
        "_review_decision": Subquery(latest.values("decision")[:1]),
        "current": Case(
            When(_review_at__gte=F("updated_at"), then=F("_review_decision")),
            default=Value(PENDING),
            output_field=CharField(),
        ),
    }


def _current_item_decision() -> dict[str, Any]:
    """The same for an EvidenceItem (as current_decisions_for_evidence): void once a newer
    revision than the reviewed one exists."""
    latest = Review.objects.filter(evidence_id=OuterRef("pk")).order_by("-created_at", "-id")
    newest_revision = EvidenceRevision.objects.filter(item_id=OuterRef("pk")).order_by("-number")
    return {
        "_review_decision": Subquery(latest.values("decision")[:1]),
        "_review_revision": Subquery(latest.values("revision_id")[:1]),
        "_latest_revision": Subquery(newest_revision.values("id")[:1]),
        "current": Case(
            When(_review_decision__isnull=True, then=Value(PENDING)),
            When(_latest_revision__isnull=True, then=F("_review_decision")),
            When(_latest_revision=F("_review_revision"), then=F("_review_decision")),
            default=Value(PENDING),
            output_field=CharField(),
        ),
    }


@dataclass
class QueuePage:
    rows: list[QueueRow]
    number: int  # 1-based
    pages: int
    total: int

    @property
    def previous(self) -> int | None:
        return self.number - 1 if self.number > 1 else None

    @property
    def next(self) -> int | None:
        return self.number + 1 if self.number < self.pages else None


def review_queue_page(
    user: User,
    *,
    assessment_id: int | None = None,
    guideline_ref: str | None = None,
    decision: str | None = None,
    page: int = 1,
    size: int = QUEUE_PAGE_SIZE,
) -> QueuePage:
    """Answered responses and live evidence items of the teams where `user` reviews, with their
    current decision: pending first, then responses in questionnaire order before evidence,
    newest first. One page of them.

    The decisions and the order are computed in SQL (one UNION returning only sort keys), so
    only the page's rows are loaded as objects: an auditor's queue holds thousands of targets
    (docs/benchmarks.md). Then the page's responses, its items and their current decisions
    (comment, reviewer): five queries whatever the size."""
    teams = teams_with_perm(user, Perm.REVIEW)
    responses = Response.objects.filter(assessment__team_id__in=teams).exclude(
        status=ResponseStatus.NOT_STARTED
    )
    items = EvidenceItem.objects.filter(team_id__in=teams, withdrawn_at__isnull=True)
    if assessment_id is not None:
        responses = responses.filter(assessment_id=assessment_id)
        items = items.filter(links__response__assessment_id=assessment_id)
    if guideline_ref:
        responses = responses.filter(control__guideline__ref=guideline_ref)
        items = items.filter(links__response__control__guideline__ref=guideline_ref)
    if assessment_id is not None or guideline_ref:
        # The joins through links repeat an item once per link: keep each once.
        items = EvidenceItem.objects.filter(pk__in=items.values("pk"))
    responses = responses.annotate(**_current_response_decision())
    items = items.annotate(**_current_item_decision())
    if decision:
        responses = responses.filter(current=decision)
        items = items.filter(current=decision)
    # One sortable shape for both kinds: group (pending response, pending item, decided
    # response, decided item), then assessment and control order, or newest item first.
    # Integers only (newest item first as minus its id): a timestamp column would cost a
    # Python datetime per row for nothing but sorting.
    keys = ("target_kind", "id", "grp", "a", "o")
    union = (
        responses.annotate(
            target_kind=Value("response"),
            grp=Case(When(current=PENDING, then=Value(0)), default=Value(2)),
            a=F("assessment_id"),
            o=Cast(F("control__order"), BigIntegerField()),
        )
        .values_list(*keys)
        .order_by()
    )  # no default ordering inside a UNION (SQLite refuses it)
    union = union.union(
        items.annotate(
            target_kind=Value("evidence"),
            grp=Case(When(current=PENDING, then=Value(1)), default=Value(3)),
            a=Value(0),
            # Newest first by id (ids follow creation): portable, unlike an epoch extract,
            # which SQLite's date functions cannot do.
            o=Cast(F("id") * Value(-1), BigIntegerField()),
        )
        .values_list(*keys)
        .order_by(),
        all=True,
    )
    # The sort keys of every target (a few thousand small tuples for a team): one evaluation of
    # the decisions gives both the total and the page.
    keys_all = list(union.order_by("grp", "a", "o", "-id"))
    total = len(keys_all)
    pages = max(1, -(-total // size))
    number = min(max(1, page), pages)
    start = (number - 1) * size
    keys_page = keys_all[start : start + size]
    response_ids = [pk for kind, pk, *_ in keys_page if kind == "response"]
    item_ids = [pk for kind, pk, *_ in keys_page if kind == "evidence"]
    by_response = Response.objects.select_related(
        "assessment__ai_system", "control__guideline"
    ).in_bulk(response_ids)
    by_item = EvidenceItem.objects.in_bulk(item_ids)
    r_dec = current_decisions_for_responses(response_ids)
    e_dec = current_decisions_for_evidence(item_ids)
    rows: list[QueueRow] = []
    for kind, pk, *_ in keys_page:
        if kind == "response":
            r = by_response[pk]
            rows.append(
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
            )
        else:
            i = by_item[pk]
            rows.append(
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
            )
    return QueuePage(rows, number, pages, total)


def review_queue(user: User, **filters: Any) -> list[QueueRow]:
    """The first page of the queue (review_queue_page)."""
    return review_queue_page(user, **filters).rows


def reviews_for_user(user: Any) -> QuerySet[Review]:
    """Reviews of the user's teams (for lists and the API)."""
    from aigsec.core.access import scope_for_user

    return scope_for_user(user, Review.objects.all(), Perm.VIEW).order_by("-created_at", "-id")
