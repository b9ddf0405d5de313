"""The review loop: auditors accept, reject or request changes on evidence items and responses.

Reviews are immutable history. The current decision of a target is its latest review, void
("pending" again) once the target changed after it: a response saved after the review, or an
evidence item with a revision newer than the one reviewed.

The target keeps its latest review (`latest_review`, set by review_create in the transaction
that records it) and an item its newest revision (`latest_revision`, set by the services that
add one), so the current decision is a join on the target's own row, never a search of the
reviews; the rule itself is applied as before, at read time (a save or a revision voids a
review without writing to it). tests/test_reviews_denormalised.py holds them to the rule.
"""

from __future__ import annotations

import datetime as dt
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
    FilteredRelation,
    Q,
    QuerySet,
    Value,
    When,
)
from django.db.models.functions import Cast

from aigsec.accounts.models import Role, User
from aigsec.audit.services import audit_record
from aigsec.core.access import Perm, role_allows, role_in_team, teams_with_perm
from aigsec.core.paging import Paged, page_window
from aigsec.core.teamcache import team_changed
from assessments.errors import AssessmentLocked
from assessments.models import Assessment, Response, ResponseStatus

from .models import EvidenceItem, EvidenceRevision, Review, ReviewDecision

PENDING = "pending"
DECISION_FILTERS = (PENDING, *ReviewDecision.values)
QUEUE_PAGE_SIZE = 50
# What a row of the queue shows, loaded for the page only (not the controls' guidance texts).
_REVIEW_FIELDS = ("decision", "comment", "created_at", "revision_id", "reviewer__full_name")
_REVIEW_FIELDS = (*_REVIEW_FIELDS, "reviewer__email")
QUEUE_RESPONSE_FIELDS = (
    "status",
    "updated_at",
    "assessment__team_id",
    "assessment__title",
    "assessment__ai_system__name",
    "control__ref",
    "control__title",
    "control__guideline__ref",
    *(f"latest_review__{f}" for f in _REVIEW_FIELDS),
)
QUEUE_ITEM_FIELDS = (
    "team_id",
    "kind",
    "title",
    "latest_revision_id",
    *(f"latest_review__{f}" for f in _REVIEW_FIELDS),
)


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


# --- Selectors ------------------------------------------------------------------------------


def _response_decision(review: Review | None, updated_at: dt.datetime) -> CurrentDecision:
    """The rule for a response, given its latest review: void once the response was saved
    after the review."""
    if review is None or review.created_at < updated_at:
        return NO_DECISION
    return CurrentDecision(review.decision, review.comment, review.reviewer)


def _item_decision(review: Review | None, latest_revision_id: int | None) -> CurrentDecision:
    """The rule for an evidence item, given its latest review and the id of its newest
    revision: void once a newer revision than the reviewed one exists."""
    if review is None or (
        latest_revision_id is not None and latest_revision_id != review.revision_id
    ):
        return NO_DECISION
    return CurrentDecision(review.decision, review.comment, review.reviewer)


def current_decisions_for_responses(response_ids: Iterable[int]) -> dict[int, CurrentDecision]:
    """id -> current decision of each response (pending when none or void), one query: the
    latest review of each is the one its `latest_review` names."""
    ids = list(response_ids)
    out = dict.fromkeys(ids, NO_DECISION)
    if not ids:
        return out
    latest = (
        Review.objects.filter(response_id__in=ids, response__latest_review=F("pk"))
        .annotate(_updated_at=F("response__updated_at"))
        .select_related("reviewer")
        .order_by()
    )
    for r in latest:
        out[r.response_id] = _response_decision(r, r._updated_at)
    return out


def current_decisions_for_evidence(item_ids: Iterable[int]) -> dict[int, CurrentDecision]:
    """id -> current decision of each evidence item, one query: void once a newer revision
    than the reviewed one exists."""
    ids = list(item_ids)
    out = dict.fromkeys(ids, NO_DECISION)
    if not ids:
        return out
    latest = (
        Review.objects.filter(evidence_id__in=ids, evidence__latest_review=F("pk"))
        .annotate(_latest_rev=F("evidence__latest_revision_id"))
        .select_related("reviewer")
        .order_by()
    )
    for r in latest:
        out[r.evidence_id] = _item_decision(r, r._latest_rev)
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


