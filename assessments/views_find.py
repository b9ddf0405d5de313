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
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET

from aigsec.core.access import Perm, current_membership_for_user, get_for_user

from . import cards, filters, scoring, search
from .forms import owners_for_team
from .models import Assessment
from .templatetags.controls import control_summary


@login_required
@require_GET
def assessment_controls(request: HttpRequest, pk: int) -> HttpResponse:
    a = get_for_user(
        request.user,
        Assessment.objects.select_related("ai_system", "team", "framework_version__framework"),
        pk,
    )
    pillars, _guidelines = scoring.framework_structure(a.framework_version_id)
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
        found = cards.control_cards(a, filters.matching_responses(a, f))
        by_guideline: dict[int, dict[str, Any]] = {}
        for card in found:
            g = card.r.control.guideline
            group = by_guideline.setdefault(g.pk, {"g": g, "items": []})
            # Opened in place with htmx; without JavaScript, on its pillar page.
            group["items"].append(control_summary(card, card.r.get_absolute_url()))
        groups = list(by_guideline.values())
        shown = len(found)
    scores = scoring.assessment_scores(a)
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
