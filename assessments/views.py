"""HTML views: AI systems, assessments, the questionnaire (htmx), My work, compare."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils.html import format_html_join
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from aigsec.core import teamcache
from aigsec.core.access import (
    Perm,
    can_in_current_team,
    current_membership_for_user,
    get_for_user,
    role_allows,
    teams_with_perm,
)
from aigsec.core.feedback import add_form_errors, error_messages
from aigsec.core.paging import page_param, page_window
from evidence.selectors import (
    evidence_by_response,
    evidence_counts,
    evidence_freshness_by_assessment,
    only_expired,
    recent_integrity_incidents,
)
from reviews.selectors import (
    comment_count,
    current_decisions_for_responses,
    may_comment,
    threads_for_responses,
)

from . import selectors, services
from .charts import pillar_chart
from .forms import AISystemForm, AssessmentCreateForm, AssignForm, ResponseForm, owners_for_team
from .models import (
    AISystem,
    Assessment,
    AssessmentStatus,
    Guideline,
    Pillar,
    Response,
    ResponseStatus,
    SystemStatus,
    questionnaire_url,
)
from .templatetags.controls import control_summary

# --- Dashboard --------------------------------------------------------------------------


@login_required
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    if not request.membership:
        return render(request, "core/home.html")
    m = current_membership_for_user(request)
    can_edit = can_in_current_team(request, m.team_id, Perm.EDIT)

    def cards() -> str:
        rows = selectors.dashboard_rows(m.team_id)
        fresh = evidence_freshness_by_assessment([r.assessment.pk for r in rows if r.assessment])
        for row in rows:
            row.chart = pillar_chart(row.scores.pillars, width=460) if row.scores else None
            row.evidence = fresh.get(row.assessment.pk) if row.assessment else None
        ctx = {"rows": rows, "can_edit": can_edit}
        return render_to_string("assessments/_dashboard_cards.html", ctx)

    # The cards (systems, scores, charts) are cached under the team's data version
    # (aigsec/core/teamcache.py); the editing links depend on the viewer's role only.
    # Admins and auditors see integrity incidents (a stored file no longer matching its hash).
    watch = role_allows(m.role, Perm.MANAGE) or role_allows(m.role, Perm.AUDIT)
    return render(
        request,
        "assessments/dashboard.html",
        {
            "cards": teamcache.cached_for_teams("dashboard", [m.team_id], (can_edit,), cards),
            "team": m.team,
            "can_edit": can_edit,
            "incidents": recent_integrity_incidents(m.team_id) if watch else [],
        },
    )


# --- AI systems -------------------------------------------------------------------------


@login_required
@require_GET
def ai_system_list(request: HttpRequest) -> HttpResponse:
    m = current_membership_for_user(request)
    show_archived = request.GET.get("archived") == "1"
    qs = AISystem.objects.filter(team_id=m.team_id)
    if not show_archived:
        qs = qs.exclude(status=SystemStatus.ARCHIVED)
    return render(
        request,
        "assessments/ai_system_list.html",
        {
            "systems": qs,
            "show_archived": show_archived,
            "can_edit": can_in_current_team(request, m.team_id, Perm.EDIT),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def ai_system_create_view(request: HttpRequest) -> HttpResponse:
    m = current_membership_for_user(request, Perm.EDIT)
    form = AISystemForm(request.POST or None, team=m.team)
    if request.method == "POST" and form.is_valid():
        try:
            system = services.ai_system_create(team=m.team, actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            add_form_errors(form, exc)
        else:
            messages.success(request, f"AI system “{system.name}” created.")
            return redirect("ai_system_detail", pk=system.pk)
    return render(
        request,
        "assessments/ai_system_form.html",
        {"form": form, "system": None},
        status=400 if form.errors else 200,
    )


@login_required
@require_GET
def ai_system_detail(request: HttpRequest, pk: int) -> HttpResponse:
    system = get_for_user(request.user, AISystem.objects.select_related("team"), pk)
    assessments = list(system.assessments.select_related("framework_version__framework"))
    scores = selectors.scores_for_assessments(assessments)
    for a in assessments:
        a.scores = scores[a.pk]
    return render(
        request,
        "assessments/ai_system_detail.html",
        {
            "system": system,
            "assessments": assessments,
            "can_edit": can_in_current_team(request, system.team_id, Perm.EDIT),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def ai_system_edit(request: HttpRequest, pk: int) -> HttpResponse:
    system = get_for_user(request.user, AISystem.objects.all(), pk, Perm.EDIT)
    form = AISystemForm(request.POST or None, instance=system, team=system.team)
    if request.method == "POST" and form.is_valid():
        try:
            services.ai_system_update(system=system, actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            add_form_errors(form, exc)
        else:
            messages.success(request, "Changes saved.")
            return redirect("ai_system_detail", pk=system.pk)
    if request.method == "POST":
        system.refresh_from_db()  # the form mutated the instance; show the stored name
    return render(
        request,
        "assessments/ai_system_form.html",
        {"form": form, "system": system},
        status=400 if form.errors else 200,
    )


@login_required
@require_POST
def ai_system_archive(request: HttpRequest, pk: int) -> HttpResponse:
    system = get_for_user(request.user, AISystem.objects.all(), pk, Perm.EDIT)
    services.ai_system_update(system=system, actor=request.user, status=SystemStatus.ARCHIVED)
    messages.success(request, f"“{system.name}” archived. Its assessments are kept.")
    return redirect("ai_system_list")


# --- Assessments ------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def assessment_create_view(request: HttpRequest, pk: int) -> HttpResponse:
    system = get_for_user(request.user, AISystem.objects.select_related("team"), pk, Perm.EDIT)
    form = AssessmentCreateForm(request.POST or None, ai_system=system)
    if request.method == "POST" and form.is_valid():
        try:
            a = services.assessment_create(
                ai_system=system,
                actor=request.user,
                framework_version=form.cleaned_data["framework_version"],
                title=form.cleaned_data["title"],
                based_on=form.cleaned_data["based_on"],
            )
        except ValidationError as exc:
            add_form_errors(form, exc)
        else:
            messages.success(request, f"Assessment “{a.title}” created.")
            return redirect("assessment_detail", pk=a.pk)
    return render(
        request,
        "assessments/assessment_create.html",
        {"form": form, "system": system},
        status=400 if form.errors else 200,
    )


def _assessment_qs():
    return Assessment.objects.select_related("ai_system", "team", "framework_version__framework")


@login_required
@require_GET
def assessment_detail(request: HttpRequest, pk: int) -> HttpResponse:
    a = get_for_user(request.user, _assessment_qs(), pk)
    scores = selectors.assessment_scores(a)
    others = a.ai_system.assessments.exclude(pk=a.pk).only("pk", "title", "created_at")
    return render(
        request,
        "assessments/assessment_detail.html",
        {
            "a": a,
            "scores": scores,
            "chart": pillar_chart(scores.pillars),
            "others": others,
            "next_statuses": sorted(services.TRANSITIONS[a.status]),
            "status_labels": dict(AssessmentStatus.choices),
            "status_counts": [
                (label, scores.by_status.get(value, 0)) for value, label in ResponseStatus.choices
            ],
            "can_edit": can_in_current_team(request, a.team_id, Perm.EDIT),
        },
    )


@login_required
@require_POST
def assessment_status(request: HttpRequest, pk: int) -> HttpResponse:
    a = get_for_user(request.user, Assessment.objects.all(), pk, Perm.EDIT)
    try:
        a = services.assessment_set_status(
            assessment=a, status=request.POST.get("status", ""), actor=request.user
        )
    except services.AssessmentLocked as exc:
        messages.error(request, str(exc))
    except ValidationError as exc:
        error_messages(request, exc)
    else:
        messages.success(request, f"Status is now {a.get_status_display()}.")
    return redirect("assessment_detail", pk=pk)


@login_required
@require_GET
def assessment_compare(request: HttpRequest, pk: int) -> HttpResponse:
    a = get_for_user(request.user, _assessment_qs(), pk)
    other_id = request.GET.get("other")
    if not other_id:
        return redirect("assessment_detail", pk=pk)
    b = get_for_user(request.user, _assessment_qs(), other_id)
    if b.ai_system_id != a.ai_system_id:
        return render(
            request,
            "error.html",
            {
                "title": "Cannot compare",
                "message": "Only assessments of the same AI system can be compared.",
            },
            status=400,
        )
    rows = selectors.compare_assessments(b, a)
    return render(
        request,
        "assessments/compare.html",
        {"a": a, "b": b, "rows": rows, "changed": sum(1 for r in rows if r["changed"])},
    )


# --- The questionnaire ------------------------------------------------------------------


def _response_context(
    request: HttpRequest, r: Response, owners, form=None, conflict=None, evidence=None
):
    can_answer = (
        can_in_current_team(request, r.assessment.team_id, Perm.ANSWER)
        and not r.assessment.is_locked
    )
    if form is None:
        form = ResponseForm(
            initial={
                "version": r.version,
                "status": r.status,
                "justification": r.justification,
                "owner": r.owner_id,
                "due_date": r.due_date,
            },
            response=r,
            owners=owners,
        )
    if evidence is None:
        evidence = evidence_by_response([r.pk])[r.pk]
    if not hasattr(r, "review"):
        r.review = current_decisions_for_responses([r.pk])[r.pk]
    if not hasattr(r, "thread"):
        r.thread = threads_for_responses([r.pk])[r.pk]
    return {
        "r": r,
        "form": form,
        "can_answer": can_answer,
        "conflict": conflict,
        "overdue": selectors.is_overdue(r),
        "evidence": evidence,
        "evidence_expired": only_expired(evidence),
        "can_comment": may_comment(request, r.assessment.team_id, r.assessment),
        "can_review": can_in_current_team(request, r.assessment.team_id, Perm.REVIEW)
        and not r.assessment.is_locked,
    }


# The pillar page lists every control as a summary (status, owner, due date, review, counts);
# a control's form, evidence and comments are rendered only when it is opened: on demand by
# htmx, or on the page itself with `?open=<response id>` (links, redirects, no JavaScript) or
# `?open=all`. Rendering all 27 forms of a pillar cost ~2 ms of template work per control on
# every visit (docs/benchmarks.md).
OPEN_ALL = "all"


def _opened(request: HttpRequest) -> set[int] | None:
    """The response ids to render open; None for all. Values that are not ids are ignored,
    as an unknown page number is: this parameter only changes what is shown."""
    values = request.GET.getlist("open")
    if OPEN_ALL in values:
        return None
    return {int(v) for v in values if v.isascii() and v.isdigit() and len(v) < 19}


def _pillar_responses(a: Assessment, pillar: Pillar) -> list[Response]:
    """The pillar's responses, in order, with what a summary shows (counts, review decision)."""
    responses = list(
        Response.objects.filter(assessment=a, control__guideline__pillar=pillar)
        .select_related("control__guideline", "owner")
        .annotate(**evidence_counts(), n_comments=comment_count())
        .order_by("control__order")
    )
    decisions = current_decisions_for_responses([r.pk for r in responses])
    for r in responses:
        r.assessment, r.review = a, decisions[r.pk]
        r.control.guideline.pillar = pillar  # for its URL, without a query per control
    return responses


