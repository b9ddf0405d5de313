"""Comparing two assessments of one AI system: the controls that changed (all of them on
request) and the score deltas, overall and per pillar (pillars matched by ref, so two
versions of a framework compare too)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .models import Assessment
from .selectors import compare_assessments, scores_for_assessments


@dataclass
class Delta:
    label: str
    before: float | None
    now: float | None

    @property
    def change(self) -> float | None:
        if self.before is None or self.now is None:
            return None
        return round(self.now - self.before, 1)

    @property
    def size(self) -> float | None:
        c = self.change
        return None if c is None else abs(c)

    @property
    def direction(self) -> str:
        c = self.change
        return "none" if not c else ("up" if c > 0 else "down")


def comparison(before: Assessment, now: Assessment, *, show_all: bool) -> dict[str, Any]:
    """Rows (changed only unless `show_all`) and deltas; three queries (two assessments'
    responses, one for both assessments' tallies unless cached)."""
    rows = compare_assessments(before, now)
    scores = scores_for_assessments([before, now])
    b, n = scores[before.pk], scores[now.pk]
    b_pillars = {p["ref"]: p for p in b.pillars}
    deltas = [Delta("Overall", b.overall, n.overall)]
    for p in n.pillars:
        old = b_pillars.get(p["ref"], {})
        deltas.append(Delta(f"{p['ref']} {p['title']}", old.get("score"), p["score"]))
    changed = [r for r in rows if r["changed"]]
    return {
        "rows": rows if show_all else changed,
        "changed": len(changed),
        "total": len(rows),
        "show_all": show_all,
        "deltas": deltas,
    }
