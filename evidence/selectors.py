"""Reads for evidence: the team's list with freshness, one item's revisions and links."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, OuterRef, Q, QuerySet
from django.utils import timezone

from aigsec.core.paging import Paged, page_window, subquery_count
from assessments.models import Response

from .models import EvidenceItem, EvidenceLink, EvidenceRevision

EXPIRING_DAYS = 30


class Freshness:
    VALID = "valid"
    EXPIRING = "expiring"
    EXPIRED = "expired"
    LABELS = {VALID: "Valid", EXPIRING: "Expiring", EXPIRED: "Expired"}
    BADGES = {VALID: "badge-ok", EXPIRING: "badge-warn", EXPIRED: "badge-bad"}


def freshness(valid_until: dt.date | None, today: dt.date | None = None) -> str:
    """valid, expiring (within 30 days) or expired. No end date counts as valid."""
    today = today or timezone.localdate()
    if valid_until is None:
        return Freshness.VALID
    if valid_until < today:
        return Freshness.EXPIRED
    if valid_until <= today + dt.timedelta(days=EXPIRING_DAYS):
        return Freshness.EXPIRING
    return Freshness.VALID


def annotate_freshness(items: list[EvidenceItem]) -> list[EvidenceItem]:
    today = timezone.localdate()
    for item in items:
        item.freshness = freshness(item.valid_until, today)
        item.freshness_label = Freshness.LABELS[item.freshness]
        item.freshness_badge = Freshness.BADGES[item.freshness]
    return items


PAGE_SIZE = 50


@dataclass
class EvidencePage(Paged):
    items: list[EvidenceItem]
    number: int  # 1-based
    pages: int
    total: int


def evidence_list(
    team_id: int,
    *,
    include_withdrawn: bool = False,
    fresh: str | None = None,
    page: int = 1,
    size: int = PAGE_SIZE,
) -> EvidencePage:
    """One page of the team's evidence, newest first, in three queries whatever the number of
    items: the count, the page of items (with owner, link and revision counts) and their latest
    revisions. A team has thousands of items: rendering them all made the page slow
    (docs/benchmarks.md)."""
    qs: QuerySet[EvidenceItem] = EvidenceItem.objects.filter(team_id=team_id)
    if not include_withdrawn:
        qs = qs.filter(withdrawn_at__isnull=True)
    if fresh:
        qs = filter_freshness(qs, fresh)
    total = qs.count()
    number, pages, start = page_window(total, page, size)
    # Counted per row of the page (correlated subqueries after the LIMIT), not by joining the
    # links and revisions tables and grouping: that join read both whole tables, 43 ms at
    # 200,000 items (docs/benchmarks.md).
    page_qs = (
        qs.select_related("owner")
        .annotate(
            link_count=subquery_count(
                EvidenceLink.objects.filter(item_id=OuterRef("pk")), "item_id"
            ),
            revision_count=subquery_count(
                EvidenceRevision.objects.filter(item_id=OuterRef("pk")), "item_id"
            ),
        )
        .order_by("-created_at", "-id")
    )
    items = annotate_freshness(list(page_qs[start : start + size]))
    latest: dict[int, EvidenceRevision] = {}
    file_ids = [i.pk for i in items if i.revision_count]
    if file_ids:
        for rev in EvidenceRevision.objects.filter(item_id__in=file_ids).order_by(
            "item_id", "-number"
        ):
            latest.setdefault(rev.item_id, rev)
    for i in items:
        i.latest_revision = latest.get(i.pk)
    return EvidencePage(items, number, pages, total)


def evidence_detail(item: EvidenceItem) -> dict[str, Any]:
    revisions = list(item.revisions.select_related("uploaded_by").order_by("-number"))
    links = list(
        EvidenceLink.objects.filter(item=item)
        .select_related("response__control", "response__assessment")
        .order_by("response__assessment__title", "response__control__order")
    )
    annotate_freshness([item])
    return {"item": item, "revisions": revisions, "links": links}


def linkable_responses(team_id: int) -> QuerySet[Response]:
    """Responses of the team's open (not final) assessments, for link forms."""
    return (
        Response.objects.filter(assessment__team_id=team_id)
        .exclude(assessment__status="final")
        .select_related("assessment", "control")
        .order_by("assessment__title", "assessment_id", "control__order")
    )