def _summary(r: Response) -> str:
    overdue = selectors.is_overdue(r)
    return control_summary(r, overdue, r.n_evidence > 0 and r.n_unexpired == 0)


def _summaries_html(a: Assessment, pillar: Pillar) -> dict[int, str]:
    """guideline id -> the HTML of its controls as summaries. The same for every viewer (no
    form, no token, nothing that depends on who asks), so it is cached under the team's data
    version (aigsec/core/teamcache.py): every change to an answer, a review, a link or a
    comment is audited in this team and makes a new version."""

    def render_all() -> dict[int, str]:
        out: dict[int, list[str]] = {}
        for r in _pillar_responses(a, pillar):
            out.setdefault(r.control.guideline_id, []).append(_summary(r))
        # Safe strings (format_html) joined as one, which stays safe through the cache.
        return {g: format_html_join("", "{}", ((p,) for p in parts)) for g, parts in out.items()}

    return teamcache.cached_for_teams("summaries", [a.team_id], (a.pk, pillar.pk), render_all)


@login_required
@require_GET
def questionnaire(request: HttpRequest, pk: int, pillar_ref: str) -> HttpResponse:
    a = get_for_user(request.user, _assessment_qs(), pk)
    pillars, guidelines_all = selectors.framework_structure(a.framework_version_id)
    pillar = next((p for p in pillars if p.ref == pillar_ref), None)
    if pillar is None:
        raise Http404("No such pillar in this framework.")
    opened = _opened(request)
    owners = list(owners_for_team(a.team_id))
    sections: list[dict[str, Any]]
    if opened == set():
        # The usual visit: every control a summary, from the cache while nothing changed.
        html = _summaries_html(a, pillar)
        sections = [
            {"g": g, "html": html[g.pk]}
            for g in guidelines_all
            if g.pillar_id == pillar.pk and g.pk in html
        ]
    else:
        sections = _sections_with_opened(request, a, pillar, opened, owners)
    return render(
        request,
        "assessments/questionnaire.html",
        {
            "a": a,
            "pillar": pillar,
            "pillars": pillars,
            "sections": sections,
            "scores": selectors.assessment_scores(a),
            "owners": owners,
            "can_answer": can_in_current_team(request, a.team_id, Perm.ANSWER) and not a.is_locked,
            "all_open": opened is None,
            "open_all_url": f"{questionnaire_url(a.pk, pillar.ref)}?open={OPEN_ALL}",
            "assign_form": AssignForm(team_id=a.team_id),
        },
    )


