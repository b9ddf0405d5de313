"""Bulk review: one decision and one comment on many targets, all or nothing.

The caller (HTML view or API) fetches every target through the door first, so a target of
another team is a 404 before anything is written; then every decision is recorded by
review_create, in one transaction: any refusal (a stale version, an unanswered control, a
final assessment) rolls back the decisions already recorded in it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from aigsec.accounts.models import User
from aigsec.core.access import Perm, get_for_user
from assessments.models import Response
from evidence.models import EvidenceItem

from .errors import ReviewConflict
from .models import Review
from .services import review_check_input, review_create

MAX_TARGETS = 200
KINDS = ("response", "evidence")


@dataclass(frozen=True)
class TargetRef:
    """A target as a client names it: kind, id and, optionally, the version the decision is
    made on and the latest review seen (both from the page or API client)."""

    kind: str
    id: int
    version: int | None = None
    seen_review: int | None = None


def check_target_refs(refs: list[TargetRef]) -> None:
    """ValidationError naming `targets` for an empty, oversized or repeating list, or a kind
    that does not exist."""
    if not refs:
        raise ValidationError({"targets": "Choose at least one answer or evidence item."})
    if len(refs) > MAX_TARGETS:
        raise ValidationError(
            {"targets": f"At most {MAX_TARGETS} targets at once ({len(refs)} given)."}
        )
    seen: set[tuple[str, int]] = set()
    for i, ref in enumerate(refs):
        if ref.kind not in KINDS:
            raise ValidationError(
                {"targets": f"Target {i + 1}: kind must be “response” or “evidence”."}
            )
        if (ref.kind, ref.id) in seen:
            raise ValidationError({"targets": f"Target {i + 1}: {ref.kind} {ref.id} is repeated."})
        seen.add((ref.kind, ref.id))


def fetch_targets(user: User, refs: list[TargetRef]) -> list[tuple[TargetRef, Any]]:
    """Each target through the door with `review` (404 for another team's, 403 for a role
    without it), before anything is written."""
    out = []
    for ref in refs:
        qs = Response.objects.all() if ref.kind == "response" else EvidenceItem.objects.all()
        out.append((ref, get_for_user(user, qs, ref.id, Perm.REVIEW)))
    return out


def review_bulk(
    *, reviewer: User, decision: str, comment: str, targets: list[tuple[TargetRef, Any]]
) -> list[Review]:
    """Record `decision` on every target, all or nothing. Raises what review_create raises;
    a ValidationError or ReviewConflict names the target (`Target 3: …`)."""
    comment = review_check_input(decision=decision, comment=comment)
    reviews = []
    with transaction.atomic():
        for i, (ref, obj) in enumerate(targets):
            kind = {"response": obj} if ref.kind == "response" else {"evidence": obj}
            try:
                reviews.append(
                    review_create(
                        reviewer=reviewer,
                        decision=decision,
                        comment=comment,
                        expected_version=ref.version,
                        seen_review=ref.seen_review,
                        **kind,
                    )
                )
            except ValidationError as exc:
                raise ValidationError(
                    {"targets": f"Target {i + 1} ({ref.kind} {ref.id}): {' '.join(exc.messages)}"}
                ) from exc
            except ReviewConflict as exc:
                raise ReviewConflict(
                    f"Target {i + 1} ({ref.kind} {ref.id}): {exc}", target=f"{ref.kind}:{ref.id}"
                ) from exc
    return reviews
