"""The audit trail for people: the team's events (filtered, paged), one event, exports, and a
"verify chain" action. Auditors and admins only (`Perm.AUDIT`), always of their current team."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from aigsec.core import teamcache
from aigsec.core.access import Perm, current_membership_for_user, get_for_user
from aigsec.core.downloads import attachment
from aigsec.core.ratelimit import rate_limit

from . import selectors, services
from .chain import event_hash, format_at
from .forms import AuditFilterForm
from .keys import verifier
from .models import AuditEvent
from .sentences import describe
from .verify import latest_valid_checkpoint

_MAX_SEQ = 2**63 - 1
EXPORTS = {
    "jsonl": ("application/x-ndjson; charset=utf-8", selectors.audit_export_lines),
    "csv": ("text/csv; charset=utf-8", selectors.audit_csv_lines),
}
# Target kinds with a page of their own; the page's door checks access again when followed.
TARGET_PAGES = {
    "aisystem": "ai_system_detail",
    "assessment": "assessment_detail",
    "evidenceitem": "evidence_detail",
    "response": "response_edit",
}


def _form(request: HttpRequest, team_id: int) -> AuditFilterForm:
    actions = selectors.audit_actions_for_team(team_id)
    return AuditFilterForm(request.GET, actions=actions)


def _trail_page(
    request: HttpRequest, form: AuditFilterForm, events: Any = None, status: int = 200
) -> HttpResponse:
    ctx = {
        "form": form,
        "query": urlencode(form.filter_data()) if form.is_valid() else "",
        "exports": list(EXPORTS),
        **(events or {}),
    }
    return render(request, "audit/trail.html", ctx, status=status)


def _events_page(team_id: int, form: AuditFilterForm) -> selectors.AuditPage:
    d = form.cleaned_data
    page = selectors.audit_page(team_id, form.filters(), before=d["before"], after=d["after"])
    describe(page.events)  # sentences and names: one query per kind named on the page
    return page


@login_required
@require_GET
def audit_trail(request: HttpRequest) -> HttpResponse:
    m = current_membership_for_user(request, Perm.AUDIT)
    form = _form(request, m.team_id)
    if not form.is_valid():
        # No events rather than unfiltered ones: an investigator must not mistake them.
        return _trail_page(request, form, status=400)
    # A page of events is a fragment cached under the team's newest event (the trail shows
    # reads and refusals too, which leave the team's data version alone) and the query.
    newest = selectors.audit_newest_seq(m.team_id)
    events = {
        "page": lambda: _events_page(m.team_id, form),
        "events_key": teamcache.PageKey(f"{m.team_id}:{newest}"),
        "params": sorted((k, request.GET.getlist(k)) for k in request.GET),
    }
    return _trail_page(request, form, events)


@login_required
@require_GET
def audit_export(request: HttpRequest, fmt: str) -> HttpResponse:
    m = current_membership_for_user(request, Perm.AUDIT)
    if fmt not in EXPORTS:
        raise Http404("No such export format.")
    form = _form(request, m.team_id)
    if not form.is_valid():
        return _trail_page(request, form, status=400)
    up_to = services.audit_export_start(
        actor=request.user, team_id=m.team_id, fmt=fmt, filters=form.filter_data()
    )
    events = selectors.audit_events_for_team(m.team_id, form.filters()).filter(seq__lte=up_to)
    content_type, lines = EXPORTS[fmt]
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    name = f"audit-{m.team.slug}-{stamp}-to-seq-{up_to}.{fmt}"
    return attachment(lines(events), filename=name, content_type=content_type)


def _target_url(target: str | None) -> str:
    kind, _, ident = (target or "").partition(":")
    if kind not in TARGET_PAGES or not ident.isdigit():
        return ""
    try:
        return reverse(TARGET_PAGES[kind], args=[int(ident)])
    except NoReverseMatch:
        return ""


@login_required
@require_GET
def audit_event(request: HttpRequest, seq: int) -> HttpResponse:
    if not 0 < seq <= _MAX_SEQ:
        raise Http404("Not found.")
    # seq is what people quote ("FAIL at seq 37"); the door takes the primary key.
    pk = AuditEvent.objects.filter(seq=seq).values_list("pk", flat=True).first()
    if pk is None:
        raise Http404("Not found.")
    ev = get_for_user(request.user, AuditEvent.objects.all(), pk, Perm.AUDIT)
    describe([ev])
    body = {
        "seq": ev.seq,
        "at": format_at(ev.at),
        "actor": ev.actor,
        "action": ev.action,
        "team": ev.team,
        "target": ev.target,
        "data": ev.data,
    }
    return render(
        request,
        "audit/event.html",
        {
            "ev": ev,
            "actor_email": selectors.audit_actor_email(ev),
            "data_json": json.dumps(ev.data, indent=2, sort_keys=True, ensure_ascii=False),
            "hash_recomputes": event_hash(ev.prev_hash, body) == ev.hash,
            "target_url": _target_url(ev.target),
        },
    )


@require_GET
@rate_limit("audit_public", message="Too many requests for the audit log.", methods=("GET",))
def audit_log_vkey(request: HttpRequest) -> HttpResponse:
    """The verifier key of the audit log's checkpoints, for anyone (signed-note form)."""
    resp = HttpResponse(verifier().vkey + "\n", content_type="text/plain; charset=utf-8")
    resp["Cache-Control"] = "public, max-age=3600"
    return resp


@login_required
@require_http_methods(["GET", "POST"])
def audit_verify(request: HttpRequest) -> HttpResponse:
    m = current_membership_for_user(request, Perm.AUDIT)
    result = None
    if request.method == "POST":
        result, _cp = services.audit_chain_verify(actor=request.user, team_id=m.team_id)
    checkpoint, checkpoint_error = latest_valid_checkpoint()
    return render(
        request,
        "audit/verify.html",
        {"result": result, "checkpoint": checkpoint, "checkpoint_error": checkpoint_error},
    )