def _sections_with_opened(
    request: HttpRequest, a: Assessment, pillar: Pillar, opened: set[int] | None, owners: list
) -> list[dict[str, Any]]:
    """Sections where some controls (`opened`, None for all) are rendered open with their
    form, evidence and thread; the others as summaries."""
    responses = _pillar_responses(a, pillar)
    opened_ids = [r.pk for r in responses if opened is None or r.pk in opened]
    # Summaries show counts (annotated); only the opened controls load their items.
    evidence = evidence_by_response(opened_ids)
    threads = threads_for_responses(opened_ids)
    guidelines: dict[int, dict] = {}
    for r in responses:
        if r.pk in evidence:
            r.thread = threads[r.pk]
            item = _response_context(request, r, owners, evidence=evidence[r.pk])
            item["open"] = True
        else:
            item = {"open": False, "summary": _summary(r)}
        g = r.control.guideline
        guidelines.setdefault(g.pk, {"g": g, "items": []})["items"].append(item)
    return list(guidelines.values())


@login_required
@require_http_methods(["GET", "POST"])
def response_edit(request: HttpRequest, pk: int) -> HttpResponse:
    perm = Perm.ANSWER if request.method == "POST" else Perm.VIEW
    r = get_for_user(
        request.user,
        Response.objects.select_related("control__guideline__pillar", "owner", "assessment__team"),
        pk,
        perm,
    )
    if request.method == "GET" and not request.headers.get("HX-Request"):
        # The control alone is a fragment for htmx; people following a link (the audit
        # trail, bookmarks) get it opened on its pillar page.
        return redirect(r.get_absolute_url())
    owners = list(owners_for_team(r.assessment.team_id))
    status, conflict, form = 200, None, None
    if request.method == "POST":
        form = ResponseForm(request.POST, response=r, owners=owners)
        if not form.is_valid():
            status = 400
        else:
            d = form.cleaned_data
            try:
                r = services.response_save(
                    response=r,
                    expected_version=d["version"],
                    actor=request.user,
                    status=d["status"],
                    justification=d["justification"],
                    owner=d["owner"],
                    due_date=d["due_date"],
                )
            except services.ResponseConflict as exc:
                status, conflict = 409, exc.current
            except services.AssessmentLocked as exc:
                status = 409
                form.add_error(None, str(exc))
            except ValidationError as exc:
                status = 400
                add_form_errors(form, exc)
            else:
                form = None
                if not request.headers.get("HX-Request"):
                    messages.success(request, f"Answer to {r.control.ref} saved.")
        if not request.headers.get("HX-Request") and status == 200:
            return redirect(r.get_absolute_url())
    if conflict is not None:
        conflict = Response.objects.select_related("owner", "updated_by").get(pk=conflict.pk)
        r = conflict  # show the current answer; the user's own input stays in the form
        r.assessment = Assessment.objects.select_related("team").get(pk=r.assessment_id)
    ctx = _response_context(request, r, owners, form=form, conflict=conflict)
    if conflict is not None:
        ctx["form"] = ResponseForm(
            initial={**request.POST.dict(), "version": conflict.version}, response=r, owners=owners
        )
    ctx["item"] = ctx
    if request.headers.get("HX-Request") and request.method == "POST" and status == 200:
        ctx["scores"] = selectors.assessment_scores(r.assessment)
        ctx["oob"] = True
    return render(request, "assessments/_response.html", ctx, status=status)


