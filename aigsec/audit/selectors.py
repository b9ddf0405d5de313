"""Reads of the audit trail: export rows and verification against the database."""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from typing import Any

from .chain import EXPORT_FIELDS, VerifyResult, checkpoint_mac, format_at, verify_events
from .models import AuditCheckpoint, AuditEvent
from .services import checkpoint_key


def audit_events_iter(chunk_size: int = 5000) -> Iterator[dict[str, Any]]:
    """Every event in seq order as export dicts, streamed in chunks."""
    rows = AuditEvent.objects.order_by("seq").values_list(*EXPORT_FIELDS)
    for row in rows.iterator(chunk_size=chunk_size):
        ev = dict(zip(EXPORT_FIELDS, row, strict=True))
        ev["at"] = format_at(ev["at"])
        yield ev


def latest_valid_checkpoint() -> tuple[AuditCheckpoint | None, str]:
    """The newest checkpoint, and an error if its signature does not hold."""
    cp = AuditCheckpoint.objects.order_by("-seq", "-id").first()
    if cp is None:
        return None, ""
    expected = checkpoint_mac(checkpoint_key(), cp.seq, cp.hash)
    if not hmac.compare_digest(expected, cp.mac):
        return cp, f"checkpoint at seq {cp.seq} has an invalid signature"
    return cp, ""


def audit_verify_db() -> tuple[VerifyResult, AuditCheckpoint | None]:
    cp, error = latest_valid_checkpoint()
    if error:
        assert cp is not None
        return VerifyResult(False, 0, 0, "", cp.seq, error), cp
    result = verify_events(audit_events_iter(), (cp.seq, cp.hash) if cp else None)
    return result, cp
