"""Finding controls within one assessment: filter by status, owner, review decision, overdue,
and search their text (ref, title, question, guidance, justification).

The filter arrives as GET parameters (bookmarkable, works without JavaScript; htmx sends the
same form), is validated by `ControlFilterForm` (a bad value is a form error naming the
field, never a 500) and applied in SQL by `filter_responses`, so the page runs a fixed number
of queries whatever the number of controls.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django import forms
from django.db.models import Q, QuerySet

from reviews.decisions import DECISION_FILTERS, PENDING, response_decision_sql

from .models import Assessment, Response, ResponseStatus
from .selectors import overdue_q

# A search longer than this is cut, not refused: nobody types 200 characters to find a control.
MAX_QUERY = 200
NOBODY = "none"
REVIEW_LABELS = {
    PENDING: "Pending (no current decision)",
    "accepted": "Accepted",
    "rejected": "Rejected",
    "changes_requested": "Changes requested",
}


@dataclass(frozen=True)
class ControlFilter:
    """What a person asked for; empty values mean "any"."""

    q: str = ""
    status: str = ""
    owner: int | str | None = None  # a user id, NOBODY, or None for anyone
    review: str = ""
    overdue: bool = False

    @property
    def active(self) -> bool:
        return bool(self.q or self.status or self.owner or self.review or self.overdue)


class ControlFilterForm(forms.Form):
    q = forms.CharField(
        required=False,
        label="Search controls",
        widget=forms.TextInput(
            attrs={"type": "search", "placeholder": "Ref, question, guidance, justification"}
        ),
    )
    status = forms.ChoiceField(required=False, label="Status")
    owner = forms.ChoiceField(required=False, label="Owner")
    review = forms.ChoiceField(required=False, label="Review")
    overdue = forms.BooleanField(required=False, label="Overdue only")

    def __init__(self, *args: Any, owners: list[Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["status"].choices = [("", "Any status"), *ResponseStatus.choices]
        self.fields["owner"].choices = [
            ("", "Anyone"),
            (NOBODY, "Nobody assigned"),
            *((str(u.pk), u.display_name) for u in owners),
        ]
        self.fields["review"].choices = [
            ("", "Any decision"),
            *((d, REVIEW_LABELS[d]) for d in DECISION_FILTERS),
        ]

    def clean_q(self) -> str:
        return self.cleaned_data["q"][:MAX_QUERY]

    def to_filter(self) -> ControlFilter:
        """The validated filter (call after is_valid())."""
        d = self.cleaned_data
        owner: int | str | None = None
        if d["owner"] == NOBODY:
            owner = NOBODY
        elif d["owner"]:
            owner = int(d["owner"])
        return ControlFilter(
            q=d["q"], status=d["status"], owner=owner, review=d["review"], overdue=d["overdue"]
        )


def text_q(q: str) -> Q:
    """Every word must appear somewhere in the control's texts or the answer's justification
    (icontains escapes %, _ and quotes: they are searched for literally)."""
    cond = Q()
    for word in q.split()[:20]:
        cond &= (
            Q(control__ref__icontains=word)
            | Q(control__title__icontains=word)
            | Q(control__question__icontains=word)
            | Q(control__guidance_good__icontains=word)
            | Q(control__guidance_partial__icontains=word)
            | Q(justification__icontains=word)
        )
    return cond


def filter_responses(qs: QuerySet[Response], f: ControlFilter) -> QuerySet[Response]:
    """Apply `f` to a queryset of responses, in SQL."""
    if f.q:
        qs = qs.filter(text_q(f.q))
    if f.status:
        qs = qs.filter(status=f.status)
    if f.owner == NOBODY:
        qs = qs.filter(owner__isnull=True)
    elif f.owner:
        qs = qs.filter(owner_id=f.owner)
    if f.overdue:
        qs = qs.filter(overdue_q())
    if f.review:
        # The same rule as the summaries' badge (reviews/decisions.py), in its SQL form.
        qs = qs.alias(current=response_decision_sql("latest_review")).filter(current=f.review)
    return qs


def matching_responses(assessment: Assessment, f: ControlFilter) -> QuerySet[Response]:
    """The assessment's responses matching `f`, for `cards.control_cards` (which reads them,
    with what a card shows, in one query)."""
    return filter_responses(Response.objects.filter(assessment=assessment), f)
