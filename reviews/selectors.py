"""Reads of the review loop: current decisions in bulk, the auditors' queue, comment threads.

The current-decision rule itself is in decisions.py (its Python and SQL forms side by side);
everything here applies it through those functions, never by writing it again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db.models import (
    BigIntegerField,
    Case,
    F,
    FilteredRelation,
    OuterRef,
    Q,
    QuerySet,
    Value,
    When,
)
from django.db.models.functions import Cast, Coalesce

from aigsec.accounts.models import User
from aigsec.core.access import Perm, can_in_current_team, scope_for_user, teams_with_perm
from aigsec.core.paging import Paged, page_window, subquery_count
from assessments.models import Assessment, Response, ResponseStatus
from evidence.models import EvidenceItem

from .decisions import (
    NO_DECISION,
    PENDING,
    CurrentDecision,
    decision_label,
    item_decision,
    item_decision_sql,
    response_decision,
    response_decision_sql,
)
from .models import ResponseComment, Review

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


# --- Selectors ------------------------------------------------------------------------------


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
        out[r.response_id] = response_decision(r, r._updated_at)
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
        out[r.evidence_id] = item_decision(r, r._latest_rev)
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
        return decision_label(self.decision)


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
        current=response_decision_sql("_review")
    )
    items = items.annotate(_review=review()).annotate(current=item_decision_sql("_review"))
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
                    current=response_decision(r.latest_review, r.updated_at),
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
                    current=item_decision(i.latest_review, i.latest_revision_id),
                )
            )
    return QueuePage(rows, number, pages, total)


def review_queue(user: User, **filters: Any) -> list[QueueRow]:
    """The first page of the queue (review_queue_page)."""
    return review_queue_page(user, **filters).rows


def reviews_for_user(user: Any) -> QuerySet[Review]:
    """Reviews of the user's teams (for lists and the API)."""
    return scope_for_user(user, Review.objects.all(), Perm.VIEW).order_by("-created_at", "-id")


# --- Comment threads ----------------------------------------------------------------------


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


def may_comment(request: Any, team_id: int, assessment: Assessment) -> bool:
    """For templates: whether to offer the comment form. comment_add still checks."""
    return can_in_current_team(request, team_id, Perm.COMMENT) and not assessment.is_locked
