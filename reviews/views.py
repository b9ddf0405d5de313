"""HTML views of the review loop: the auditors' queue (with each answer's context), the form
that records a decision, bulk acceptance, and the comment thread of an answer (htmx returns
the thread fragment)."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from aigsec.core.access import Perm, current_membership_for_user, get_for_user, teams_with_perm
from aigsec.core.formtoken import once
from aigsec.core.paging import page_param
from assessments.errors import AssessmentLocked
from assessments.models import Assessment, Response, questionnaire_url
from evidence.models import EvidenceItem

from . import bulk, selectors, services
from .decisions import DECISION_CHOICES, DECISION_FILTERS
from .errors import ReviewConflict
from .models import ReviewDecision


def _filters(request: HttpRequest) -> dict:
    a = request.GET.get("assessment") or ""
    assessment_id = int(a) if a.isascii() and a.isdigit() and len(a) <= 18 else None
    ref = (request.GET.get("guideline") or "").strip()[:20] or None
    decision = request.GET.get("decision") or None
    if decision not in DECISION_FILTERS:
        decision = None
    return {"assessment_id": assessment_id, "guideline_ref": ref, "decision": decision}


def _int(value: str | None) -> int | None:
    """A non-negative integer from a form field, or None (absent or not a number)."""
    value = (value or "").strip()
    return int(value) if value.isascii() and value.isdigit() and len(value) <= 18 else None


def _queue_page(
    request: HttpRequest, *, error: str = "", error_row: str = "", status: int = 200
) -> HttpResponse:
    """The queue, rendered by its template. `error_row` ("response:12") puts `error` next to
    that row, with the comment the auditor typed; otherwise it is shown above the table."""
    f = _filters(request)
    teams = teams_with_perm(request.user, Perm.REVIEW)
    queue = selectors.review_queue_page(request.user, **f, page=page_param(request))
    if error_row and not any(f"{r.kind}:{r.target_id}" == error_row for r in queue.rows):
        error_row = ""
    assessments = (
        Assessment.objects.filter(team_id__in=teams)
        .select_related("ai_system")
        .order_by("ai_system__name", "-id")
    )
    return render(
        request,
        "reviews/review_queue.html",
        {
            "queue": queue,
            "rows": queue.rows,
            "carried_count": sum(1 for r in queue.rows if r.context and r.context.carried),
            "page_query": urlencode({k: v for k, v in request.GET.items() if k != "page"}),
            "here": request.get_full_path(),
            "filters": f,
            "assessments": assessments,
            "decision_choices": DECISION_CHOICES,
            "review_choices": ReviewDecision.choices,
            "error": error,
            "error_row": error_row,
            "posted_comment": request.POST.get("comment", "") if error_row else "",
            "bulk_comment": request.POST.get("bulk_comment", "") if error else "",
        },
        status=status,
    )


def _back(request: HttpRequest, message: str) -> HttpResponse:
    messages.success(request, message)
    nxt = request.POST.get("next", "")
    # Back to where the auditor reviewed from (queue, questionnaire, evidence); never off-site.
    safe = url_has_allowed_host_and_scheme(
        nxt, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return redirect(nxt if safe and nxt.startswith("/") else "review_queue")


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
    model = EvidenceItem if target_type == "evidence" else Response
    target = get_for_user(
        request.user, model.objects.all(), request.POST.get("target_id"), Perm.REVIEW
    )
    row = f"{target_type}:{target.pk}"
    try:
        services.review_create(
            reviewer=request.user,
            decision=request.POST.get("decision", ""),
            comment=request.POST.get("comment", ""),
            expected_version=_int(request.POST.get("version")),
            seen_review=_int(request.POST.get("seen_review")),
            **{target_type: target},
        )
    except (ValidationError, AssessmentLocked) as exc:
        msg = " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
        return _queue_page(request, error=msg, error_row=row, status=400)
    except ReviewConflict as exc:
        return _queue_page(request, error=str(exc), error_row=row, status=409)
    return _back(request, "Review recorded.")


def _bulk_refs(values: list[str]) -> list[bulk.TargetRef]:
    """Targets as the queue's checkboxes send them: "kind:id:version:seen_review" (the last
    two empty when the page does not know them: no staleness check)."""
    refs = []
    for value in values:
        parts = value.split(":")
        if len(parts) != 4 or _int(parts[1]) is None:
            raise ValidationError({"targets": "The selection could not be read; reload the page."})
        version, seen = (_int(p) if p else None for p in parts[2:])
        if (parts[2] and version is None) or (parts[3] and seen is None):
            raise ValidationError({"targets": "The selection could not be read; reload the page."})
        refs.append(bulk.TargetRef(parts[0], _int(parts[1]) or 0, version, seen))
    return refs


@login_required
@require_POST
def review_bulk(request: HttpRequest) -> HttpResponse:
    """Accept the selected rows, or every row of the page, with one comment: all or nothing."""
    # Ticked rows, every row of the page, or the page's rows carried forward unchanged.
    field = {"page": "page_target", "carried": "carried_target"}.get(
        request.POST.get("scope", ""), "target"
    )
    try:
        refs = _bulk_refs(request.POST.getlist(field))
        bulk.check_target_refs(refs)
    except ValidationError as exc:
        current_membership_for_user(request, Perm.REVIEW)
        return _queue_page(request, error=" ".join(exc.messages), status=400)
    # Every target through the door (another team's: 404) before anything is written.
    targets = bulk.fetch_targets(request.user, refs)
    try:
        done = bulk.review_bulk(
            reviewer=request.user,
            decision=ReviewDecision.ACCEPTED,
            comment=request.POST.get("bulk_comment", ""),
            targets=targets,
        )
    except ValidationError as exc:
        return _queue_page(request, error=" ".join(exc.messages), status=400)
    except (AssessmentLocked, ReviewConflict) as exc:
        return _queue_page(request, error=str(exc), status=409)
    n = len(done)
    return _back(request, f"{n} decision{'' if n == 1 else 's'} recorded: accepted.")


# --- Comment threads ---------------------------------------------------------------------


def _thread(request: HttpRequest, r: Response, *, error: str = "", status: int = 200):
    r.thread = selectors.threads_for_responses([r.pk])[r.pk]
    ctx = {
        "r": r,
        "can_comment": selectors.may_comment(request, r.assessment.team_id, r.assessment),
        "comment_error": error,
        "comment_body": request.POST.get("body", "") if error else "",
    }
    return render(request, "reviews/_thread.html", ctx, status=status)


def _comment_replay(request: HttpRequest, pk: int) -> HttpResponse:
    """A second submit of the same comment form: the thread as it is, nothing added."""
    r = get_for_user(request.user, Response.objects.select_related("assessment"), pk, Perm.VIEW)
    return _thread(request, r) if request.headers.get("HX-Request") else _back_to_control(r)


def _back_to_control(r: Response) -> HttpResponse:
    pillar_ref = (
        Response.objects.filter(pk=r.pk).values_list("control__guideline__pillar__ref", flat=True)
    ).get()
    return redirect(questionnaire_url(r.assessment_id, pillar_ref, r.pk))


@login_required
@require_POST
@once(replay=_comment_replay)
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
    return _back_to_control(r)