def filter_freshness(qs: QuerySet[EvidenceItem], fresh: str) -> QuerySet[EvidenceItem]:
    """The same rule as `freshness`, in SQL."""
    today = timezone.localdate()
    soon = today + dt.timedelta(days=EXPIRING_DAYS)
    if fresh == Freshness.EXPIRED:
        return qs.filter(valid_until__lt=today)
    if fresh == Freshness.EXPIRING:
        return qs.filter(valid_until__gte=today, valid_until__lte=soon)
    return qs.exclude(valid_until__lte=soon)


def evidence_by_response(response_ids: list[int]) -> dict[int, list[EvidenceItem]]:
    """The live (not withdrawn) evidence of each response, with freshness, in one query."""
    from .models import EvidenceLink

    out: dict[int, list[EvidenceItem]] = {rid: [] for rid in response_ids}
    links = (
        EvidenceLink.objects.filter(response_id__in=response_ids, item__withdrawn_at__isnull=True)
        .select_related("item")
        .order_by("item__title", "item_id")
    )
    for link in links:
        out[link.response_id].append(link.item)
    annotate_freshness([i for items in out.values() for i in items])
    return out


def evidence_counts() -> dict[str, Any]:
    """Annotations for a Response queryset: its live linked evidence (`n_evidence`) and how
    many of those have not expired (`n_unexpired`), as correlated counts in the same query:
    what a control's summary shows without loading the items (only_expired in SQL)."""
    live = EvidenceLink.objects.filter(response_id=OuterRef("pk"), item__withdrawn_at__isnull=True)
    unexpired = live.filter(
        Q(item__valid_until__isnull=True) | Q(item__valid_until__gte=timezone.localdate())
    )
    return {
        "n_evidence": subquery_count(live, "response_id"),
        "n_unexpired": subquery_count(unexpired, "response_id"),
    }


def only_expired(items: list[EvidenceItem]) -> bool:
    """A control whose evidence has all expired is flagged: it no longer shows anything."""
    return bool(items) and all(i.freshness == Freshness.EXPIRED for i in items)


def linkable_evidence(team_id: int) -> list[EvidenceItem]:
    """The team's live evidence items, for "link existing evidence" on a control (one query)."""
    return list(
        EvidenceItem.objects.filter(team_id=team_id, withdrawn_at__isnull=True)
        .only("pk", "title")
        .order_by("title", "pk")
    )


def evidence_freshness_by_assessment(assessment_ids: list[int]) -> dict[int, dict[str, int]]:
    """Per assessment, how many distinct live evidence items linked to it are expiring or
    expired (for the dashboard). One query, counted in SQL with the rule of `freshness`:
    expired before today, expiring up to EXPIRING_DAYS from today."""
    from .models import EvidenceLink

    today = timezone.localdate()
    soon = today + dt.timedelta(days=EXPIRING_DAYS)
    out = {aid: {"expired": 0, "expiring": 0} for aid in assessment_ids}
    rows = (
        EvidenceLink.objects.filter(
            response__assessment_id__in=assessment_ids, item__withdrawn_at__isnull=True
        )
        .values("response__assessment_id")
        .annotate(
            expired=Count("item_id", distinct=True, filter=Q(item__valid_until__lt=today)),
            expiring=Count(
                "item_id",
                distinct=True,
                filter=Q(item__valid_until__gte=today, item__valid_until__lte=soon),
            ),
        )
        .order_by()
    )
    for row in rows:
        out[row["response__assessment_id"]] = {
            "expired": row["expired"],
            "expiring": row["expiring"],
        }
    return out


def recent_integrity_incidents(team_id: int, limit: int = 5) -> list[Any]:
    """The latest integrity incidents of a team, from the audit trail (for admins). One query."""
    from aigsec.audit.models import AuditEvent

    return list(
        AuditEvent.objects.filter(team=team_id, action="evidence.integrity_incident").order_by(
            "-seq"
        )[:limit]
    )
