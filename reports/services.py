"""Report writes: request, render-and-sign, fail. The Celery task and the `render_report`
command both call `report_run`, so the command line renders exactly what the app renders."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import InterfaceError, OperationalError, transaction
from django.template.loader import render_to_string
from django.utils import timezone
from pyhanko.sign.timestamps import TimestampRequestError

from aigsec.accounts.models import User
from aigsec.audit.logproofs import checkpoint_covering
from aigsec.audit.services import audit_record
from assessments.models import Assessment

from .models import Report, ReportStatus, report_upload_to
from .pdfsign import sign_pdf
from .render import html_to_pdf
from .selectors import report_context
from .signing import signing_identity

logger = logging.getLogger(__name__)

# Failures worth another attempt; anything else fails the report at once.
TRANSIENT_ERRORS: tuple[type[Exception], ...] = (
    OperationalError,
    InterfaceError,
    TimestampRequestError,
)
# A request within this window of a pending one for the same assessment returns that one.
DEDUPE_WINDOW = dt.timedelta(minutes=10)


def _target(report: Report) -> str:
    return f"report:{report.pk}"


def report_request(*, assessment: Assessment, actor: User) -> tuple[Report, bool]:
    """Queue a report; returns (report, created). A second click while one is still being
    prepared returns the pending one instead of rendering the same thing twice."""
    from .tasks import render_report

    with transaction.atomic():
        # Lock the assessment row so two simultaneous clicks cannot both create a report.
        Assessment.objects.select_for_update().filter(pk=assessment.pk).first()
        pending = (
            Report.objects.filter(
                assessment=assessment,
                status__in=[ReportStatus.QUEUED, ReportStatus.RENDERING],
                requested_at__gte=timezone.now() - DEDUPE_WINDOW,
            )
            .order_by("-requested_at")
            .first()
        )
        if pending is not None:
            return pending, False
        report = Report.objects.create(
            team_id=assessment.team_id, assessment=assessment, requested_by=actor
        )
        audit_record(
            "report.requested",
            actor=actor,
            team=assessment.team_id,
            target=_target(report),
            data={"assessment": assessment.pk, "report": str(report.uuid)},
        )
        # Only once the row is committed can the worker find it.
        transaction.on_commit(lambda: render_report.delay(report.pk))
    return report, True


def _claim(report_id: int) -> Report | None:
    """Mark the report as rendering, unless it is done or another live attempt holds it."""
    with transaction.atomic():
        report = Report.objects.select_for_update().filter(pk=report_id).first()
        if report is None:
            logger.warning("report %s does not exist; task dropped", report_id)
            return None
        if report.status in (ReportStatus.SIGNED, ReportStatus.FAILED):
            return None
        stale = timezone.now() - dt.timedelta(seconds=settings.REPORT_TIME_LIMIT)
        if (
            report.status == ReportStatus.RENDERING
            and report.started_at
            and report.started_at > stale
        ):
            return None  # a redelivered message while the first attempt is still running
        report.status = ReportStatus.RENDERING
        report.attempts += 1
        report.started_at = timezone.now()
        report.save(update_fields=["status", "attempts", "started_at"])
        return report


def render_report_pdf(report: Report) -> tuple[bytes, dict[str, Any]]:
    """The signed PDF bytes of a report, and the context they were rendered from."""
    identity = signing_identity()
    context = report_context(report)
    context.update(
        signer_fingerprint=identity.fingerprint,
        signer_subject=identity.subject,
        self_managed=identity.self_managed,
        # The signed audit log checkpoint that holds the head above: the report pins the history
        # it came from (appendix text; size and root in the PDF's keywords).
        audit_checkpoint=checkpoint_covering(max(context["audit_head"].get("seq") or 0, 1)),
    )
    pdf = html_to_pdf(render_to_string("reports/report.html", context))
    return sign_pdf(pdf, identity=identity, report=report, team_name=context["team"].name), context


def _store(report_id: int, data: bytes, context: dict[str, Any]) -> Report:
    digest = hashlib.sha256(data).hexdigest()
    with transaction.atomic():
        report = Report.objects.select_for_update().get(pk=report_id)
        if report.status == ReportStatus.SIGNED:
            return report  # another attempt finished first: keep its file, drop ours
        name = report_upload_to(report, "")
        if default_storage.exists(name):
            # A leftover of an attempt that died mid-write; no row ever pointed at it.
            default_storage.delete(name)
        saved = default_storage.save(name, ContentFile(data))
        try:
            report.file.name = saved
            report.sha256 = digest
            report.size = len(data)
            report.status = ReportStatus.SIGNED
            report.signed_at = timezone.now()
            report.failure_reason = ""
            report.is_final = context["is_final"]
            report.signer_fingerprint = context["signer_fingerprint"]
            report.audit_head_seq = context["audit_head"].get("seq")
            report.audit_head_hash = context["audit_head"].get("hash", "")
            report.save()
            audit_record(
                "report.rendered",
                team=report.team_id,
                target=_target(report),
                data={
                    "report": str(report.uuid),
                    "assessment": report.assessment_id,
                    "sha256": digest,
                    "size": len(data),
                    "final": report.is_final,
                },
            )
        except Exception:
            default_storage.delete(saved)
            raise
    return report


def report_fail(report_id: int, reason: str) -> Report:
    with transaction.atomic():
        report = Report.objects.select_for_update().get(pk=report_id)
        if report.status in (ReportStatus.SIGNED, ReportStatus.FAILED):
            return report  # the first recorded outcome stands
        report.status = ReportStatus.FAILED
        report.failure_reason = reason[:2000] or "Unknown error"
        report.save(update_fields=["status", "failure_reason"])
        audit_record(
            "report.failed",
            team=report.team_id,
            target=_target(report),
            data={"report": str(report.uuid), "reason": report.failure_reason[:300]},
        )
    return report


def report_requeue(report_id: int) -> None:
    """Before a retry: back to queued, so the page does not show a dead attempt as running."""
    Report.objects.filter(pk=report_id, status=ReportStatus.RENDERING).update(
        status=ReportStatus.QUEUED
    )


def describe_failure(exc: BaseException) -> str:
    # The reason is shown to managers: the exception class and message, never a traceback.
    text = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def report_run(report_id: int) -> Report | None:
    """Render, sign and store one report. Transient errors propagate (the caller may retry);
    any other error marks the report failed with the reason and is re-raised."""
    report = _claim(report_id)
    if report is None:
        return Report.objects.filter(pk=report_id).first()
    try:
        data, context = render_report_pdf(report)
        return _store(report_id, data, context)
    except (*TRANSIENT_ERRORS, SoftTimeLimitExceeded):
        raise  # the task decides: retry, or fail with the time limit as the reason
    except Exception as exc:
        logger.exception("report %s failed", report_id)
        report_fail(report_id, describe_failure(exc))
        raise


def report_record_download(*, report: Report, actor: User, via: str) -> None:
    audit_record(
        "report.downloaded",
        actor=actor,
        team=report.team_id,
        target=_target(report),
        data={"report": str(report.uuid), "sha256": report.sha256, "via": via},
    )