@login_required
@require_POST
def guideline_assign(request: HttpRequest, pk: int, guideline_id: int) -> HttpResponse:
    a = get_for_user(request.user, _assessment_qs(), pk, Perm.ANSWER)
    guideline = (
        Guideline.objects.filter(pk=guideline_id, version_id=a.framework_version_id)
        .select_related("pillar")
        .first()
    )
    if guideline is None:
        raise Http404("No such guideline in this assessment.")
    form = AssignForm(request.POST, team_id=a.team_id)
    if not form.is_valid():
        messages.error(request, "Choose a risk owner of this team and a valid date.")
    else:
        try:
            n = services.responses_assign(
                assessment=a,
                responses=list(a.responses.filter(control__guideline=guideline)),
                owner=form.cleaned_data["owner"],
                due_date=form.cleaned_data["due_date"],
                actor=request.user,
            )
        except services.AssessmentLocked as exc:
            messages.error(request, str(exc))
        except ValidationError as exc:
            error_messages(request, exc)
        else:
            messages.success(request, f"{n} controls of {guideline.ref} assigned.")
    return redirect("questionnaire", pk=a.pk, pillar_ref=guideline.pillar.ref)


# --- My work ----------------------------------------------------------------------------


MY_WORK_PAGE_SIZE = 50


