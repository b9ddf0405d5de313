"""Render and sign a report synchronously: the same code path as the Celery task."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from aigsec.accounts.models import User
from assessments.models import Assessment
from reports.models import Report, ReportStatus
from reports.services import report_run


class Command(BaseCommand):
    help = "Render and sign a report of an assessment, store it, and write a copy to --out."

    def add_arguments(self, parser):
        parser.add_argument("assessment_id", type=int)
        parser.add_argument("--out", required=True, help="where to write the signed PDF")
        parser.add_argument("--by", default="", help="e-mail of the requesting user (optional)")

    def handle(self, assessment_id: int, out: str, by: str, **options):
        assessment = Assessment.objects.filter(pk=assessment_id).first()
        if assessment is None:
            raise CommandError(f"No assessment with id {assessment_id}.")
        actor = None
        if by:
            actor = User.objects.filter(email__iexact=by).first()
            if actor is None:
                raise CommandError(f"No user with e-mail {by}.")
        target = Path(out)
        if not target.parent.is_dir():
            raise CommandError(f"Directory {target.parent} does not exist.")
        from aigsec.audit.services import audit_record

        report = Report.objects.create(
            team_id=assessment.team_id, assessment=assessment, requested_by=actor
        )
        audit_record(
            "report.requested",
            actor=actor,
            team=assessment.team_id,
            target=f"report:{report.pk}",
            data={"assessment": assessment.pk, "report": str(report.uuid), "via": "cli"},
        )
        try:
            report = report_run(report.pk)
        except Exception as exc:
            report.refresh_from_db()
            raise CommandError(f"Report {report.uuid} failed: {report.failure_reason}") from exc
        if report is None or report.status != ReportStatus.SIGNED:
            raise CommandError("The report was not signed.")
        with report.file.open("rb") as src:
            target.write_bytes(src.read())
        self.stdout.write(
            f"report {report.uuid} signed: {target} ({report.size} bytes, sha256 {report.sha256})"
        )
