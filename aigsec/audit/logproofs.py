"""Reads of the transparency log for the API: the newest checkpoint, proofs, a team's bundle.

Every proof is against a published (stored, signed, witnessed) checkpoint. An event newer than
the newest checkpoint gets one taken first, so a proof never waits for the debounce or the
schedule; taking one is idempotent and cheap (checkpoints.py).
"""

from __future__ import annotations

from typing import Any

from django.db.models import Max

from . import tree
from .chain import EXPORT_FIELDS, export_line, format_at
from .checkpoints import audit_checkpoint_take
from .models import AuditCheckpoint, AuditEvent
from .selectors import audit_events_for_team
from .services import audit_export_start

BUNDLE_MAX_EVENTS = 10_000


class BadSize(ValueError):
    """A tree size that is not a published checkpoint, or too small for the event."""


class TooMany(ValueError):
    """A bundle would hold more events than BUNDLE_MAX_EVENTS."""


def latest_checkpoint() -> AuditCheckpoint | None:
    return AuditCheckpoint.objects.order_by("-seq").first()


def unpublished_sizes(sizes: list[int]) -> set[int]:
    found = set(AuditCheckpoint.objects.filter(seq__in=sizes).values_list("seq", flat=True))
    return set(sizes) - found


def consistency(first: int, second: int) -> list[str]:
    return [h.hex() for h in tree.consistency_proof(first, second)]


def checkpoint_covering(seq: int) -> AuditCheckpoint:
    """The newest checkpoint if it covers `seq`, else a new one (which does)."""
    cp = latest_checkpoint()
    if cp is None or cp.seq < seq:
        cp = audit_checkpoint_take()
    assert cp is not None and cp.seq >= seq
    return cp


def _line(ev: AuditEvent) -> str:
    d = {f: getattr(ev, f) for f in EXPORT_FIELDS}
    d["at"] = format_at(ev.at)
    return export_line(d)


def inclusion(ev: AuditEvent, tree_size: int | None) -> dict[str, Any]:
    """The proof that `ev` is leaf seq - 1 of the tree of a published size (default: the
    newest checkpoint, taken now if the event is newer)."""
    if tree_size is None:
        tree_size = checkpoint_covering(ev.seq).seq
    else:
        if tree_size < ev.seq:
            raise BadSize(f"The tree of size {tree_size} does not hold event {ev.seq}.")
        if unpublished_sizes([tree_size]):
            raise BadSize("No checkpoint was published at this size.")
    proof = tree.inclusion_proof(ev.seq - 1, tree_size)
    return {
        "seq": ev.seq,
        "line": _line(ev),
        "index": ev.seq - 1,
        "tree_size": tree_size,
        "proof": [h.hex() for h in proof],
    }


def team_bundle(*, actor: Any, team_id: int, form: Any, filters: dict[str, str]) -> dict:
    """The team's events matching the audit page's filters, each with its inclusion proof to
    one checkpoint. Recorded as an `audit.exported` event (format "bundle"), like the page's
    exports; the bundle stops at the head before that event."""
    events = audit_events_for_team(team_id, form.filters())
    if events.count() > BUNDLE_MAX_EVENTS:
        raise TooMany(
            f"More than {BUNDLE_MAX_EVENTS} events match: narrow the dates or the action."
        )
    up_to = audit_export_start(actor=actor, team_id=team_id, fmt="bundle", filters=filters)
    events = events.filter(seq__lte=up_to)
    top = events.aggregate(top=Max("seq"))["top"] or 0
    cp = checkpoint_covering(max(top, 1))
    rows = list(events.order_by("seq").values_list(*EXPORT_FIELDS))
    indices = [row[0] - 1 for row in rows]
    _root, proofs = tree.inclusion_proofs(indices, cp.seq)
    out = []
    for row, proof in zip(rows, proofs, strict=True):
        d = dict(zip(EXPORT_FIELDS, row, strict=True))
        d["at"] = format_at(d["at"])
        proof_hex = [h.hex() for h in proof]
        out.append({"line": export_line(d), "index": d["seq"] - 1, "proof": proof_hex})
    return {"checkpoint": cp.note, "events": out}
