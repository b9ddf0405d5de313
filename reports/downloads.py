"""A report's PDF as a download, for the HTML views and the API alike."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse

from aigsec.core.downloads import attachment
from aigsec.core.integrity import Incident, read_verified

from .models import Report


def report_pdf_download(report: Report, actor: Any = None) -> HttpResponse:
    """Checked against the stored SHA-256 first, served as an inert attachment. A missing or
    changed file is recorded as `report.integrity_failed` and raised as IntegrityFailure (a
    409 for the caller)."""
    incident = Incident(
        action="report.integrity_failed",
        team=report.team_id,
        target=f"report:{report.pk}",
        data={"report": str(report.uuid), "expected": report.sha256},
        message="This report file failed its integrity check ({reason}) and is withheld. "
        "An administrator has to restore it from a backup.",
    )
    # A signed PDF is small: read whole, and the bytes hashed are the bytes sent.
    data = read_verified(
        report.file.name, report.sha256, incident=incident, actor=actor, storage=report.file.storage
    )
    return attachment(
        data, filename=report.filename, content_type="application/pdf", sha256=report.sha256
    )
