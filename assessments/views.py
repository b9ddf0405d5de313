"""HTML views: AI systems, assessments, the questionnaire (htmx), My work, compare."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
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
from aigsec.core.formtoken import once
from aigsec.core.paging import page_param, page_window
from evidence.selectors import (
    evidence_freshness_by_assessment,
    recent_integrity_incidents,
)
from reviews.selectors import current_decisions_for_responses

from . import cards, scoring, selectors, services
from .charts import pillar_chart
from .compare import comparison
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

# --- Dashboard --------------------------------------------------------------------------


@login_required
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    if not request.membership:
        return render(request, "core/home.html")
    m = current_membership_for_user(request)
    can_edit = can_in_current_team(request, m.team_id, Perm.EDIT)

    def rows() -> list[selectors.DashboardRow]:
        rows = selectors.dashboard_rows(m.team_id)
        fresh = evidence_freshness_by_assessment([r.assessment.pk for r in rows if r.assessment])
        for row in rows:
            row.chart = pillar_chart(row.scores.pillars, width=460) if row.scores else None
            row.evidence = fresh.get(row.assessment.pk) if row.assessment else None
        return rows

    # Admins and auditors see integrity incidents (a stored file no longer matching its hash).
    watch = role_allows(m.role, Perm.MANAGE) or role_allows(m.role, Perm.AUDIT)
    return render(
        request,
        "assessments/dashboard.html",
        {
            "rows": rows,  # called by the template only when its cached cards are missing
            "page_key": teamcache.page_key([m.team_id]),
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
@once
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
    scores = scoring.scores_for_assessments(assessments)
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
@once
def assessment_create_view(request: HttpRequest, pk: int) -> HttpResponse:
    system = get_for_user(request.user, AISystem.objects.select_related("team"), pk, Perm.EDIT)
    # ?based_on=<id>: "start a correction" from a final assessment's page.
    initial = {"based_on": request.GET.get("based_on")}
    form = AssessmentCreateForm(request.POST or None, ai_system=system, initial=initial)
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
    scores = scoring.assessment_scores(a)
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
    ctx = comparison(b, a, show_all=request.GET.get("all") == "1")
    return render(request, "assessments/compare.html", {"a": a, "b": b, **ctx})


# --- The questionnaire ------------------------------------------------------------------


def _answer_form(r: Response, owners: list) -> ResponseForm:
    initial = {
        "version": r.version,
        "status": r.status,
        "justification": r.justification,
        "owner": r.owner_id,
        "due_date": r.due_date,
    }
    return ResponseForm(initial=initial, response=r, owners=owners)


# The pillar page lists every control as a summary (status, owner, due date, review, counts);
# a control's form, evidence and comments are rendered only when it is opened: on demand by
# htmx, or on the page itself with `?open=<response id>` (links, redirects, no JavaScript) or
# `?open=all` (docs/benchmarks.md).
OPEN_ALL = "all"


def _opened(request: HttpRequest) -> set[int] | None:
    """The response ids to render open; None for all. Values that are not ids are ignored,
    as an unknown page number is: this parameter only changes what is shown."""
    values = request.GET.getlist("open")
    if OPEN_ALL in values:
        return None
    return {int(v) for v in values if v.isascii() and v.isdigit() and len(v) < 19}


class _Sections:
    """The pillar's guidelines, each with its control cards, read on first use: when every
    guideline's summaries come from the page cache, nothing is read."""

    def __init__(self, request, a: Assessment, pillar: Pillar, guidelines, opened, owners):
        self._args = (request, a, pillar, opened, owners)
        self.guidelines = [g for g in guidelines if g.pillar_id == pillar.pk]
        self._cards: dict[int, list[cards.ControlCard]] | None = None

    def cards_of(self, guideline_id: int) -> list[cards.ControlCard]:
        if self._cards is None:
            request, a, pillar, opened, owners = self._args
            qs = Response.objects.filter(assessment=a, control__guideline__pillar=pillar)
            perms = cards.card_perms(request, a)
            self._cards = {}
            for card in cards.control_cards(a, qs, opened=opened, perms=perms):
                if card.is_open and perms.can_answer:
                    card.form = _answer_form(card.r, owners)
                self._cards.setdefault(card.r.control.guideline_id, []).append(card)
        return self._cards.get(guideline_id, [])

    def __iter__(self):
        for g in self.guidelines:
            yield {"g": g, "cards": lambda g=g: self.cards_of(g.pk)}


@login_required
@require_GET
def questionnaire(request: HttpRequest, pk: int, pillar_ref: str) -> HttpResponse:
    a = get_for_user(request.user, _assessment_qs(), pk)
    pillars, guidelines = scoring.framework_structure(a.framework_version_id)
    pillar = next((p for p in pillars if p.ref == pillar_ref), None)
    if pillar is None:
        raise Http404("No such pillar in this framework.")
    opened = _opened(request)
    owners = list(owners_for_team(a.team_id))
    return render(
        request,
        "assessments/questionnaire.html",
        {
            "a": a,
            "pillar": pillar,
            "pillars": pillars,
            "sections": _Sections(request, a, pillar, guidelines, opened, owners),
            # The usual visit (nothing opened): summaries, the same for every viewer, from
            # the page cache while the team's data is unchanged.
            "page_key": teamcache.page_key([a.team_id]) if opened == set() else None,
            "scores": scoring.assessment_scores(a),
            "owners": owners,
            "can_answer": can_in_current_team(request, a.team_id, Perm.ANSWER) and not a.is_locked,
            "all_open": opened is None,
            "open_all_url": f"{questionnaire_url(a.pk, pillar.ref)}?open={OPEN_ALL}",
            "assign_form": AssignForm(team_id=a.team_id),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def response_edit(request: HttpRequest, pk: int) -> HttpResponse:
    perm = Perm.ANSWER if request.method == "POST" else Perm.VIEW
    r = get_for_user(
        request.user,
        Response.objects.select_related("control__guideline__pillar", "assessment__team"),
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
    # The card shows the answer as stored now: after a save, the new one; after a conflict,
    # the other person's, with the user's own input kept in the form.
    card = cards.control_card(r, cards.card_perms(request, r.assessment))
    if conflict is not None:
        conflict = card.r
        form = ResponseForm(
            initial={**request.POST.dict(), "version": card.r.version},
            response=card.r,
            owners=owners,
        )
    card.form = form or _answer_form(card.r, owners)
    ctx: dict[str, Any] = {"card": card, "conflict": conflict}
    if request.headers.get("HX-Request") and request.method == "POST" and status == 200:
        ctx["scores"] = scoring.assessment_scores(r.assessment)
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
    """One page of a user's work: the totals and the rows (no form, nothing but the data of
    the user's teams and the date)."""
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
        "rows": rows,
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
    # A page at a time: a risk owner of a large team owns hundreds of controls. The page is a
    # fragment cached under the versions of the user's teams (aigsec/core/teamcache.py).
    wanted = page_param(request)
    return render(
        request,
        "assessments/my_work.html",
        {
            "work": lambda: _my_work_page(request.user, wanted),  # read on a cache miss only
            "wanted": wanted,
            "page_key": teamcache.page_key(teams_with_perm(request.user, Perm.VIEW)),
        },
    )
