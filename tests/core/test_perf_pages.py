"""The pages made fast for issue 8 (docs/benchmarks.md) still show everything, a page at a time:
the evidence list, the review queue and My work are paged; the questionnaire loads the
"link existing evidence" picker on demand."""

import datetime as dt
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from assessments.models import Response, ResponseStatus
from evidence.models import EvidenceItem
from evidence.services import evidence_create
from reviews import selectors as review_selectors
from reviews import services as review_services
from tests.factories import make_assessment, make_framework_version

pytestmark = pytest.mark.django_db


def _notes(personas, n: int) -> list[EvidenceItem]:
    return [
        evidence_create(
            team=personas.team,
            actor=personas.risk_owner,
            kind="note",
            title=f"Note {i:03d}",
            note="Seen.",
        )
        for i in range(n)
    ]


def _ids(html: str, pattern: str) -> list[int]:
    return [int(x) for x in re.findall(pattern, html)]


def _queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


def test_evidence_list_is_paged_newest_first(personas):
    items = _notes(personas, 53)
    c = personas.client(personas.auditor)
    url = reverse("evidence_list")
    first = c.get(url).content.decode()
    second = c.get(url, {"page": 2}).content.decode()
    link = r'href="/evidence/(\d+)/"'
    newest_first = [i.pk for i in reversed(items)]
    assert _ids(first, link) == newest_first[:50]
    assert _ids(second, link) == newest_first[50:]
    assert "Page 1 of 2 (53 items)" in first and 'rel="next"' in first
    assert 'rel="prev"' in second and 'rel="next"' not in second
    # Out-of-range and junk page numbers show a real page, never an error.
    assert _ids(c.get(url, {"page": 99}).content.decode(), link) == newest_first[50:]
    assert _ids(c.get(url, {"page": "x"}).content.decode(), link) == newest_first[:50]
    assert _queries(c, url) == _queries(c, url + "?page=2")


def test_review_queue_pages_keep_pending_first_across_pages(personas):
    version = make_framework_version(2, 3, 10)  # 60 controls
    a = make_assessment(team=personas.team, actor=personas.risk_owner, version=version)
    responses = list(a.responses.order_by("control__order"))
    Response.objects.filter(pk__in=[r.pk for r in responses]).update(
        status=ResponseStatus.FULL, updated_at=timezone.now() - dt.timedelta(days=1)
    )
    for r in responses[:5]:
        review_services.review_create(
            reviewer=personas.auditor, decision="accepted", comment="", response=r
        )
    notes = _notes(personas, 3)
    whole = review_selectors.review_queue_page(personas.auditor, size=1000).rows
    expected = [(row.kind, row.target_id) for row in whole]
    # Pending answers in questionnaire order, pending evidence newest first, then the decided.
    assert expected == (
        [("response", r.pk) for r in responses[5:]]
        + [("evidence", n.pk) for n in reversed(notes)]
        + [("response", r.pk) for r in responses[:5]]
    )
    pages = [review_selectors.review_queue_page(personas.auditor, page=p) for p in (1, 2)]
    assert [p.total for p in pages] == [63, 63] and pages[0].pages == 2
    assert [(row.kind, row.target_id) for p in pages for row in p.rows] == expected
    assert [row.decision for row in pages[1].rows[-5:]] == ["accepted"] * 5

    c = personas.client(personas.auditor)
    html = c.get(reverse("review_queue"), {"decision": "pending", "page": 2}).content.decode()
    assert html.count('name="target_id"') == 58 - 50
    assert "decision=pending&amp;page=1" in html
    # A page of answers only skips the evidence lookup; never more than thirteen queries:
    # session, user, memberships (x2), reviewer teams (x2), the counts of answers and items,
    # the page's keys, its answers and items (each with its latest review and reviewer), the
    # answers' linked evidence (reviews/context.py), the assessments of the filter.
    assert _queries(c, reverse("review_queue")) + 1 == _queries(c, "/reviews/?page=2") <= 13


def test_my_work_is_paged_and_counts_every_overdue_control(personas):
    version = make_framework_version(2, 3, 10)
    a = make_assessment(team=personas.team, actor=personas.risk_owner, version=version)
    yesterday = timezone.localdate() - dt.timedelta(days=1)
    Response.objects.filter(assessment=a).update(owner=personas.risk_owner, due_date=yesterday)
    c = personas.client(personas.risk_owner)
    first = c.get(reverse("my_work")).content.decode()
    second = c.get(reverse("my_work"), {"page": 2}).content.decode()
    rows = r'href="/assessments/\d+/pillars/[^/]+/\?open=\d+#r(\d+)"'
    assert len(_ids(first, rows)) == 50 and len(_ids(second, rows)) == 10
    assert set(_ids(first, rows)) | set(_ids(second, rows)) == set(
        a.responses.values_list("pk", flat=True)
    )
    assert "60 overdue" in first and "60 overdue" in second
    assert "Page 2 of 2 (60 controls)" in second


def test_link_picker_lists_only_the_teams_live_evidence(personas):
    a = make_assessment(team=personas.team, actor=personas.risk_owner)
    r = a.responses.first()
    mine = _notes(personas, 2)
    theirs = evidence_create(
        team=personas.other_team, actor=personas.stranger, kind="note", title="Theirs", note="x"
    )
    url = reverse("response_evidence", args=[r.pk])
    html = personas.client(personas.risk_owner).get(url, HTTP_HX_REQUEST="true").content.decode()
    assert _ids(html, r'<option value="(\d+)">') == [n.pk for n in mine]  # by title
    assert f'value="{theirs.pk}"' not in html and "<html" not in html
    # Without htmx it is a page of its own, with a way back; an auditor may not link.
    page = personas.client(personas.risk_owner).get(url).content.decode()
    assert "<html" in page and f"#r{r.pk}" in page
    assert personas.client(personas.auditor).get(url).status_code == 403
    assert personas.client(personas.stranger).get(url).status_code == 404
