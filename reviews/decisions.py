"""The current review decision of a target: the one rule, in its Python form and its SQL form.

A target (a response or an evidence item) keeps its newest review in `latest_review` (set by
review_create in the transaction that records it) and an item its newest revision in
`latest_revision`. Its current decision is that review's decision, or **pending** when

- there is no review, or
- a response was saved after the review (`updated_at` later than the review's `created_at`), or
- an evidence item has a newer revision than the one the review was made on.

Reviews themselves are never changed: a save or a revision voids a review at read time.
Python reads (`response_decision`, `item_decision`) and SQL expressions over a queryset of the
target (`response_decision_sql`, `item_decision_sql`, and the accepted-only filters used by the
verified score) are kept side by side here so that they cannot drift apart;
tests/reviews/test_reviews_denormalised.py holds both to the same cases.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, NamedTuple

from django.db.models import Case, CharField, F, Q, Value, When

from .models import ReviewDecision

if TYPE_CHECKING:
    from aigsec.accounts.models import User

    from .models import Review

PENDING = "pending"
PENDING_LABEL = "Pending"
# Every value a target's current decision can take, and its label, pending first.
DECISION_CHOICES: list[tuple[str, str]] = [(PENDING, PENDING_LABEL), *ReviewDecision.choices]
DECISION_FILTERS = tuple(value for value, _ in DECISION_CHOICES)


def decision_label(value: str) -> str:
    return dict(DECISION_CHOICES).get(value, PENDING_LABEL)


class CurrentDecision(NamedTuple):
    decision: str  # one of ReviewDecision, or PENDING
    comment: str
    reviewer: User | None

    @property
    def label(self) -> str:
        return decision_label(self.decision)


NO_DECISION = CurrentDecision(PENDING, "", None)


# --- Python form ---------------------------------------------------------------------------


def response_decision(review: Review | None, updated_at: dt.datetime) -> CurrentDecision:
    """A response's current decision, given its latest review: void once the response was
    saved after the review."""
    if review is None or review.created_at < updated_at:
        return NO_DECISION
    return CurrentDecision(review.decision, review.comment, review.reviewer)


def item_decision(review: Review | None, latest_revision_id: int | None) -> CurrentDecision:
    """An evidence item's current decision, given its latest review and the id of its newest
    revision: void once a newer revision than the reviewed one exists."""
    if review is None or (
        latest_revision_id is not None and latest_revision_id != review.revision_id
    ):
        return NO_DECISION
    return CurrentDecision(review.decision, review.comment, review.reviewer)


# --- SQL form (the same rule over a queryset of the target) ---------------------------------


def response_decision_sql(review: str = "latest_review") -> Case:
    """For a Response queryset: its current decision, from `review`, the relation to its
    latest review (or a FilteredRelation over it)."""
    return Case(
        When(**{f"{review}__created_at__gte": F("updated_at")}, then=F(f"{review}__decision")),
        default=Value(PENDING),
        output_field=CharField(),
    )


def item_decision_sql(review: str = "latest_review") -> Case:
    """For an EvidenceItem queryset: its current decision, from `review` as above."""
    return Case(
        When(**{f"{review}__isnull": True}, then=Value(PENDING)),
        When(latest_revision__isnull=True, then=F(f"{review}__decision")),
        When(latest_revision=F(f"{review}__revision_id"), then=F(f"{review}__decision")),
        default=Value(PENDING),
        output_field=CharField(),
    )


def item_accepted_q(prefix: str = "") -> Q:
    """A filter for items whose current decision is accepted, `prefix` naming the item from the
    queryset's model (e.g. "item__" from an EvidenceLink). Same rule as item_decision_sql,
    written as a filter so that it can sit in an Exists() subquery."""
    return Q(**{f"{prefix}latest_review__decision": ReviewDecision.ACCEPTED}) & (
        Q(**{f"{prefix}latest_revision__isnull": True})
        | Q(**{f"{prefix}latest_revision": F(f"{prefix}latest_review__revision")})
    )


def response_review_accepted(outer_review_id: Any, outer_updated_at: Any) -> Q:
    """A filter on Review for the accepted current decision of an outer response, given
    OuterRef()s to its latest review id and its `updated_at` (rule of response_decision)."""
    return Q(pk=outer_review_id, decision=ReviewDecision.ACCEPTED, created_at__gte=outer_updated_at)
