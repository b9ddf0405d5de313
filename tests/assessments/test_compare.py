"""Compare (assessments/compare.py): changed controls only by default, all on request, and
the score deltas overall and per pillar."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from assessments import services
from tests.factories import make_assessment, make_framework_version

pytestmark = pytest.mark.django_db


def _save(r, actor, status, justification=""):
    r.refresh_from_db()
    services.response_save(
        response=r,
        expected_version=r.version,
        actor=actor,
        status=status,
        justification=justification,
    )


@pytest.fixture
def pair(personas):
    first = make_assessment(actor=personas.risk_owner, team=personas.team, title="First")
    for r in first.responses.filter(control__ref__in=["1.1.1", "2.1.1"]):
        _save(r, personas.risk_owner, "full")
    second = make_assessment(
        actor=personas.risk_owner, ai_system=first.ai_system, based_on=first, title="Second"
    )
    _save(second.responses.get(control__ref="1.1.2"), personas.risk_owner, "full")
    _save(second.responses.get(control__ref="2.1.1"), personas.risk_owner, "not_implemented")
    return first, second


def _page(personas, first, second, **extra):
    c = personas.client(personas.manager)
    url = reverse("assessment_compare", args=[second.pk])
    return c.get(url, {"other": first.pk, **extra})


def _rows(html: str) -> list[str]:
    return [ref for ref in ("1.1.1", "1.1.2", "1.2.1", "2.1.1", "2.2.2") if f"<td>{ref} " in html]


def test_changed_controls_only_by_default(personas, pair):
    html = _page(personas, *pair).content.decode()
    assert _rows(html) == ["1.1.2", "2.1.1"]
    assert "2 controls changed, of 8" in html
    assert "Show all 8 controls" in html


def test_all_controls_on_request(personas, pair):
    html = _page(personas, *pair, all="1").content.decode()
    assert _rows(html) == ["1.1.1", "1.1.2", "1.2.1", "2.1.1", "2.2.2"]
    assert "Show changed controls only" in html


def test_score_deltas_overall_and_per_pillar(personas, pair):
    html = _page(personas, *pair).content.decode()
    # Pillar 1: 1 of 4 full (25%) -> 2 of 4 (50%); pillar 2: 25% -> 0%; overall unchanged.
    assert '<td class="delta delta-up">+25.0 points</td>' in html
    assert '<td class="delta delta-down">\u221225.0 points</td>' in html  # a minus sign
    assert '<td class="delta delta-none">no change</td>' in html
    assert html.count('<th scope="row">') == 3  # overall and two pillars


def test_nothing_changed_says_so(personas):
    first = make_assessment(actor=personas.risk_owner, team=personas.team)
    second = make_assessment(actor=personas.risk_owner, ai_system=first.ai_system, based_on=first)
    html = _page(personas, first, second).content.decode()
    assert "No control changed." in html and "0 controls changed, of 8" in html


def test_stranger_and_other_system(personas, pair):
    first, second = pair
    c = personas.client(personas.stranger)
    url = reverse("assessment_compare", args=[second.pk])
    assert c.get(url, {"other": first.pk}).status_code == 404


def test_query_count_is_constant(personas):
    counts = []
    for version in (make_framework_version(), make_framework_version(3, 3, 4)):
        first = make_assessment(actor=personas.risk_owner, team=personas.team, version=version)
        second = make_assessment(
            actor=personas.risk_owner, ai_system=first.ai_system, version=version, based_on=first
        )
        c = personas.client(personas.manager)
        url = reverse("assessment_compare", args=[second.pk])
        c.get(url, {"other": first.pk})
        with CaptureQueriesContext(connection) as ctx:
            assert c.get(url, {"other": first.pk, "all": "1"}).status_code == 200
        counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1], counts
