"""Downloads of an assessment as CSV, XLSX or OSCAL JSON (HTML side; the API does the same).
Every team member may export what they can already read on screen."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from aigsec.core.access import Perm, get_for_user
from aigsec.core.downloads import attachment, base_url

from .exports import UnknownFormat, assessment_export, export_queryset


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
    return attachment(export.content, filename=export.filename, content_type=export.content_type)
