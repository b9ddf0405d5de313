"""HTML views: the report list, request, live status (htmx polling), download, verify."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from aigsec.core.access import (
    Perm,
    can_in_current_team,
    current_membership_for_user,
    get_for_user,
)
from aigsec.core.integrity import IntegrityFailure
from assessments.models import Assessment

from . import selectors, services
from .downloads import report_pdf_download
from .forms import VerifyForm
from .models import Report, ReportStatus
from .signing import is_self_managed
from .verify import report_verify

PAGE_SIZE = 50


def _reports_page(request: HttpRequest, qs, template: str, context: dict) -> HttpResponse:
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        template,
        {
            **context,
            "page": page,
            "reports": page.object_list,
            "signing_self_managed": is_self_managed(),
        },
    )


@login_required
@require_GET
def report_list(request: HttpRequest) -> HttpResponse:
    membership = current_membership_for_user(request, Perm.VIEW)
    return _reports_page(
        request,
        selectors.reports_for_team(membership.team_id),
        "reports/list.html",
        {"can_request": can_in_current_team(request, membership.team_id, Perm.REPORT)},
    )


@login_required
@require_GET
def assessment_reports(request: HttpRequest, pk: int) -> HttpResponse:
    a = get_for_user(request.user, Assessment.objects.select_related("ai_system"), pk)
    return _reports_page(
        request,
        selectors.reports_for_assessment(a.pk),
        "reports/assessment_reports.html",
        {"a": a, "can_request": can_in_current_team(request, a.team_id, Perm.REPORT)},
    )


@login_required
@require_POST
def report_request(request: HttpRequest, pk: int) -> HttpResponse:
    a = get_for_user(request.user, Assessment.objects.all(), pk, Perm.REPORT)
    _report, created = services.report_request(assessment=a, actor=request.user)
    if created:
        messages.success(request, "Report requested. It is rendered and signed in the background.")
    else:
        messages.info(request, "A report of this assessment is already being prepared.")
    return redirect("assessment_reports", pk=a.pk)


@login_required
@require_GET
def report_status(request: HttpRequest, pk: int) -> HttpResponse:
    """One row of the list; while pending it polls itself (htmx) until signed or failed."""
    report = get_for_user(
        request.user,
        Report.objects.select_related("assessment__ai_system", "requested_by"),
        pk,
    )
    return render(request, "reports/_row.html", {"r": report, "show_system": True})


@login_required
@require_GET
def report_download(request: HttpRequest, pk: int) -> HttpResponse:
    report = get_for_user(request.user, Report.objects.all(), pk)
    if report.status != ReportStatus.SIGNED:
        return HttpResponse(
            f"The report is {report.get_status_display().lower()}; there is nothing to download.",
            status=409,
            content_type="text/plain; charset=utf-8",
        )
    try:
        resp = report_pdf_download(report, actor=request.user)
    except IntegrityFailure as exc:
        return HttpResponse(str(exc), status=409, content_type="text/plain; charset=utf-8")
    services.report_record_download(report=report, actor=request.user, via="web")
    return resp


@login_required
@require_http_methods(["GET", "POST"])
def report_verify_page(request: HttpRequest) -> HttpResponse:
    current_membership_for_user(request, Perm.VIEW)
    outcome = None
    can_open = False
    form = VerifyForm(request.POST or None, request.FILES or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            outcome = report_verify(
                data=form.cleaned_data["file"].read(), actor=request.user, via="web"
            )
            can_open = outcome.report is not None and can_in_current_team(
                request, outcome.report.team_id, Perm.VIEW
            )
        else:
            status = 400
    return render(
        request,
        "reports/verify.html",
        {"form": form, "outcome": outcome, "can_open": can_open},
        status=status,
    )
