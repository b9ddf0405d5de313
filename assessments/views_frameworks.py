"""HTML views: the framework list, and uploading a team's own framework file."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count, Prefetch, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from aigsec.core.access import Perm, get_membership_for_user, role_allows

from .frameworks import FrameworkFileError, framework_load
from .models import Framework, FrameworkVersion

MAX_UPLOAD_BYTES = 2 * 1024 * 1024
ALLOWED_SUFFIXES = (".yaml", ".yml")


class FrameworkUploadForm(forms.Form):
    file = forms.FileField(
        label="Framework file (YAML)",
        help_text="A .yaml or .yml file of at most 2 MB, in the format of the bundled framework.",
        widget=forms.ClearableFileInput(attrs={"accept": ",".join(ALLOWED_SUFFIXES)}),
    )

    def clean_file(self):
        f = self.cleaned_data["file"]
        if not f.name.lower().endswith(ALLOWED_SUFFIXES):
            raise forms.ValidationError("Choose a .yaml or .yml file.")
        if f.size > MAX_UPLOAD_BYTES:
            raise forms.ValidationError("The file is larger than 2 MB.")
        raw = f.read(MAX_UPLOAD_BYTES + 1)
        try:
            self.cleaned_data["text"] = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise forms.ValidationError("The file is not UTF-8 text.") from None
        return f


@login_required
@require_GET
def framework_list(request: HttpRequest) -> HttpResponse:
    """Bundled frameworks and those of the current team, each with its versions.

    Queries (besides session, user and membership): frameworks, versions with control counts.
    """
    m = request.membership or None
    visible = Q(owner_team__isnull=True)
    if m is not None:
        visible |= Q(owner_team_id=m.team_id)
    versions = FrameworkVersion.objects.annotate(n_controls=Count("controls")).order_by("-number")
    frameworks = list(
        Framework.objects.filter(visible)
        .prefetch_related(Prefetch("versions", versions))
        .order_by("title", "id")
    )
    sections = [
        {
            "title": "Bundled frameworks",
            "frameworks": [f for f in frameworks if f.owner_team_id is None],
            "empty": "No bundled framework is loaded yet (manage.py load_framework).",
        }
    ]
    if m is not None:
        sections.append(
            {
                "title": f"Frameworks of {m.team.name}",
                "frameworks": [f for f in frameworks if f.owner_team_id is not None],
                "empty": f"{m.team.name} has not uploaded a framework.",
            }
        )
    return render(
        request,
        "assessments/framework_list.html",
        {
            "sections": sections,
            "team": m.team if m is not None else None,
            "can_upload": m is not None and role_allows(m.role, Perm.MANAGE),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def framework_upload(request: HttpRequest, team_id: int) -> HttpResponse:
    m = get_membership_for_user(request.user, team_id, Perm.MANAGE)
    if request.method == "POST":
        form = FrameworkUploadForm(request.POST, request.FILES)
    else:
        form = FrameworkUploadForm()
    if form.is_bound and form.is_valid():
        try:
            version, created = framework_load(
                form.cleaned_data["text"],
                source_name=form.cleaned_data["file"].name,
                owner_team=m.team,
                actor=request.user,
            )
        except FrameworkFileError as exc:
            for error in exc.errors:
                form.add_error("file", error)
        else:
            fw = version.framework
            if created:
                messages.success(request, f"Loaded “{fw.title}” version {version.number}.")
            else:
                messages.info(
                    request, f"“{fw.title}” version {version.number} already has this content."
                )
            return redirect("frameworks")
    return render(
        request,
        "assessments/framework_upload.html",
        {"form": form, "team": m.team},
        status=400 if form.errors else 200,
    )
