"""Scoring: the value of each answer, weighted sums per guideline, pillar and assessment, and
the verified score (docs/scoring.md). One query per batch of assessments, whatever their size
(aggregated in SQL); the framework structure is cached per process."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from django.db.models import (
    BooleanField,
    Count,
    Exists,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    Sum,
)
from django.utils import timezone

from aigsec.core import teamcache
from evidence.models import EvidenceLink
from reviews.decisions import item_accepted_q, response_review_accepted
from reviews.models import Review

from .models import Assessment, Guideline, Pillar, Response

# The value of each status on the 0..1 scale; not_applicable is excluded from scores.
# See docs/scoring.md.
STATUS_VALUE: dict[str, float] = {
    "not_started": 0.0,
    "not_implemented": 0.0,
    "partial": 1 / 3,
    "largely": 2 / 3,
    "full": 1.0,
}


@dataclass
class Tally:
    """Weighted sums for one scope (a guideline, a pillar or the whole assessment)."""

    weight: float = 0.0
    earned: float = 0.0
    total: int = 0
    answered: int = 0
    applicable: int = 0
    verified_earned: float = 0.0
    by_status: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def add(self, status: str, weight: float, count: int) -> None:
        self.total += count
        self.by_status[status] += count
        if status != "not_started":
            self.answered += count
        if status in STATUS_VALUE:
            self.applicable += count
            self.weight += weight
            self.earned += weight * STATUS_VALUE[status]

    def add_verified(self, status: str, weight: float) -> None:
        """Verified responses keep their value; the others already count in `weight` only."""
        self.verified_earned += weight * STATUS_VALUE.get(status, 0.0)

    @property
    def score(self) -> float | None:
        return round(100 * self.earned / self.weight, 1) if self.weight else None

    @property
    def verified(self) -> float | None:
        """Same formula and denominator as `score`; only verified responses earn their value."""
        return round(100 * self.verified_earned / self.weight, 1) if self.weight else None

    @property
    def progress(self) -> int:
        # Half up (12.5 -> 13), not Python's banker's rounding.
        return (200 * self.answered + self.total) // (2 * self.total) if self.total else 0


def verified_condition() -> Any:
    """True for a response counted as verified (docs/scoring.md): its current decision is
    accepted (latest review, not older than the response's last save) and at least one
    linked, not withdrawn, unexpired (valid_until null or >= today) evidence item has an
    accepted current decision (latest review, of the item's latest revision). Subqueries on
    the outer Response that follow the denormalised `latest_review` / `latest_revision`
    (primary-key probes, no search for the latest), so it costs no query of its own. The
    same rule as reviews/decisions.py, whose filters it uses."""
    accepted_response = Review.objects.filter(
        response_review_accepted(OuterRef("latest_review_id"), OuterRef("updated_at"))
    )
    good_link = EvidenceLink.objects.filter(
        Q(item__valid_until__isnull=True) | Q(item__valid_until__gte=timezone.localdate()),
        item_accepted_q("item__"),
        response_id=OuterRef("pk"),
        item__withdrawn_at__isnull=True,
    )
    return ExpressionWrapper(
        Exists(accepted_response) & Exists(good_link), output_field=BooleanField()
    )


def _tallies(assessment_ids: list[int]) -> dict[int, dict[str, dict[Any, Tally]]]:
    """One query: per assessment, guideline, status and verified or not, the count and the
    summed weight."""
    rows = (
        Response.objects.filter(assessment_id__in=assessment_ids)
        .values(
            "assessment_id",
            "status",
            guideline_id=F("control__guideline_id"),
            pillar_id=F("control__guideline__pillar_id"),
            verified=verified_condition(),
        )
        .annotate(n=Count("id"), w=Sum("control__weight"))
        .order_by()
    )
    out: dict[int, dict[str, dict[Any, Tally]]] = defaultdict(
        lambda: {
            "overall": defaultdict(Tally),
            "pillar": defaultdict(Tally),
            "guideline": defaultdict(Tally),
        }
    )
    for r in rows:
        t = out[r["assessment_id"]]
        for scope, key in (
            ("overall", None),
            ("pillar", r["pillar_id"]),
            ("guideline", r["guideline_id"]),
        ):
            t[scope][key].add(r["status"], float(r["w"] or 0), r["n"])
            if r["verified"]:
                t[scope][key].add_verified(r["status"], float(r["w"] or 0))
    return out


@dataclass
class Scores:
    overall: float | None
    progress: int
    by_status: dict[str, int]
    pillars: list[dict[str, Any]]
    guidelines: list[dict[str, Any]]
    verified_overall: float | None = None

    def as_api(self) -> dict[str, Any]:
        keys = ("ref", "title", "score", "verified", "progress")
        return {
            "overall": self.overall,
            "verified": self.verified_overall,
            "progress": self.progress,
            "pillars": [{k: p[k] for k in keys} for p in self.pillars],
            "guidelines": [{k: g[k] for k in (*keys, "pillar_ref")} for g in self.guidelines],
        }


@lru_cache(maxsize=64)
def framework_structure(version_id: int) -> tuple[tuple[Pillar, ...], tuple[Guideline, ...]]:
    """The pillars and guidelines (with their pillar) of a framework version, in order.

    Cached for the life of the process: a version never changes once loaded (new content is a
    new version, identified by its sha256; nothing deletes one) and ids are not reused, so
    every page that shows scores saves two queries. Treat the objects as read-only."""
    pillars = tuple(Pillar.objects.filter(version_id=version_id).order_by("order"))
    guidelines = tuple(
        Guideline.objects.filter(version_id=version_id).select_related("pillar").order_by("order")
    )
    return pillars, guidelines


def _structure(version_ids: set[int]) -> tuple[list[Pillar], list[Guideline]]:
    pillars: list[Pillar] = []
    guidelines: list[Guideline] = []
    for version_id in sorted(version_ids):
        p, g = framework_structure(version_id)
        pillars += p
        guidelines += g
    return pillars, guidelines


def scores_for_assessments(
    assessments: list[Assessment], *, cached: bool = True
) -> dict[int, Scores]:
    """Scores of many assessments: from the cache under each team's data version
    (aigsec/core/teamcache.py), else one query (the tallies; the structure is cached per
    process). `cached=False` always reads the database (signed reports)."""
    if not cached:
        return _compute_scores(assessments)
    by_id = {a.pk: a for a in assessments}
    return teamcache.cached_per_object(
        "scores",
        {a.pk: a.team_id for a in assessments},
        lambda ids: _compute_scores([by_id[i] for i in ids]),
    )


def _compute_scores(assessments: list[Assessment]) -> dict[int, Scores]:
    if not assessments:
        return {}
    tallies = _tallies([a.pk for a in assessments])
    pillars, guidelines = _structure({a.framework_version_id for a in assessments})
    result = {}
    for a in assessments:
        t = tallies[a.pk]
        overall = t["overall"][None]
        result[a.pk] = Scores(
            overall=overall.score,
            verified_overall=overall.verified,
            progress=overall.progress,
            by_status=dict(overall.by_status),
            pillars=[
                {
                    "id": p.pk,
                    "ref": p.ref,
                    "title": p.title,
                    "score": t["pillar"][p.pk].score,
                    "verified": t["pillar"][p.pk].verified,
                    "progress": t["pillar"][p.pk].progress,
                }
                for p in pillars
                if p.version_id == a.framework_version_id
            ],
            guidelines=[
                {
                    "id": g.pk,
                    "ref": g.ref,
                    "title": g.title,
                    "pillar_ref": g.pillar.ref,
                    "score": t["guideline"][g.pk].score,
                    "verified": t["guideline"][g.pk].verified,
                    "progress": t["guideline"][g.pk].progress,
                }
                for g in guidelines
                if g.version_id == a.framework_version_id
            ],
        )
    return result


def assessment_scores(assessment: Assessment, *, cached: bool = True) -> Scores:
    return scores_for_assessments([assessment], cached=cached)[assessment.pk]
