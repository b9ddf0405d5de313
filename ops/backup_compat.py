"""Backups taken by an older aigsec that restore into this one: models that moved app.

A backup names each row's model by its label (`evidence.review`) and pins the migrations that
were applied. When a model moves to another app without changing its table or columns (its
migrations only change Django's state), a backup taken before the move holds exactly the rows
the new model expects, under the old label. A restore maps such labels to the new ones and
accepts a backup that lacks only those state-only migrations; any other difference in schema
is still refused (restore._check_migrations).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator

# Old model label -> the label of the same table today.
MOVED_MODELS: dict[str, str] = {
    # Reviews and comment threads left the evidence app for their own (reviews/0001).
    "evidence.review": "reviews.review",
    "evidence.responsecomment": "reviews.responsecomment",
}

# Migrations that change no table: a backup made before them is restorable after them.
STATE_ONLY_MIGRATIONS: frozenset[str] = frozenset(
    {
        "reviews.0001_initial",
        "assessments.0003_response_latest_review_reviews_app",
        "evidence.0005_reviews_move_to_reviews_app",
    }
)


def current_label(label: str) -> str:
    return MOVED_MODELS.get(label, label)


def only_state_missing(missing_from_backup: set[str]) -> bool:
    """Whether the migrations applied here but absent from a backup all leave tables alone."""
    return missing_from_backup <= STATE_ONLY_MIGRATIONS


def relabel_lines(lines: Iterable[str]) -> Iterator[str]:
    """The JSON lines of a dump, each object's model label mapped to today's. Lines of models
    that did not move pass through untouched."""
    for line in lines:
        if any(f'"{old}"' in line for old in MOVED_MODELS):
            obj = json.loads(line)
            obj["model"] = current_label(obj["model"])
            line = json.dumps(obj) + "\n"
        yield line
