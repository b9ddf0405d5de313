"""HTML views of the review loop: the auditors' queue, the form that records a decision, and
the comment thread of an answer (htmx returns the thread fragment)."""

from __future__ import annotations

import dataclasses
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils.html import escape
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET, require_POST

from aigsec.core import teamcache
from aigsec.core.access import Perm, current_membership_for_user, get_for_user, teams_with_perm
from aigsec.core.paging import page_param
from assessments.models import Assessment, Response, questionnaire_url
from assessments.services import AssessmentLocked
from evidence.models import EvidenceItem

from . import selectors, services
from .decisions import DECISION_CHOICES, DECISION_FILTERS
from .models import ReviewDecision

CSRF_PLACEHOLDER = "__aigsec_csrf_token__"


def _filters(request: HttpRequest) -> dict:
    a = request.GET.get("assessment") or ""
    assessment_id = int(a) if a.isascii() and a.isdigit() and len(a) <= 18 else None
    ref = (request.GET.get("guideline") or "").strip()[:20] or None
    decision = request.GET.get("decision") or None
    if decision not in DECISION_FILTERS:
        decision = None
    return {"assessment_id": assessment_id, "guideline_ref": ref, "decision": decision}


def _queue_page(request: HttpRequest, *, error: str = "", status: int = 200) -> HttpResponse:
    f = _filters(request)
    wanted, here = page_param(request), request.get_full_path()
    teams = teams_with_perm(request.user, Perm.REVIEW)

    def build() -> tuple[selectors.QueuePage, str]:
        queue = selectors.review_queue_page(request.user, **f, page=wanted)
        # The forms' CSRF token is the visitor's own: a placeholder in what is cached.
        ctx = {"rows": queue.rows, "csrf_token": CSRF_PLACEHOLDER}
        html = render_to_string("reviews/_queue_rows.html", ctx, request)
        return dataclasses.replace(queue, rows=[]), html

    # The rows (50 with a form each) are cached under the versions of the auditor's teams
    # (aigsec/core/teamcache.py: every answer, upload and review is audited in its team).
    queue, rows_html = teamcache.cached_for_teams(
        "review_queue",
        teams,
        (sorted(f.items()), wanted, here),
        build,
    )
    # Rendered by the template engine (autoescaped); the placeholder is then replaced by this
    # visitor's token, escaped: the whole is still safe HTML.
    token = escape(get_token(request))
    rows_html = mark_safe(rows_html.replace(CSRF_PLACEHOLDER, token))  # noqa: S308 # nosec
    assessments = (
        Assessment.objects.filter(team_id__in=teams)
        .select_related("ai_system")
        .order_by("ai_system__name", "-id")
    )
    return render(
        request,
        "reviews/review_queue.html",
        {
            "rows_html": rows_html,
            "queue": queue,
            "page_query": urlencode({k: v for k, v in request.GET.items() if k != "page"}),
            "filters": f,
            "assessments": assessments,
            "decision_choices": DECISION_CHOICES,
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
        services.review_create(
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


# --- Comment threads ---------------------------------------------------------------------


def _thread(request: HttpRequest, r: Response, *, error: str = "", status: int = 200):
    r.thread = selectors.comments_for_responses([r.pk])[r.pk]
    ctx = {
        "r": r,
        "can_comment": selectors.may_comment(request, r.assessment.team_id, r.assessment),
        "comment_error": error,
        "comment_body": request.POST.get("body", "") if error else "",
    }
    return render(request, "reviews/_thread.html", ctx, status=status)


@login_required
@require_POST
def response_comment(request: HttpRequest, pk: int) -> HttpResponse:
    r = get_for_user(request.user, Response.objects.select_related("assessment"), pk, Perm.VIEW)
    try:
        services.comment_add(response=r, author=request.user, body=request.POST.get("body", ""))
    except ValidationError as exc:
        return _thread(request, r, error=" ".join(exc.messages), status=400)
    except AssessmentLocked as exc:
        return _thread(request, r, error=str(exc), status=409)
    if request.headers.get("HX-Request"):
        return _thread(request, r)
    pillar_ref = (
        Response.objects.filter(pk=r.pk).values_list("control__guideline__pillar__ref", flat=True)
    ).get()
    return redirect(questionnaire_url(r.assessment_id, pillar_ref, r.pk))