def _current_response_decision(review: str) -> Case:
    """A Response's current decision in SQL (the rule of _response_decision), from `review`,
    the relation to its latest review: that review's decision, void once the response was
    saved after it."""
    return Case(
        When(**{f"{review}__created_at__gte": F("updated_at")}, then=F(f"{review}__decision")),
        default=Value(PENDING),
        output_field=CharField(),
    )


def _current_item_decision(review: str) -> Case:
    """The same for an EvidenceItem (the rule of _item_decision): void once a newer revision
    than the reviewed one exists."""
    return Case(
        When(**{f"{review}__isnull": True}, then=Value(PENDING)),
        When(latest_revision__isnull=True, then=F(f"{review}__decision")),
        When(latest_revision=F(f"{review}__revision_id"), then=F(f"{review}__decision")),
        default=Value(PENDING),
        output_field=CharField(),
    )


@dataclass
class QueuePage(Paged):
    rows: list[QueueRow]
    number: int  # 1-based
    pages: int
    total: int


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

    The decisions come from the targets' denormalised latest review and revision (a join,
    not a search of the reviews); the counts, the order and the page are computed in SQL (one
    UNION, ordered and limited there), so only the page's rows reach Python: an auditor's
    queue holds thousands of targets (docs/benchmarks.md). Then the page's responses and
    items, each with its latest review and reviewer: five queries whatever the size."""
    teams = teams_with_perm(user, Perm.REVIEW)
    if not teams:
        return QueuePage([], 1, 1, 0)
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

    # The join to the latest review also names the team (a review has its target's team), so
    # whatever join the planner picks reads only these teams' reviews, never all of them.
    def review() -> FilteredRelation:
        return FilteredRelation("latest_review", condition=Q(latest_review__team_id__in=teams))

    counted = responses, items  # without a decision filter, counting needs no decision
    responses = responses.annotate(_review=review()).annotate(
        current=_current_response_decision("_review")
    )
    items = items.annotate(_review=review()).annotate(current=_current_item_decision("_review"))
    if decision:
        responses = responses.filter(current=decision)
        items = items.filter(current=decision)
        counted = responses, items
    # One sortable shape for both kinds: group (pending response, pending item, decided
    # response, decided item), then assessment and control order, or newest item first
    # (minus its id: ids follow creation, and an integer is portable, unlike an epoch).
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
            o=Cast(F("id") * Value(-1), BigIntegerField()),
        )
        .values_list(*keys)
        .order_by(),
        all=True,
    )
    # Two counts, not one over a UNION: PostgreSQL plans a parallel append for the UNION of
    # two cheap scans, whose workers cost more to start than the whole count (docs/benchmarks.md).
    total = sum(qs.order_by().count() for qs in counted)
    number, pages, start = page_window(total, page, size)
    keys_page = list(union.order_by("grp", "a", "o", "-id")[start : start + size]) if total else []
    response_ids = [pk for kind, pk, *_ in keys_page if kind == "response"]
    item_ids = [pk for kind, pk, *_ in keys_page if kind == "evidence"]
    by_response = (
        Response.objects.select_related(
            "assessment__ai_system", "control__guideline", "latest_review__reviewer"
        )
        .only(*QUEUE_RESPONSE_FIELDS)
        .order_by()
        .in_bulk(response_ids)
        if response_ids
        else {}
    )
    by_item = (
        EvidenceItem.objects.select_related("latest_review__reviewer")
        .only(*QUEUE_ITEM_FIELDS)
        .order_by()
        .in_bulk(item_ids)
        if item_ids
        else {}
    )
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
                    current=_response_decision(r.latest_review, r.updated_at),
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
                    current=_item_decision(i.latest_review, i.latest_revision_id),
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
