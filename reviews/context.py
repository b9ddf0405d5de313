"""What an auditor needs beside each row of the review queue, for one page of rows at once:
the evidence linked to each answer (hash and freshness), and whether an answer was carried
forward unchanged from an accepted one in the assessment it was started from.

Two queries whatever the page holds (one when no row comes from a copied assessment).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from django.db.models import Q
from django.utils import timezone

from assessments.models import Response as ResponseModel
from evidence import selectors as evidence_selectors
from evidence.models import EvidenceLink

from .decisions import PENDING, item_decision, response_decision

if TYPE_CHECKING:
    from assessments.models import Response
    from evidence.models import EvidenceItem

    from .selectors import QueueRow


@dataclass
class LinkedEvidence:
    item: EvidenceItem
    sha256: str  # of the newest revision; "" for links and notes
    freshness: str
    decision: str

    @property
    def freshness_label(self) -> str:
        return evidence_selectors.Freshness.LABELS[self.freshness]

    @property
    def freshness_badge(self) -> str:
        return evidence_selectors.Freshness.BADGES[self.freshness]


@dataclass
class Carried:
    """An answer and its evidence unchanged from an accepted pair of the source assessment."""

    assessment_id: int
    response_id: int


@dataclass
class RowContext:
    evidence: list[LinkedEvidence] = field(default_factory=list)
    carried: Carried | None = None


def _links(response_ids: list[int]) -> dict[int, list[EvidenceLink]]:
    out: dict[int, list[EvidenceLink]] = defaultdict(list)
    if not response_ids:
        return out
    links = (
        EvidenceLink.objects.filter(response_id__in=response_ids, item__withdrawn_at__isnull=True)
        .select_related("item__latest_revision", "item__latest_review__reviewer")
        .only(
            "response_id",
            "item__id",
            "item__title",
            "item__kind",
            "item__valid_until",
            "item__latest_revision__sha256",
            "item__latest_review__decision",
            "item__latest_review__revision_id",
            "item__latest_review__created_at",
            "item__latest_review__comment",
            "item__latest_review__reviewer__full_name",
            "item__latest_review__reviewer__email",
        )
        .order_by("item__title", "item_id")
    )
    for link in links:
        out[link.response_id].append(link)
    return out


def queue_context(rows: list[QueueRow]) -> dict[tuple[str, int], RowContext]:
    """(kind, id) -> the context of each response row of the page."""
    responses = [row.response for row in rows if row.response is not None]
    if not responses:
        return {}
    # The sources of rows from a copied assessment: same control ref in the earlier one.
    wanted = Q()
    for r in responses:
        if r.assessment.based_on_id:
            wanted |= Q(assessment_id=r.assessment.based_on_id, control__ref=r.control.ref)
    sources = {}
    if wanted:
        for s in (
            ResponseModel.objects.filter(wanted)
            .select_related("latest_review__reviewer", "control")
            .only(
                "assessment_id",
                "status",
                "justification",
                "updated_at",
                "control__ref",
                "latest_review__decision",
                "latest_review__created_at",
                "latest_review__comment",
                "latest_review__reviewer__full_name",
                "latest_review__reviewer__email",
            )
            .order_by()
        ):
            sources[(s.assessment_id, s.control.ref)] = s
    links = _links([r.pk for r in responses] + [s.pk for s in sources.values()])
    today = timezone.localdate()
    out: dict[tuple[str, int], RowContext] = {}
    for r in responses:
        ctx = RowContext()
        for link in links.get(r.pk, []):
            item = link.item
            rev = item.latest_revision
            ctx.evidence.append(
                LinkedEvidence(
                    item=item,
                    sha256=rev.sha256 if rev else "",
                    freshness=evidence_selectors.freshness(item.valid_until, today),
                    decision=item_decision(item.latest_review, item.latest_revision_id).decision,
                )
            )
        src = sources.get((r.assessment.based_on_id, r.control.ref))
        if src is not None and _unchanged_and_accepted(r, src, ctx, links.get(src.pk, [])):
            ctx.carried = Carried(assessment_id=src.assessment_id, response_id=src.pk)
        out[("response", r.pk)] = ctx
    return out


def _unchanged_and_accepted(
    r: Response, src: Response, ctx: RowContext, src_links: list[EvidenceLink]
) -> bool:
    """The answer reads as its source did, the source's decision is accepted, and both link the
    same evidence, every item of it accepted (on its newest revision) and not expired."""
    if (r.status, r.justification) != (src.status, src.justification):
        return False
    if response_decision(src.latest_review, src.updated_at).decision != "accepted":
        return False
    if {e.item.pk for e in ctx.evidence} != {link.item_id for link in src_links}:
        return False
    # Only while the copy waits for a decision of its own; every linked item accepted, live.
    return response_decision(r.latest_review, r.updated_at).decision == PENDING and all(
        e.decision == "accepted" and e.freshness != evidence_selectors.Freshness.EXPIRED
        for e in ctx.evidence
    )
