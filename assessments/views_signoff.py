"""HTML: the sign-off confirmation page (assessments/signoff.py holds the rule).

GET shows what is being signed (the assessment, its AI system and framework version, the
counts of answers and decisions, the score) and, while anything blocks the sign-off, the list
of blockers, each control a link to it. POST signs, or shows the same page with the reason.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from aigsec.core.access import Perm, get_for_user
from aigsec.core.feedback import add_form_errors

from . import scoring
from .models import SIGNOFF_STATEMENT_MAX, Assessment, SignOff
from .signoff import SignOffBlocked, assessment_sign_off, signoff_check


class SignOffForm(forms.Form):
    statement = forms.CharField(
        max_length=SIGNOFF_STATEMENT_MAX,
        widget=forms.Textarea(attrs={"rows": 4}),
        label="Statement",
        error_messages={"required": "A statement is required: say what you approve."},
        help_text="What you approve, in your words; it is shown in the report and the audit "
        "trail (up to 2000 characters).",
    )


@login_required
@require_http_methods(["GET", "POST"])
def assessment_sign_off_view(request: HttpRequest, pk: int) -> HttpResponse:
    qs = Assessment.objects.select_related("ai_system", "team", "framework_version__framework")
    a = get_for_user(request.user, qs, pk, Perm.APPROVE)
    form = SignOffForm(request.POST or None)
    status, blockers = 200, None
    if request.method == "POST":
        if form.is_valid():
            try:
                _sign_off, created = assessment_sign_off(
                    assessment=a, actor=request.user, statement=form.cleaned_data["statement"]
                )
            except ValidationError as exc:
                add_form_errors(form, exc)
            except SignOffBlocked as exc:
                blockers, status = exc.blockers, 409
            else:
                if created:
                    messages.success(request, f"“{a.title}” is signed off and final.")
                else:  # a double submit: the first one signed
                    messages.info(request, f"“{a.title}” was already signed off by you.")
                return redirect("assessment_detail", pk=a.pk)
        if form.errors:
            status = 400
    a.refresh_from_db(fields=["status", "finalised_at", "submitted_by", "submitted_at"])
    check = signoff_check(a, request.user)
    return render(
        request,
        "assessments/sign_off.html",
        {
            "a": a,
            "form": form,
            "check": check,
            "blockers": check.blockers if blockers is None else blockers,
            "scores": scoring.assessment_scores(a),
            "sign_off": SignOff.objects.filter(assessment=a).first(),
        },
        status=status,
    )
