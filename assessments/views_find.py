"""Finding things: the controls of one assessment that match a filter, and the site-wide
search box (controls, evidence, AI systems of the current team).

Both are GET forms: they work without JavaScript, and htmx swaps only the results in. Both
fetch through the door and run a fixed number of queries whatever the data size.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.views.decorators.http import require_GET

from aigsec.core.access import Perm, current_membership_for_user, get_for_user
from evidence.reviews import current_decisions_for_responses

from . import filters, search, selectors
from .forms import owners_for_team
from .models import Assessment, Response
from .templatetags.controls import control_meta


def found_control(r: Response) -> SafeString:
    """A matching control as a summary: opened in place with htmx (its form saves in place as
    on the questionnaire), or a link to it opened on its pillar page without JavaScript."""
    overdue = selectors.is_overdue(r)
    expired = r.n_evidence > 0 and r.n_unexpired == 0
    return format_html(
        '<article class="control control-summary" id="r{pk}">\n'
        '  <details hx-get="{url}" hx-trigger="toggle once" hx-target="#r{pk}"'
        ' hx-swap="outerHTML">\n'
        '    <summary><h3 class="control-title"><span class="ref">{ref}</span> {title}</h3>\n'
        "      {meta}</summary>\n"
        '    <p><a href="{page}">Open {ref} on its pillar page</a></p>\n'
        "  </details>\n"
        "</article>",
        pk=r.pk,
        url=reverse("response_edit", args=[r.pk]),
        page=r.get_absolute_url(),
        ref=r.control.ref,
        title=r.control.title,
        meta=control_meta(r, overdue, expired, summary=True),
    )


@login_required
@require_GET
def assessment_controls(request: HttpRequest, pk: int) -> HttpResponse:
    a = get_for_user(
        request.user,
        Assessment.objects.select_related("ai_system", "team", "framework_version__framework"),
        pk,
    )
    pillars, _guidelines = selectors.framework_structure(a.framework_version_id)
    owners = list(owners_for_team(a.team_id))
    form = filters.ControlFilterForm(request.GET, owners=owners)
    groups: list[dict[str, Any]] = []
    shown, status = 0, 200
    if not form.is_valid():
        # A bad value (an owner of no team, an unknown status) is named, and nothing is
        # listed rather than an unfiltered list someone would take for the answer.
        status = 400
        f = filters.ControlFilter()
    else:
        f = form.to_filter()
        rows = filters.matching_responses(a, f)
        decisions = current_decisions_for_responses([r.pk for r in rows])
        by_guideline: dict[int, dict[str, Any]] = {}
        for r in rows:
            r.assessment, r.review = a, decisions[r.pk]
            g = r.control.guideline
            group = by_guideline.setdefault(g.pk, {"g": g, "items": []})
            group["items"].append(found_control(r))
        groups = list(by_guideline.values())
        shown = len(rows)
    scores = selectors.assessment_scores(a)
    template = (
        "assessments/_control_results.html"
        if request.headers.get("HX-Request")
        and not request.headers.get("HX-History-Restore-Request")
        else "assessments/controls.html"
    )
    response = render(
        request,
        template,
        {
            "a": a,
            "pillars": pillars,
            "form": form,
            "filter": f,
            "groups": groups,
            "shown": shown,
            # The progress panel: saving a found control updates it, as on a pillar page.
            "scores": scores,
            "total": sum(scores.by_status.values()),
        },
        status=status,
    )
    # The same address answers a whole page or, to htmx, the results alone: caches must
    # tell them apart (Back after a swap must not show a bare fragment).
    patch_vary_headers(response, ["HX-Request"])
    return response


@login_required
@require_GET
def search_view(request: HttpRequest) -> HttpResponse:
    """The header's search box: the current team's controls, evidence and AI systems."""
    m = current_membership_for_user(request, Perm.VIEW)
    results = search.search([m.team_id], request.GET.get("q"))
    return render(
        request,
        "assessments/search.html",
        {"results": results, "q": results.query, "team": m.team},
    )
