"""Pages that only show something (lists, details, dashboards, the audit trail, downloads)
answer GET only: a POST, even from a signed-in member with a valid CSRF token, is a 405 and
changes nothing (no row, no stored file, no audit event).

The pages are every GET-only entry of the authorisation table (tests/authz_table.py), which
lists every URL with the methods it accepts: a new read-only page is covered once it is
listed there, and a page that starts to accept POST has to be listed as such.
"""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from aigsec.audit.models import AuditEvent
from tests.authz_table import HTML
from tests.authz_world import OWN, build_world, changed_tables, fingerprint
from tests.conftest import login_with_second_factor

pytestmark = pytest.mark.django_db

READ_ONLY = sorted(name for name, rule in HTML.items() if set(rule.methods) == {"GET"})
# Read-only pages that used to answer POST like GET (no method decorator): they must stay in.
WERE_LOOSE = {
    "home",
    "frameworks",
    "ai_system_list",
    "ai_system_detail",
    "assessment_detail",
    "questionnaire",
    "assessment_compare",
    "my_work",
}
# What a careless handler might act on if a POST got through.
BODY = {"status": "final", "action": "link", "body": "Posted.", "name": "Renamed", "page": "2"}


def _last_seq() -> int:
    return AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first() or 0


def test_the_table_covers_the_pages_that_were_loose():
    listed = set(READ_ONLY)
    assert listed >= WERE_LOOSE
    assert listed >= {"evidence_list", "review_queue", "report_list", "audit_trail", "sessions"}


def test_post_to_a_read_only_page_is_405_and_changes_nothing(personas):
    world = build_world(personas)
    # The auditor holds view, review and audit: every read-only page is open to them.
    client = Client(enforce_csrf_checks=True)
    login_with_second_factor(client, personas.auditor)
    assert client.get(reverse("home")).status_code == 200
    token = client.cookies[settings.CSRF_COOKIE_NAME].value
    # CSRF is enforced for this client: without the token a POST is refused before any view.
    assert client.post(reverse("home"), BODY).status_code == 403
    # With it, a POST reaches a page that takes one (here a form without its file: 400).
    verify = client.post(reverse("report_verify"), {"csrfmiddlewaretoken": token})
    assert verify.status_code == 400

    failures = []
    for name in READ_ONLY:
        rule = HTML[name]
        kwargs = world.resolve(rule.kwargs, "auditor", OWN)
        url = reverse(name, kwargs=kwargs or None)
        query = world.resolve(rule.query, "auditor", OWN)
        shown = client.get(url, query)
        if getattr(shown, "streaming", False):
            b"".join(shown.streaming_content)
        if not 200 <= shown.status_code < 400:
            failures.append(f"{name}: GET {shown.status_code}, expected it to be shown")
            continue
        before, seq = fingerprint(), _last_seq()
        target = f"{url}?{urlencode(query)}" if query else url
        resp = client.post(target, {**BODY, "csrfmiddlewaretoken": token})
        if resp.status_code != 405:
            failures.append(f"{name}: POST {resp.status_code}, expected 405")
        elif "GET" not in resp["Allow"]:
            failures.append(f"{name}: 405 without GET in Allow ({resp['Allow']})")
        if changed := changed_tables(before, fingerprint()):
            failures.append(f"{name}: POST changed {changed}")
        if events := list(AuditEvent.objects.filter(seq__gt=seq).values_list("action", flat=True)):
            failures.append(f"{name}: POST recorded {events}")
    assert not failures, "\n".join(failures)
