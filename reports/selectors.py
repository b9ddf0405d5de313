"""What a report shows, read in a fixed number of queries whatever the assessment's size."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from aigsec.audit.models import AuditChainHead
from assessments.charts import pillar_chart
from assessments.models import Assessment, AssessmentStatus, Response, ResponseStatus, SignOff
from assessments.scoring import assessment_scores
from assessments.selectors import is_overdue
from evidence.models import EvidenceItem, EvidenceRevision
from evidence.selectors import Freshness, evidence_by_response
from reviews.decisions import decision_label
from reviews.selectors import current_decisions_for_evidence, current_decisions_for_responses

from .models import Report

GAP_STATUSES = (
    ResponseStatus.NOT_STARTED,
    ResponseStatus.NOT_IMPLEMENTED,
    ResponseStatus.PARTIAL,
    ResponseStatus.LARGELY,
)


@dataclass
class EvidenceRow:
    item: EvidenceItem
    revision: EvidenceRevision | None
    decision: Any

    @property
    def decision_label(self) -> str:
        return decision_label(self.decision.decision)


@dataclass
class ControlRow:
    response: Response
    decision: Any
    evidence: list[EvidenceRow] = field(default_factory=list)
    overdue: bool = False

    @property
    def decision_label(self) -> str:
        return decision_label(self.decision.decision)


@dataclass
class GuidelineSection:
    ref: str
    title: str
    pillar_ref: str
    pillar_title: str
    score: float | None
    controls: list[ControlRow] = field(default_factory=list)


def reports_for_team(team_id: int) -> QuerySet[Report]:
    return (
        Report.objects.filter(team_id=team_id)
        .select_related("assessment__ai_system", "requested_by")
        .order_by("-requested_at", "-id")
    )


def reports_for_assessment(assessment_id: int) -> QuerySet[Report]:
    return (
        Report.objects.filter(assessment_id=assessment_id)
        .select_related("assessment__ai_system", "requested_by")
        .order_by("-requested_at", "-id")
    )


def _latest_revisions(item_ids: list[int]) -> dict[int, EvidenceRevision]:
    out: dict[int, EvidenceRevision] = {}
    for rev in EvidenceRevision.objects.filter(item_id__in=item_ids).order_by("item_id", "-number"):
        out.setdefault(rev.item_id, rev)
    return out


def report_context(report: Report) -> dict[str, Any]:
    """Everything the report template needs. About a dozen queries for any size."""
    assessment = Assessment.objects.select_related(
        "team", "ai_system", "framework_version__framework", "created_by", "submitted_by"
    ).get(pk=report.assessment_id)
    today = timezone.localdate()
    scores = assessment_scores(assessment, cached=False)  # a signed report reads the database
    responses = list(
        Response.objects.filter(assessment=assessment)
        .select_related("control__guideline__pillar", "owner")
        .order_by(
            "control__guideline__pillar__order", "control__guideline__order", "control__order"
        )
    )
    ids = [r.pk for r in responses]
    decisions = current_decisions_for_responses(ids)
    evidence = evidence_by_response(ids)
    items = {i.pk: i for lst in evidence.values() for i in lst}
    revisions = _latest_revisions(list(items))
    item_decisions = current_decisions_for_evidence(list(items))
    rows: dict[int, EvidenceRow] = {
        pk: EvidenceRow(item, revisions.get(pk), item_decisions[pk]) for pk, item in items.items()
    }

    guideline_scores = {g["id"]: g["score"] for g in scores.guidelines}
    sections: list[GuidelineSection] = []
    controls: list[ControlRow] = []
    for r in responses:
        g = r.control.guideline
        if not sections or sections[-1].ref != g.ref:
            sections.append(
                GuidelineSection(
                    g.ref, g.title, g.pillar.ref, g.pillar.title, guideline_scores.get(g.pk)
                )
            )
        row = ControlRow(
            r, decisions[r.pk], [rows[i.pk] for i in evidence[r.pk]], is_overdue(r, today)
        )
        sections[-1].controls.append(row)
        controls.append(row)

    far_future = dt.date.max
    gaps = sorted(
        (c for c in controls if c.response.status in GAP_STATUSES),
        key=lambda c: (not c.overdue, c.response.due_date or far_future, c.response.control.ref),
    )
    with_accepted = sum(
        1 for c in controls if any(e.decision.decision == "accepted" for e in c.evidence)
    )
    register = sorted(rows.values(), key=lambda e: (e.item.title.lower(), e.item.pk))
    expired = [e for e in register if e.item.freshness == Freshness.EXPIRED]
    head = AuditChainHead.objects.filter(pk=1).values("seq", "hash").first() or {}
    by_status = [(label, scores.by_status.get(value, 0)) for value, label in ResponseStatus.choices]
    return {
        "report": report,
        "assessment": assessment,
        "team": assessment.team,
        "system": assessment.ai_system,
        "framework": assessment.framework_version.framework,
        "version": assessment.framework_version,
        "is_final": assessment.status == AssessmentStatus.FINAL,
        # Who approved it, as they were named and placed when they signed (None before).
        "sign_off": SignOff.objects.filter(assessment=assessment).first(),
        "scores": scores,
        "chart": pillar_chart(
            [{"ref": p["ref"], "title": p["title"], "score": p["score"]} for p in scores.pillars]
        ),
        "by_status": by_status,
        "total_controls": len(controls),
        "with_accepted": with_accepted,
        "accepted_share": round(100 * with_accepted / len(controls), 1) if controls else 0.0,
        "sections": sections,
        "gaps": gaps,
        "not_applicable": [
            c for c in controls if c.response.status == ResponseStatus.NOT_APPLICABLE
        ],
        "register": register,
        "expired": expired,
        "audit_head": head,
        "rendered_at": timezone.now(),
        "today": today,
    }
