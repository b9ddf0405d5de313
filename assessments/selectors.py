"""Reads: dashboard rows, My work, overdue, compare (scores are in `scoring`). Each runs a
fixed number of queries, whatever the number of AI systems, assessments or responses."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db.models import (
    Count,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
)
from django.utils import timezone

from aigsec.accounts.models import User
from aigsec.core.access import Perm, scope_for_user

from .models import AISystem, Assessment, AssessmentStatus, Response
from .scoring import Scores, scores_for_assessments


@dataclass
class DashboardRow:
    system: AISystem
    assessment: Assessment | None
    scores: Scores | None
    overdue: int


def dashboard_rows(team_id: int, include_archived: bool = False) -> list[DashboardRow]:
    """Each AI system of the team with its latest assessment, scores and overdue count.
    Queries: systems (1), latest assessments (1), tallies + structure (3), overdue (1)."""
    systems_qs = AISystem.objects.filter(team_id=team_id)
    if not include_archived:
        systems_qs = systems_qs.exclude(status="archived")
    latest = Assessment.objects.filter(ai_system=OuterRef("pk")).order_by("-created_at", "-id")
    systems = list(systems_qs.annotate(latest_id=Subquery(latest.values("pk")[:1])))
    latest_ids = [s.latest_id for s in systems if s.latest_id]
    assessments = (
        {
            a.pk: a
            for a in Assessment.objects.filter(pk__in=latest_ids).select_related(
                "framework_version__framework"
            )
        }
        if latest_ids
        else {}
    )
    scores = scores_for_assessments(list(assessments.values()))
    overdue = (
        dict(
            Response.objects.filter(
                assessment_id__in=latest_ids,
                due_date__lt=timezone.localdate(),
            )
            .exclude(status__in=["full", "not_applicable"])
            .values_list("assessment_id")
            .annotate(n=Count("id"))
            .order_by()
        )
        if latest_ids
        else {}
    )
    return [
        DashboardRow(
            system=s,
            assessment=assessments.get(s.latest_id),
            scores=scores.get(s.latest_id),
            overdue=overdue.get(s.latest_id, 0),
        )
        for s in systems
    ]


def overdue_q(today: dt.date | None = None) -> Q:
    """The SQL side of is_overdue."""
    today = today or timezone.localdate()
    return Q(due_date__lt=today) & ~Q(status__in=["full", "not_applicable"])


def my_work(user: User) -> QuerySet[Response]:
    """Responses assigned to `user` in open assessments of their teams, overdue first."""
    qs = (
        scope_for_user(user, Response.objects.all(), Perm.VIEW)
        .filter(owner=user)
        .exclude(assessment__status=AssessmentStatus.FINAL)
        .select_related("control__guideline__pillar", "assessment__ai_system", "assessment__team")
        .annotate(overdue=overdue_q())
    )
    # Ends with the primary key: a total order, so that pages neither repeat nor skip a row.
    return qs.order_by(
        F("overdue").desc(), F("due_date").asc(nulls_last=True), "control__order", "pk"
    )


def is_overdue(response: Response, today: dt.date | None = None) -> bool:
    today = today or timezone.localdate()
    return bool(
        response.due_date
        and response.due_date < today
        and response.status not in ("full", "not_applicable")
    )


def compare_assessments(a: Assessment, b: Assessment) -> list[dict[str, Any]]:
    """Per control ref, what changed between two assessments (status, justification, owner)."""

    def index(x: Assessment) -> dict[str, Response]:
        return {
            r.control.ref: r
            for r in x.responses.select_related("control", "owner").order_by("control__order")
        }

    left, right = index(a), index(b)
    refs = sorted(set(left) | set(right), key=lambda r: (left.get(r) or right[r]).control.order)
    out = []
    for ref in refs:
        lr, rr = left.get(ref), right.get(ref)
        changed = [
            f
            for f in ("status", "justification", "owner_id", "due_date")
            if (getattr(lr, f, None) != getattr(rr, f, None))
        ]
        out.append(
            {"ref": ref, "control": (rr or lr).control, "left": lr, "right": rr, "changed": changed}
        )
    return out
