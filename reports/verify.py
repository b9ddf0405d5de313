"""Verification of an uploaded or given report file, shared by the page, API and command."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from aigsec.audit.services import audit_record

from .models import Report, ReportStatus
from .pdfsign import Verification, verify_pdf


@dataclass
class VerifyOutcome:
    verification: Verification
    sha256: str
    report: Report | None  # the stored report with this exact SHA-256, if any


def report_verify(*, data: bytes, actor: Any, via: str) -> VerifyOutcome:
    digest = hashlib.sha256(data).hexdigest()
    verification = verify_pdf(data)
    report = (
        Report.objects.filter(sha256=digest, status=ReportStatus.SIGNED)
        .select_related("team", "assessment__ai_system")
        .first()
    )
    audit_record(
        "report.verified",
        actor=actor,
        team=report.team_id if report else None,
        target=f"report:{report.pk}" if report else None,
        data={"sha256": digest, "ok": verification.ok, "on_record": report is not None, "via": via},
    )
    return VerifyOutcome(verification, digest, report)
