"""The report task: thin; the work is in services.report_run."""

from __future__ import annotations

import logging

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings

from .services import TRANSIENT_ERRORS, describe_failure, report_fail, report_requeue, report_run

logger = logging.getLogger(__name__)
MAX_RETRIES = 2


@shared_task(
    bind=True,
    acks_late=True,
    # A worker killed mid-render gives the message back; _claim makes the rerun safe.
    reject_on_worker_lost=True,
    soft_time_limit=settings.REPORT_SOFT_TIME_LIMIT,
    time_limit=settings.REPORT_TIME_LIMIT,
    max_retries=MAX_RETRIES,
)
def render_report(self, report_id: int) -> str | None:
    try:
        report = report_run(report_id)
        return report.status if report else None
    except TRANSIENT_ERRORS as exc:
        if self.request.retries < MAX_RETRIES:
            report_requeue(report_id)
            raise self.retry(exc=exc, countdown=5 * 2**self.request.retries) from exc
        report_fail(report_id, describe_failure(exc))
    except SoftTimeLimitExceeded:
        # The limit in force is the one the message carries (set by the sender).
        soft = (self.request.timelimit or (None, None))[1] or settings.REPORT_SOFT_TIME_LIMIT
        report_fail(report_id, f"Rendering took longer than {soft:g} s and was stopped.")
    except Exception:
        # report_run has recorded the failure and its reason; the traceback is in its log.
        # Not re-raised: a retry of a deterministic error would only fail again.
        logger.info("report %s failed; reason recorded on the report", report_id)
    return None
