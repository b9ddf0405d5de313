"""The site-wide search: controls (as answered in the team's assessments), evidence items and
AI systems of the given teams, grouped by kind.

PostgreSQL: full-text search (`websearch_to_tsquery`, English stemming, so "supplies" finds
"supply"; any input is valid syntax, so quotes, `&`, `|` and `!` are never an error) over
expressions, ranked; a control's ref also matches by prefix ("2.1" finds 2.1.1 ... 2.1.4),
which the text parser would not. Other databases (the embedded SQLite of `make run`): every
word must appear, case-insensitively (LIKE with `%` and `_` escaped by Django).

Fixed number of queries whatever the data size: per kind, one for the first results and one
for the total.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVector
from django.db import connection
from django.db.models import Q, QuerySet

from evidence.models import EvidenceItem

from .models import AISystem, Response

MAX_QUERY = 200  # characters kept of what was typed; a longer query is cut, not refused
MAX_WORDS = 20
PER_KIND = 20
CONFIG = "english"


def clean_query(raw: str | None) -> str:
    """What we search for: whitespace collapsed, cut to MAX_QUERY characters, no NUL (which
    PostgreSQL refuses in text)."""
    text = " ".join((raw or "").replace("\x00", " ").split())
    return text[:MAX_QUERY].strip()


@dataclass
class Hits:
    items: list[Any] = field(default_factory=list)
    total: int = 0

    @property
    def more(self) -> int:
        return max(self.total - len(self.items), 0)


@dataclass
class SearchResults:
    query: str
    controls: Hits = field(default_factory=Hits)
    evidence: Hits = field(default_factory=Hits)
    systems: Hits = field(default_factory=Hits)

    @property
    def total(self) -> int:
        return self.controls.total + self.evidence.total + self.systems.total


def _postgres() -> bool:
    return connection.vendor == "postgresql"


def _words_q(q: str, fields: tuple[str, ...]) -> Q:
    cond = Q()
    for word in q.split()[:MAX_WORDS]:
        any_field = Q()
        for f in fields:
            any_field |= Q(**{f"{f}__icontains": word})
        cond &= any_field
    return cond


def _ranked(qs: QuerySet, q: str, fields: tuple[str, ...], extra: Q | None = None) -> QuerySet:
    """`qs` narrowed to rows matching `q` over `fields`, best first on PostgreSQL."""
    if not _postgres():
        cond = _words_q(q, fields)
        return qs.filter(cond | extra if extra is not None else cond)
    vector = SearchVector(*fields, config=CONFIG)  # each field coalesced to '' by Django
    query = SearchQuery(q, search_type="websearch", config=CONFIG)
    qs = qs.annotate(_rank=SearchRank(vector, query)).alias(_doc=vector)
    cond = Q(_doc=query)
    ties = qs.query.order_by
    return qs.filter(cond | extra if extra is not None else cond).order_by("-_rank", *ties)


CONTROL_FIELDS = (
    "control__ref",
    "control__title",
    "control__question",
    "control__guidance_good",
    "control__guidance_partial",
    "justification",
)
EVIDENCE_FIELDS = ("title", "description", "note", "url")
SYSTEM_FIELDS = ("name", "description", "business_owner", "deployment")


def _hits(qs: QuerySet, limit: int) -> Hits:
    # Always counted, so the number of queries does not depend on how much matches.
    return Hits(items=list(qs[:limit]), total=qs.order_by().count())


def search(team_ids: list[int], raw: str | None, *, limit: int = PER_KIND) -> SearchResults:
    """Controls, evidence and AI systems of `team_ids` matching `raw` (at most `limit` of
    each kind, with the total). An empty query finds nothing (and runs no query)."""
    q = clean_query(raw)
    out = SearchResults(query=q)
    if not q or not team_ids:
        return out
    ref = Q(control__ref__startswith=q) if len(q.split()) == 1 else None
    controls = (
        Response.objects.filter(assessment__team_id__in=team_ids)
        .select_related("control__guideline__pillar", "assessment__ai_system", "owner")
        .order_by("assessment__ai_system__name", "-assessment__created_at", "control__order")
    )
    controls = _ranked(controls, q, CONTROL_FIELDS, ref)
    out.controls = _hits(controls, limit)
    evidence = EvidenceItem.objects.filter(team_id__in=team_ids).order_by("title", "pk")
    out.evidence = _hits(_ranked(evidence, q, EVIDENCE_FIELDS), limit)
    systems = AISystem.objects.filter(team_id__in=team_ids).order_by("name", "pk")
    out.systems = _hits(_ranked(systems, q, SYSTEM_FIELDS), limit)
    return out
