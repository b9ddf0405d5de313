"""Downloads of an assessment as CSV, XLSX or OSCAL JSON (HTML side; the API shares
`export_response`). Every team member may export what they can already read on screen."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from aigsec.core.access import Perm, get_for_user

from .exports import Export, UnknownFormat, assessment_export
from .models import Assessment


def export_queryset() -> QuerySet[Assessment]:
    # The writers read the team (file name, OSCAL party), AI system and framework version.
    return Assessment.objects.select_related("team", "ai_system", "framework_version__framework")


def export_response(export: Export) -> HttpResponse:
    """The one way exports leave the app (HTML and API): an attachment nobody caches."""
    resp = HttpResponse(export.content, content_type=export.content_type)
    resp["Content-Disposition"] = f'attachment; filename="{export.filename}"'
    resp["Content-Length"] = str(len(export.content))
    resp["Cache-Control"] = "no-store"
    resp["X-Content-Type-Options"] = "nosniff"
    return resp


def base_url(request: HttpRequest) -> str:
    """Scheme and host, so links in the OSCAL file (evidence downloads) work outside the app."""
    return request.build_absolute_uri("/").rstrip("/")


@login_required
@require_GET
def assessment_export_view(request: HttpRequest, pk: int, fmt: str) -> HttpResponse:
    a = get_for_user(request.user, export_queryset(), pk, Perm.VIEW)
    try:
        export = assessment_export(
            assessment=a, fmt=fmt, actor=request.user, base_url=base_url(request)
        )
    except UnknownFormat as exc:
        return render(
            request, "error.html", {"title": "No such export", "message": str(exc)}, status=404
        )
    return export_response(export)
