"""The comment thread of a response: post a comment (htmx returns the thread fragment)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from aigsec.core.access import Perm, get_for_user
from aigsec.core.formtoken import once
from assessments.errors import AssessmentLocked
from assessments.models import Response, questionnaire_url

from .comments import comment_add, comments_for_responses, may_comment


def _thread(request: HttpRequest, r: Response, *, error: str = "", status: int = 200):
    r.thread = comments_for_responses([r.pk])[r.pk]
    ctx = {
        "r": r,
        "can_comment": may_comment(request, r.assessment.team_id, r.assessment),
        "comment_error": error,
        "comment_body": request.POST.get("body", "") if error else "",
    }
    return render(request, "evidence/_thread.html", ctx, status=status)


def _comment_replay(request: HttpRequest, pk: int) -> HttpResponse:
    """A second submit of the same comment form: the thread as it is, nothing added."""
    r = get_for_user(request.user, Response.objects.select_related("assessment"), pk, Perm.VIEW)
    return _thread(request, r) if request.headers.get("HX-Request") else _back(r)


def _back(r: Response) -> HttpResponse:
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
        comment_add(response=r, author=request.user, body=request.POST.get("body", ""))
    except ValidationError as exc:
        return _thread(request, r, error=" ".join(exc.messages), status=400)
    except AssessmentLocked as exc:
        return _thread(request, r, error=str(exc), status=409)
    if request.headers.get("HX-Request"):
        return _thread(request, r)
    return _back(r)
