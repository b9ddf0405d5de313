"""HTML views of the review loop: the auditors' queue and the form that records a decision."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from aigsec.core.access import Perm, current_membership_for_user, get_for_user
from aigsec.core.paging import page_param
from assessments.errors import AssessmentLocked
from assessments.models import Assessment, Response

from . import reviews
from .models import EvidenceItem, ReviewDecision


def _filters(request: HttpRequest) -> dict:
    a = request.GET.get("assessment") or ""
    assessment_id = int(a) if a.isascii() and a.isdigit() and len(a) <= 18 else None
    ref = (request.GET.get("guideline") or "").strip()[:20] or None
    decision = request.GET.get("decision") or None
    if decision not in reviews.DECISION_FILTERS:
        decision = None
    return {"assessment_id": assessment_id, "guideline_ref": ref, "decision": decision}


def _queue_page(request: HttpRequest, *, error: str = "", status: int = 200) -> HttpResponse:
    f = _filters(request)
    wanted = page_param(request)
    teams = reviews.teams_with_perm(request.user, Perm.REVIEW)
    # Not cached: every row carries a review form, and an auditor's queue changes with each
    # decision he makes.
    queue = reviews.review_queue_page(request.user, **f, page=wanted)
    assessments = (
        Assessment.objects.filter(team_id__in=teams)
        .select_related("ai_system")
        .order_by("ai_system__name", "-id")
    )
    return render(
        request,
        "evidence/review_queue.html",
        {
            "queue": queue,
            "page_query": urlencode({k: v for k, v in request.GET.items() if k != "page"}),
            "filters": f,
            "assessments": assessments,
            "decision_choices": [(reviews.PENDING, "Pending"), *ReviewDecision.choices],
            "review_choices": ReviewDecision.choices,
            "error": error,
        },
        status=status,
    )


@login_required
@require_GET
def review_queue(request: HttpRequest) -> HttpResponse:
    current_membership_for_user(request, Perm.REVIEW)
    return _queue_page(request)


@login_required
@require_POST
def review_create(request: HttpRequest) -> HttpResponse:
    target_type = request.POST.get("target_type")
    if target_type not in ("evidence", "response"):
        current_membership_for_user(request, Perm.REVIEW)
        return _queue_page(request, error="Choose an evidence item or a response.", status=400)
    if target_type == "evidence":
        target = get_for_user(
            request.user, EvidenceItem.objects.all(), request.POST.get("target_id"), Perm.REVIEW
        )
        kwargs = {"evidence": target}
    else:
        target = get_for_user(
            request.user, Response.objects.all(), request.POST.get("target_id"), Perm.REVIEW
        )
        kwargs = {"response": target}
    try:
        reviews.review_create(
            reviewer=request.user,
            decision=request.POST.get("decision", ""),
            comment=request.POST.get("comment", ""),
            **kwargs,
        )
    except ValidationError as exc:
        return _queue_page(request, error=" ".join(exc.messages), status=400)
    except AssessmentLocked as exc:
        return _queue_page(request, error=str(exc), status=400)
    messages.success(request, "Review recorded.")
    nxt = request.POST.get("next", "")
    # Back to where the auditor reviewed from (queue or questionnaire); never off-site.
    safe = url_has_allowed_host_and_scheme(
        nxt, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return redirect(nxt if safe and nxt.startswith("/") else "review_queue")
