"""Demo data: one signed report of the demo assessment, so the report list is not empty."""

from aigsec.accounts.models import Team, User
from assessments.models import Assessment

from .demo_signoff import seed as seed_signoff
from .models import Report, ReportStatus
from .services import report_run


def seed(stdout) -> None:
    # After the evidence and its reviews (seeded by the apps before this one): a final
    # assessment, signed off by a second person, next to the demo's open one.
    seed_signoff(stdout)
    team = Team.objects.filter(name="Demo AI Ltd").first()
    manager = User.objects.filter(email="manager@demo.test").first()
    if team is None or manager is None or Report.objects.filter(team=team).exists():
        return
    assessment = Assessment.objects.filter(team=team).order_by("created_at", "id").first()
    if assessment is None:
        return
    report = Report.objects.create(team=team, assessment=assessment, requested_by=manager)
    report = report_run(report.pk)
    if report is not None and report.status == ReportStatus.SIGNED:
        stdout.write(
            f"  1 signed demo report ({report.size // 1024} KB, sha256 {report.sha256[:12]}…)"
        )
