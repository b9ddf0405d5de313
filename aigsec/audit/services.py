"""Writes to the audit trail. Every state-changing service calls `audit_record` in its own
transaction, so the event commits or rolls back with the change it describes."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from .chain import VerifyResult, event_hash, format_at
from .debounce import checkpoint_soon
from .models import AuditChainHead, AuditCheckpoint, AuditEvent
from .verify import audit_verify_db


def _as_stored(number: str) -> float | int:
    """A JSON number as the jsonb column gives it back: PostgreSQL keeps numbers as numerics,
    so a float written with a positive exponent (1e+16 and above) returns as an integer of
    all its digits, and -0.0 as 0.0. Hashing the float would make the event unverifiable."""
    if "e+" in number.lower():
        return int(Decimal(number))
    value = float(number)
    return 0.0 if value == 0 else value


def _normalise(data: dict[str, Any] | None) -> dict[str, Any]:
    # Round-trip through JSON so the hashed value is exactly what the JSON column returns
    # (NaN and infinities are not JSON: refused here rather than by the database).
    text = json.dumps(data or {}, cls=DjangoJSONEncoder, allow_nan=False)
    return json.loads(text, parse_float=_as_stored)


def audit_record(
    action: str,
    *,
    actor: Any = None,
    team: Any = None,
    target: str | None = None,
    data: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event. `actor` and `team` may be model instances or ids (or None)."""
    actor_id = getattr(actor, "pk", actor)
    if actor_id is not None and not getattr(actor, "is_authenticated", True):
        actor_id = None
    team_id = getattr(team, "pk", team)
    with transaction.atomic():
        # The row lock on the single head row serialises appends across processes; the lock
        # is held until the surrounding transaction ends, so the chain cannot fork.
        head = AuditChainHead.objects.select_for_update().get(pk=1)
        seq = head.seq + 1
        at = timezone.now()
        body = {
            "seq": seq,
            "at": format_at(at),
            "actor": actor_id,
            "action": action,
            "team": team_id,
            "target": target,
            "data": _normalise(data),
        }
        digest = event_hash(head.hash, body)
        event = AuditEvent.objects.create(
            seq=seq,
            at=at,
            actor=actor_id,
            action=action,
            team=team_id,
            target=target,
            data=body["data"],
            prev_hash=head.hash,
            hash=digest,
        )
        AuditChainHead.objects.filter(pk=1).update(seq=seq, hash=digest)
        if settings.AUDIT_CHECKPOINT_DEBOUNCE > 0:
            # A signed checkpoint shortly after the burst this event belongs to (checkpoints.py).
            transaction.on_commit(checkpoint_soon)
    return event


def audit_export_start(*, actor: Any, team_id: int, fmt: str, filters: dict[str, str]) -> int:
    """Record `audit.exported` and return the seq the export stops at.

    The bound is the head before this event, read under the head lock, so the file holds
    exactly what the event describes (filters up to that seq), however long streaming takes
    and whatever is appended meanwhile."""
    with transaction.atomic():
        head = AuditChainHead.objects.select_for_update().get(pk=1)
        audit_record(
            "audit.exported",
            actor=actor,
            team=team_id,
            data={"format": fmt, "filters": filters, "up_to_seq": head.seq},
        )
    return head.seq


def audit_chain_verify(*, actor: Any, team_id: int) -> tuple[VerifyResult, AuditCheckpoint | None]:
    """Verify the whole chain against the latest checkpoint and record `audit.verified`."""
    result, cp = audit_verify_db()
    audit_record(
        "audit.verified",
        actor=actor,
        team=team_id,
        data={
            "ok": result.ok,
            "count": result.count,
            "head_seq": result.head_seq,
            "head_hash": result.head_hash,
            "bad_seq": result.bad_seq,
            "reason": result.reason,
            "checkpoint_seq": cp.seq if cp else None,
        },
    )
    return result, cp
