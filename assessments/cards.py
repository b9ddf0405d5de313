"""The control card: everything a control shows, for one viewer, built in one place.

The questionnaire (every control as a summary, some opened), the opened control (htmx, and
the answer just saved) and the review queue show controls through `control_cards`, so a
change to what a control shows is made here once. A fixed number of queries, whatever the
number of controls: the responses with their counts (one), their current review decisions
(one), and for the opened ones their evidence (one) and threads of decisions and comments
(one).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest

from aigsec.core.access import Perm, can_in_current_team
from evidence.models import EvidenceItem
from evidence.selectors import evidence_by_response, evidence_counts, only_expired
from reviews.selectors import (
    comment_count,
    current_decisions_for_responses,
    may_comment,
    threads_for_responses,
)

from .models import Assessment, Response
from .selectors import is_overdue


@dataclass(frozen=True)
class CardPerms:
    """What the viewer may do on the controls of one assessment (the door checks again)."""

    can_answer: bool = False
    can_comment: bool = False
    can_review: bool = False


def card_perms(request: HttpRequest, assessment: Assessment) -> CardPerms:
    team_id, locked = assessment.team_id, assessment.is_locked
    return CardPerms(
        can_answer=can_in_current_team(request, team_id, Perm.ANSWER) and not locked,
        can_comment=may_comment(request, team_id, assessment),
        can_review=can_in_current_team(request, team_id, Perm.REVIEW) and not locked,
    )


@dataclass
class ControlCard:
    r: Response  # with control, guideline, owner, assessment, `review`, `n_evidence`, ...
    overdue: bool
    evidence_expired: bool  # linked evidence exists and all of it has expired
    perms: CardPerms = field(default_factory=CardPerms)
    is_open: bool = False
    evidence: list[EvidenceItem] = field(default_factory=list)  # opened cards only
    form: Any = None  # the viewer's answer form, set by the view for opened cards


def card_queryset(responses: QuerySet[Response]) -> QuerySet[Response]:
    """What every card shows from the response row itself, in its query."""
    return (
        responses.select_related("control__guideline__pillar", "owner")
        .annotate(**evidence_counts(), n_comments=comment_count())
        .order_by("control__order")
    )


def control_cards(
    assessment: Assessment,
    responses: QuerySet[Response] | Iterable[Response],
    *,
    opened: set[int] | None = frozenset(),  # type: ignore[assignment]
    perms: CardPerms | None = None,
) -> list[ControlCard]:
    """Cards of `responses` (a queryset, or rows already read through `card_queryset`), in
    order; the ones in `opened` (None: all) with their evidence and comment thread."""
    rows = list(card_queryset(responses) if isinstance(responses, QuerySet) else responses)
    decisions = current_decisions_for_responses([r.pk for r in rows])
    open_ids = [r.pk for r in rows if opened is None or r.pk in opened]
    evidence = evidence_by_response(open_ids) if open_ids else {}
    threads = threads_for_responses(open_ids) if open_ids else {}
    cards = []
    for r in rows:
        r.assessment, r.review = assessment, decisions[r.pk]
        is_open = r.pk in evidence
        if is_open:
            r.thread = threads[r.pk]
            expired = only_expired(evidence[r.pk])
        else:
            expired = r.n_evidence > 0 and r.n_unexpired == 0
        cards.append(
            ControlCard(
                r=r,
                overdue=is_overdue(r),
                evidence_expired=expired,
                perms=perms or CardPerms(),
                is_open=is_open,
                evidence=evidence.get(r.pk, []),
            )
        )
    return cards


def control_card(response: Response, perms: CardPerms) -> ControlCard:
    """One control, opened (the htmx fragment, an answer just saved)."""
    qs = Response.objects.filter(pk=response.pk)
    return control_cards(response.assessment, qs, opened=None, perms=perms)[0]