# What a row shows (and the link to its control needs): the seven joined models' other
# columns (timestamps, texts) were a third of the page's model building (docs/benchmarks.md).
MY_WORK_FIELDS = (
    "status",
    "due_date",
    "assessment__title",
    "assessment__team__name",
    "assessment__ai_system__name",
    "control__ref",
    "control__title",
    "control__order",
    "control__guideline__pillar__ref",
)


def _my_work_page(user: Any, wanted: int) -> dict[str, Any]:
    """One page of a user's work: the totals and the rows' HTML (no form, nothing but the
    data of the user's teams and the date)."""
    qs = selectors.my_work(user)
    totals = qs.order_by().aggregate(
        total=Count("pk"), overdue=Count("pk", filter=selectors.overdue_q())
    )
    page, pages, start = page_window(totals["total"], wanted, MY_WORK_PAGE_SIZE)
    rows = list(qs.only(*MY_WORK_FIELDS)[start : start + MY_WORK_PAGE_SIZE])
    decisions = current_decisions_for_responses([r.pk for r in rows])
    for r in rows:
        r.review = decisions[r.pk]
    return {
        "rows_html": render_to_string("assessments/_my_work_rows.html", {"rows": rows}),
        "overdue": totals["overdue"],
        "total": totals["total"],
        "page": page,
        "pages": pages,
        "previous": page - 1 if page > 1 else None,
        "next": page + 1 if page < pages else None,
    }


@login_required
@require_GET
def my_work_view(request: HttpRequest) -> HttpResponse:
    # A page at a time: a risk owner of a large team owns hundreds of controls, and rendering
    # them all made the page slow; the page is cached under the versions of the user's teams
    # (aigsec/core/teamcache.py: every change to an answer, owner or review is audited in its
    # team), so a visit with nothing changed reads it back (docs/benchmarks.md).
    wanted = page_param(request)
    context = teamcache.cached_for_teams(
        "my_work",
        teams_with_perm(request.user, Perm.VIEW),
        (request.user.pk, wanted),
        lambda: _my_work_page(request.user, wanted),
    )
    return render(request, "assessments/my_work.html", context)
