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
from evidence import selectors as evidence_selectors
from evidence.models import EvidenceItem

from .context import queue_context
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
_REVIEW_FIELDS = (*_REVIEW_FIELDS, "id")
_REVIEW_FIELDS = (*_REVIEW_FIELDS, "reviewer__email")
QUEUE_RESPONSE_FIELDS = (
    "status",
    "justification",
    "version",
    "updated_at",
    "assessment__team_id",
    "assessment__based_on_id",
    "control__guideline__pillar__ref",
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
    "valid_until",
    "latest_revision__sha256",
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
    # The target as loaded for the page, the version a decision on it is made on and the
    # latest review the page shows (0 for none): the form sends both back (stale pages).
    response: Response | None = None
    item: EvidenceItem | None = None
    version: int = 0
    seen_review: int = 0
    context: Any = None  # reviews/context.py RowContext, for response rows

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.target_id}"

    @property
    def decision(self) -> str:
        return self.current.decision

    @property
    def freshness_label(self) -> str:
        return (
            evidence_selectors.Freshness.LABELS[evidence_selectors.freshness(self.item.valid_until)]
            if self.item
            else ""
        )

    @property
    def freshness_badge(self) -> str:
        return (
            evidence_selectors.Freshness.BADGES[evidence_selectors.freshness(self.item.valid_until)]
            if self.item
            else ""
        )

    @property
    def previous(self) -> Review | None:
        """The latest decision when a change voided it (the answer was saved again, or a new
        revision was added): what the auditor said before, shown beside the pending row."""
        target = self.response or self.item
        review = target.latest_review if target is not None else None
        return review if review is not None and self.decision == PENDING else None

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
    items, each with its latest review and reviewer; then the answers' linked evidence and,
    for answers of a copied assessment, their sources (reviews/context.py): at most seven
    queries whatever the size."""
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
            "assessment__ai_system", "control__guideline__pillar", "latest_review__reviewer"
        )
        .only(*QUEUE_RESPONSE_FIELDS)
        .order_by()
        .in_bulk(response_ids)
        if response_ids
        else {}
    )
    by_item = (
        EvidenceItem.objects.select_related("latest_review__reviewer", "latest_revision")
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
                    response=r,
                    version=r.version,
                    seen_review=r.latest_review_id or 0,
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
                    item=i,
                    version=i.latest_revision_id or 0,
                    seen_review=i.latest_review_id or 0,
                )
            )
    contexts = queue_context(rows)
    for row in rows:
        row.context = contexts.get((row.kind, row.target_id))
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


@dataclass
class ThreadEntry:
    """One line of a control's thread: a comment, or a decision with its comment."""

    kind: str  # "comment" | "review"
    created_at: Any
    who: str
    body: str
    decision: str  # "" for comments

    @property
    def decision_label(self) -> str:
        return decision_label(self.decision) if self.decision else ""


def threads_for_responses(response_ids: Iterable[int]) -> dict[int, list[ThreadEntry]]:
    """id -> every decision and comment on each response, oldest first, in one query (a
    UNION of the two tables): a decision stays in the thread after the answer it judged
    changed, so an answer to a rejection never hides the rejection."""
    ids = list(response_ids)
    out: dict[int, list[ThreadEntry]] = {i: [] for i in ids}
    if not ids:
        return out
    keys = ("k", "id", "response_id", "created_at", "who_name", "who_email", "text", "d")
    comments = (
        ResponseComment.objects.filter(response_id__in=ids)
        .annotate(
            k=Value("comment"),
            who_name=F("author__full_name"),
            who_email=F("author__email"),
            text=F("body"),
            d=Value(""),
        )
        .values_list(*keys)
        .order_by()
    )
    decisions = (
        Review.objects.filter(response_id__in=ids)
        .annotate(
            k=Value("review"),
            who_name=F("reviewer__full_name"),
            who_email=F("reviewer__email"),
            text=F("comment"),
            d=F("decision"),
        )
        .values_list(*keys)
        .order_by()
    )
    for kind, _pk, rid, at, name, email, text, decision in comments.union(
        decisions, all=True
    ).order_by("created_at", "k", "id"):
        out[rid].append(ThreadEntry(kind, at, name or email or "", text, decision))
    return out
