"""HTML views for evidence: list, upload, detail, download, revisions, link, withdraw.

Uploads install `HashingUploadHandler` before the body is parsed, hence the Django pattern of
a csrf_exempt outer view (which must not read request.POST) calling a csrf_protect inner one.
Access is checked in the outer view, before the body is read.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from aigsec.core import teamcache
from aigsec.core.access import (
    Perm,
    can_in_current_team,
    current_membership_for_user,
    get_for_user,
)
from aigsec.core.feedback import add_form_errors
from aigsec.core.formtoken import once
from aigsec.core.integrity import IntegrityFailure
from aigsec.core.paging import page_param
from aigsec.core.ratelimit import RateResult, limit_request, wait_text
from assessments.errors import AssessmentLocked
from assessments.models import Response
from reviews.selectors import current_decisions_for_evidence

from . import selectors, services
from .downloads import revision_download
from .duplicates import duplicate_of
from .forms import EvidenceForm, LinkForm, RevisionForm, WithdrawForm
from .models import EvidenceItem, EvidenceKind, EvidenceRevision
from .picker import return_to_control
from .upload import HashingUploadHandler, install_upload_handler, too_large_message


def _message(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return " ".join(exc.messages)
    return str(exc)


@login_required
@require_GET
def evidence_list(request: HttpRequest) -> HttpResponse:
    m = current_membership_for_user(request)
    fresh = request.GET.get("freshness") or None
    if fresh not in (None, *selectors.Freshness.LABELS):
        fresh = None
    wanted = page_param(request)
    return render(
        request,
        "evidence/list.html",
        {
            # The table is a fragment cached under the team's data version (no form: the same
            # for every member; aigsec/core/teamcache.py); the page is read on a miss only.
            "evidence_page": lambda: selectors.evidence_list(m.team_id, fresh=fresh, page=wanted),
            "wanted": wanted,
            "page_key": teamcache.page_key([m.team_id]),
            "fresh": fresh,
            "freshness_choices": selectors.Freshness.LABELS.items(),
            "can_answer": can_in_current_team(request, m.team_id, Perm.ANSWER),
        },
    )


# --- Upload ---------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
@csrf_exempt
def evidence_create(request: HttpRequest) -> HttpResponse:
    m = current_membership_for_user(request, Perm.ANSWER)  # before the body is read
    if request.method == "POST" and (refused := limit_request(request, "upload")):
        form = EvidenceForm(responses=selectors.linkable_responses(m.team_id))
        return _too_many_uploads(request, refused, form, "evidence/create.html", {"form": form})
    handler = install_upload_handler(request) if request.method == "POST" else None
    return _evidence_create(request, m, handler)


def _too_many_uploads(
    request: HttpRequest, refused: RateResult, form, template: str, ctx: dict
) -> HttpResponse:
    """429 before the body is read, so a flood of uploads costs neither disk nor hashing. The
    form is unbound (nothing was read to fill it); add_error expects cleaned_data."""
    form.cleaned_data = {}
    form.add_error(None, f"Too many uploads. Try again in {wait_text(refused.retry_after)}.")
    response = render(request, template, ctx, status=429)
    response["Retry-After"] = str(refused.retry_after)
    return response


@csrf_protect
@once
def _evidence_create(request: HttpRequest, m, handler: HashingUploadHandler | None):
    team = m.team
    responses = selectors.linkable_responses(team.pk)
    if request.method == "POST":
        form = EvidenceForm(request.POST, request.FILES, responses=responses)
        if handler is not None and handler.too_large:
            form.add_error("file", too_large_message())
        elif form.is_valid():
            d = form.cleaned_data
            upload = d["file"] if d["kind"] == EvidenceKind.FILE else None
            if (existing := duplicate_of(team=team, uploaded_file=upload)) is not None:
                return render(
                    request,
                    "evidence/duplicate.html",
                    {"item": existing, "responses": list(d["responses"])},
                    status=409,
                )
            try:
                item = services.evidence_create(
                    team=team,
                    actor=request.user,
                    kind=d["kind"],
                    title=d["title"],
                    description=d["description"],
                    uploaded_file=d["file"] if d["kind"] == EvidenceKind.FILE else None,
                    url=d["url"],
                    note=d["note"],
                    collected_on=d["collected_on"],
                    valid_until=d["valid_until"],
                    tags=d["tags"],
                    responses=d["responses"],
                )
            except ValidationError as exc:
                add_form_errors(form, exc)
            except AssessmentLocked as exc:
                form.add_error("responses", str(exc))
            else:
                messages.success(request, f"Evidence “{item.title}” added.")
                back = return_to_control(responses, d["from_response"])
                return redirect(back or reverse("evidence_detail", args=[item.pk]))
        return render(request, "evidence/create.html", {"form": form}, status=400)
    initial = {"valid_until": services.default_valid_until(team)}
    if request.GET.get("response"):
        initial["responses"] = [request.GET["response"]]
        initial["from_response"] = request.GET["response"][:20]
    form = EvidenceForm(initial=initial, responses=responses)
    return render(request, "evidence/create.html", {"form": form})


# --- One item -------------------------------------------------------------------------------


def _item(request: HttpRequest, pk: int, perm: Perm) -> EvidenceItem:
    return get_for_user(request.user, EvidenceItem.objects.select_related("owner"), pk, perm)


def _detail_context(request: HttpRequest, item: EvidenceItem) -> dict:
    ctx = selectors.evidence_detail(item)
    # The auditor's current decision, so that whoever answers for the evidence sees a rejection
    # and its reason on the page where they act on it (a new revision).
    ctx["review"] = current_decisions_for_evidence([item.pk])[item.pk]
    can_answer = can_in_current_team(request, item.team_id, Perm.ANSWER)
    ctx |= {
        "can_answer": can_answer and not item.is_withdrawn,
        "can_manage": can_in_current_team(request, item.team_id, Perm.MANAGE)
        and not item.is_withdrawn,
        # Auditors review from here too (reviews/templatetags/reviews.py; the service checks).
        "can_review": can_in_current_team(request, item.team_id, Perm.REVIEW)
        and not item.is_withdrawn,
        "revision_form": RevisionForm(),
        "withdraw_form": WithdrawForm(),
    }
    if ctx["can_answer"]:
        linked = {link.response_id for link in ctx["links"]}
        ctx["link_form"] = LinkForm(
            responses=selectors.linkable_responses(item.team_id).exclude(pk__in=linked)
        )
    return ctx


@login_required
@require_GET
def evidence_detail(request: HttpRequest, pk: int) -> HttpResponse:
    item = _item(request, pk, Perm.VIEW)
    return render(request, "evidence/detail.html", _detail_context(request, item))


@login_required
@require_GET
def evidence_download(request: HttpRequest, pk: int) -> HttpResponse:
    item = _item(request, pk, Perm.VIEW)
    revs = EvidenceRevision.objects.filter(item=item).select_related("item")
    number = request.GET.get("revision")
    if number:
        if not (number.isascii() and number.isdigit()) or len(number) > 9:
            raise Http404("No such revision.")
        revision = revs.filter(number=int(number)).first()
    else:
        revision = revs.order_by("-number").first()
    if revision is None:
        raise Http404("No such revision.")
    try:
        return revision_download(revision, request.user)
    except IntegrityFailure as exc:
        return render(
            request, "evidence/integrity.html", {"item": item, "message": str(exc)}, status=409
        )


@login_required
@require_POST
@csrf_exempt
def evidence_revision(request: HttpRequest, pk: int) -> HttpResponse:
    item = _item(request, pk, Perm.ANSWER)  # before the body is read
    if refused := limit_request(request, "upload"):
        form = RevisionForm()
        ctx = _detail_context(request, item) | {"revision_form": form}
        return _too_many_uploads(request, refused, form, "evidence/detail.html", ctx)
    handler = install_upload_handler(request)
    return _evidence_revision(request, item, handler)


@csrf_protect
@once
def _evidence_revision(request: HttpRequest, item: EvidenceItem, handler: HashingUploadHandler):
    form = RevisionForm(request.POST, request.FILES)
    if handler.too_large:
        form.add_error("file", too_large_message())
    elif form.is_valid():
        try:
            rev = services.evidence_add_revision(
                item=item, actor=request.user, uploaded_file=form.cleaned_data["file"]
            )
        except ValidationError as exc:
            add_form_errors(form, exc)
        else:
            messages.success(request, f"Revision {rev.number} uploaded.")
            return redirect("evidence_detail", pk=item.pk)
    ctx = _detail_context(request, item) | {"revision_form": form}
    return render(request, "evidence/detail.html", ctx, status=400)


def _response(request: HttpRequest) -> Response:
    rid = request.POST.get("response")
    if not rid:
        raise Http404("No such control.")
    return get_for_user(
        request.user, Response.objects.select_related("assessment", "control"), rid, Perm.ANSWER
    )


def _apply_link(request: HttpRequest, action, item: EvidenceItem, response: Response) -> bool:
    """Run evidence_link or evidence_unlink and tell the person how it went."""
    try:
        action(item=item, response=response, actor=request.user)
    except (ValidationError, AssessmentLocked) as exc:
        messages.error(request, _message(exc))
        return False
    done = "linked to" if action is services.evidence_link else "unlinked from"
    messages.success(request, f"“{item.title}” {done} control {response.control.ref}.")
    return True


@login_required
@require_POST
def evidence_link(request: HttpRequest, pk: int) -> HttpResponse:
    item = _item(request, pk, Perm.ANSWER)
    _apply_link(request, services.evidence_link, item, _response(request))
    return redirect("evidence_detail", pk=item.pk)


@login_required
@require_POST
def evidence_unlink(request: HttpRequest, pk: int) -> HttpResponse:
    item = _item(request, pk, Perm.ANSWER)
    _apply_link(request, services.evidence_unlink, item, _response(request))
    return redirect("evidence_detail", pk=item.pk)


@login_required
@require_POST
def evidence_withdraw(request: HttpRequest, pk: int) -> HttpResponse:
    item = _item(request, pk, Perm.MANAGE)
    form = WithdrawForm(request.POST)
    if form.is_valid():
        try:
            services.evidence_withdraw(
                item=item, actor=request.user, reason=form.cleaned_data["reason"]
            )
        except ValidationError as exc:
            add_form_errors(form, exc)
        else:
            messages.success(request, "Evidence withdrawn. It is kept for the record.")
            return redirect("evidence_detail", pk=item.pk)
    ctx = _detail_context(request, item) | {"withdraw_form": form}
    return render(request, "evidence/detail.html", ctx, status=400)


@login_required
@require_http_methods(["GET", "POST"])
def response_evidence(request: HttpRequest, pk: int) -> HttpResponse:
    """Link or unlink an existing evidence item from the control itself (the questionnaire).

    GET is the picker of the team's evidence for this control, asked for when needed (htmx
    swaps it in; without JavaScript it is a page of its own): the questionnaire does not carry
    the team's whole evidence list once per control (docs/benchmarks.md)."""
    response = get_for_user(
        request.user,
        Response.objects.select_related("assessment", "control__guideline__pillar"),
        pk,
        Perm.ANSWER,
    )
    if request.method == "GET":
        htmx = bool(request.headers.get("HX-Request"))
        return render(
            request,
            "evidence/_link_picker.html" if htmx else "evidence/link_picker.html",
            {
                "r": response,
                "team_evidence": selectors.linkable_evidence(response.assessment.team_id),
                "back": response.get_absolute_url(),
            },
        )
    item = get_for_user(
        request.user, EvidenceItem.objects.all(), request.POST.get("item"), Perm.ANSWER
    )
    if item.team_id != response.assessment.team_id:
        raise Http404("Not found.")
    action = {"link": services.evidence_link, "unlink": services.evidence_unlink}.get(
        request.POST.get("action", "")
    )
    if action is None:
        messages.error(request, "Choose to link or to unlink.")
    else:
        _apply_link(request, action, item, response)
    return redirect(response.get_absolute_url())
