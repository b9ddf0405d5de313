"""The rows an export shows, shared by every writer (CSV, XLSX in `exports`, OSCAL in
`exports_oscal`): plain data, read once by `exports.export_data`."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from reviews.decisions import decision_label

from .models import Assessment, ResponseStatus


@dataclass
class EvidenceRow:
    item_id: int
    title: str
    kind: str  # file | link | note
    description: str
    url: str
    note: str
    revision: int | None  # files only: the current (latest) revision
    sha256: str
    size: int | None
    media_type: str
    uploaded_at: dt.datetime | None
    created_at: dt.datetime
    collected: dt.date
    valid_until: dt.date | None
    decision: str  # ReviewDecision value or "pending"
    control_refs: list[str] = field(default_factory=list)

    @property
    def decision_label(self) -> str:
        return decision_label(self.decision)


@dataclass
class ResponseRow:
    response_id: int
    control_ref: str
    control_title: str
    pillar_ref: str
    pillar_title: str
    guideline_ref: str
    guideline_title: str
    status: str
    justification: str
    owner_email: str
    due_date: dt.date | None
    updated_at: dt.datetime
    decision: str  # ReviewDecision value or "pending"
    reviewer_email: str
    review_comment: str
    evidence: list[EvidenceRow]

    @property
    def status_label(self) -> str:
        return ResponseStatus(self.status).label

    @property
    def decision_label(self) -> str:
        return decision_label(self.decision)


@dataclass
class ExportData:
    assessment: Assessment
    responses: list[ResponseRow]
    evidence: list[EvidenceRow]  # each linked item once, by title

    @property
    def last_modified(self) -> dt.datetime:
        """The newest change the export shows (review dates are not loaded): the same content
        gives the same timestamp, so a re-export of an unchanged assessment is identical."""
        a = self.assessment
        stamps = [a.created_at, a.finalised_at]
        stamps += [r.updated_at for r in self.responses]
        stamps += [e.created_at for e in self.evidence] + [e.uploaded_at for e in self.evidence]
        return max(s for s in stamps if s is not None)
