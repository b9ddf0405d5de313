"""Reports: a factory for the report row, and a realistic assessment for report tests (the
bundled framework, answers of every kind, file evidence with reviews, an overdue gap and a
not-applicable control)."""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass
from typing import Any

import factory
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.utils import timezone

from aigsec.accounts.models import Role
from assessments import services as a_services
from assessments.models import Assessment, FrameworkVersion, Response
from evidence import services as e_services
from evidence.models import EvidenceItem
from reports.models import Report
from reports.services import report_request, report_run
from reviews.services import review_create

from .accounts import member_of
from .assessments import AISystemFactory, AssessmentFactory, make_framework_version
from .evidence import CSV

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00"
    b"\x00\x00IEND\xaeB`\x82"
)


class ReportFactory(factory.django.DjangoModelFactory):
    """A report requested by `report_request` (queued; its task runs after commit, so not in
    a test's transaction). `rendered=True` renders and signs it now with `report_run`, the
    service the task calls. The requester defaults to a new manager of the team."""

    class Meta:
        model = Report

    assessment = factory.SubFactory(AssessmentFactory)
    actor = factory.LazyAttribute(lambda o: member_of(o.assessment.team, Role.MANAGER))
    rendered = False

    @classmethod
    def _create(cls, model_class: type[Report], *, rendered: bool, **kwargs: Any) -> Report:
        report, _ = report_request(**kwargs)
        if rendered:
            report = report_run(report.pk) or report
        return report


@dataclass
class ReportWorld:
    assessment: Assessment
    items: list[EvidenceItem]
    gap: Response
    na: Response


def bundled_version() -> FrameworkVersion:
    if not FrameworkVersion.objects.filter(framework__slug__startswith="ncsc").exists():
        call_command("load_framework", stdout=io.StringIO())
    return FrameworkVersion.objects.filter(framework__slug__startswith="ncsc").latest("number")


def _answer(r: Response, actor, status: str, justification: str = "", **kw) -> Response:
    return a_services.response_save(
        response=r,
        expected_version=r.version,
        actor=actor,
        status=status,
        justification=justification,
        **kw,
    )


def make_report_world(
    personas, *, system_name: str = "Fraud model", hostile: str = "", bundled: bool = True
) -> ReportWorld:
    """`bundled=False` uses a small 2x2x2 framework: same code paths, a fraction of the time."""
    system = AISystemFactory(team=personas.team, name=system_name)
    a = a_services.assessment_create(
        ai_system=system,
        framework_version=bundled_version() if bundled else make_framework_version(),
        actor=personas.manager,
        title="",
    )
    responses = list(a.responses.select_related("control").order_by("control__order"))
    owner = personas.risk_owner
    full = _answer(responses[0], owner, "full", hostile or "Threat model reviewed quarterly.")
    partial = _answer(responses[1], owner, "partial", hostile or "Half the teams trained.")
    gap = _answer(
        responses[2],
        owner,
        "not_implemented",
        owner=owner,
        due_date=timezone.localdate() - dt.timedelta(days=3),
    )
    na = _answer(responses[3], owner, "not_applicable", "No third-party models are used.")
    items = []
    for i, (name, data) in enumerate((("scan.csv", CSV), ("diagram.png", PNG))):
        items.append(
            e_services.evidence_create(
                team=personas.team,
                actor=owner,
                kind="file",
                title=hostile or f"Evidence {i + 1}",
                uploaded_file=SimpleUploadedFile(name, data),
                responses=[full, partial],
            )
        )
    review_create(
        reviewer=personas.auditor, decision="accepted", comment="Fine.", evidence=items[0]
    )
    review_create(
        reviewer=personas.auditor,
        decision="rejected",
        comment=hostile or "Out of date.",
        evidence=items[1],
    )
    full.refresh_from_db()
    review_create(reviewer=personas.auditor, decision="accepted", comment="OK", response=full)
    return ReportWorld(a, items, gap, na)
