"""Finding controls within an assessment (assessments/filters.py, views_find.py): by status,
owner, review decision, overdue and text; without JavaScript (GET) and with htmx."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from assessments import services
from assessments.models import Response
from reviews.services import review_create
from tests.factories import make_assessment, make_framework_version

pytestmark = pytest.mark.django_db


def _answer(r: Response, actor, status="full", justification="", owner=None, due=None):
    r.refresh_from_db()
    return services.response_save(
        response=r,
        expected_version=r.version,
        actor=actor,
        status=status,
        justification=justification,
        owner=owner,
        due_date=due,
    )


@pytest.fixture
def world(personas):
    a = make_assessment(actor=personas.risk_owner, team=personas.team)
    rs = {r.control.ref: r for r in a.responses.select_related("control")}
    _answer(rs["1.1.1"], personas.risk_owner, "full", owner=personas.risk_owner)
    _answer(
        rs["1.1.2"],
        personas.risk_owner,
        "partial",
        justification="Supply chain vendor checks are half done",
        owner=personas.admin,
        due=timezone.localdate() - dt.timedelta(days=3),
    )
    _answer(rs["2.1.1"], personas.risk_owner, "not_implemented")
    review_create(
        reviewer=personas.auditor,
        response=Response.objects.get(pk=rs["1.1.1"].pk),
        decision="rejected",
        comment="No proof.",
    )
    return a, rs


def _refs(resp) -> list[str]:
    html = resp.content.decode()
    return [
        ref
        for ref in ("1.1.1", "1.1.2", "1.2.1", "1.2.2", "2.1.1", "2.1.2", "2.2.1", "2.2.2")
        if f'<span class="ref">{ref}</span>' in html
    ]


def _get(personas, a, **params):
    c = personas.client(personas.risk_owner)
    return c.get(reverse("assessment_controls", args=[a.pk]), params)


def test_no_filter_lists_every_control(personas, world):
    a, _ = world
    resp = _get(personas, a)
    assert resp.status_code == 200
    assert len(_refs(resp)) == 8
    assert "<strong>8</strong> of 8 controls match" in resp.content.decode()


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"status": "partial"}, ["1.1.2"]),
        ({"status": "not_started"}, ["1.2.1", "1.2.2", "2.1.2", "2.2.1", "2.2.2"]),
        ({"owner": "none", "status": "not_implemented"}, ["2.1.1"]),
        ({"overdue": "on"}, ["1.1.2"]),
        ({"review": "rejected"}, ["1.1.1"]),
        ({"q": "supply"}, ["1.1.2"]),  # the justification
        ({"q": "Good 2.2.1"}, ["2.2.1"]),  # guidance, every word
        ({"q": "in place? 2.1."}, ["2.1.1", "2.1.2"]),  # the question and the ref
        ({"q": "nothing-like-this"}, []),
    ],
)
def test_each_filter(personas, world, params, expected):
    a, _ = world
    resp = _get(personas, a, **params)
    assert resp.status_code == 200
    assert _refs(resp) == expected


def test_owner_filter_and_pending_review(personas, world):
    a, _ = world
    resp = _get(personas, a, owner=str(personas.admin.pk))
    assert _refs(resp) == ["1.1.2"]
    pending = _refs(_get(personas, a, review="pending"))
    assert "1.1.1" not in pending and "1.1.2" in pending


def test_a_review_voided_by_a_later_save_is_pending_again(personas, world):
    a, rs = world
    _answer(rs["1.1.1"], personas.risk_owner, "largely", owner=personas.risk_owner)
    assert _refs(_get(personas, a, review="rejected")) == []
    assert "1.1.1" in _refs(_get(personas, a, review="pending"))


@pytest.mark.parametrize(
    "params",
    [
        {"status": "bogus"},
        {"owner": "999999999999999999999"},
        {"review": "<script>"},
        {"owner": "x"},
        {"q": "\x00"},  # PostgreSQL refuses NUL in text: a form error, not a 500
    ],
)
def test_bad_values_are_named_and_list_nothing(personas, world, params):
    a, _ = world
    resp = _get(personas, a, **params)
    assert resp.status_code == 400
    html = resp.content.decode()
    assert "field-error" in html and "correct the filter" in html
    assert _refs(resp) == []


def test_stranger_owner_is_not_a_choice(personas, world):
    a, _ = world
    assert _get(personas, a, owner=str(personas.stranger.pk)).status_code == 400


@pytest.mark.parametrize("q", ["'", "%", "_", "&", "|", "!", "x" * 600, "%_'&|!\\"])
def test_special_and_long_text_is_searched_literally(personas, world, q):
    a, _ = world
    resp = _get(personas, a, q=q)
    assert resp.status_code == 200
    assert _refs(resp) == []


def test_htmx_gets_only_the_results(personas, world):
    a, _ = world
    c = personas.client(personas.risk_owner)
    url = reverse("assessment_controls", args=[a.pk])
    resp = c.get(url, {"status": "partial"}, headers={"HX-Request": "true"})
    html = resp.content.decode()
    assert html.lstrip().startswith('<div id="control-results"')
    assert "<html" not in html and _refs(resp) == ["1.1.2"]


def test_the_filter_is_offered_on_the_pillar_page_without_htmx(personas, world):
    a, _ = world
    c = personas.client(personas.auditor)
    html = c.get(reverse("questionnaire", args=[a.pk, "1"])).content.decode()
    assert f'action="{reverse("assessment_controls", args=[a.pk])}"' in html
    assert 'hx-target="#control-results"' not in html  # nothing to swap on this page


def test_a_found_control_links_to_it_opened(personas, world):
    a, rs = world
    html = _get(personas, a, status="partial").content.decode()
    r = Response.objects.select_related("control__guideline__pillar").get(pk=rs["1.1.2"].pk)
    assert r.get_absolute_url().replace("?", "?").split("#")[0] in html.replace("&amp;", "&")


def test_every_role_may_filter_a_stranger_may_not(personas, world):
    a, _ = world
    url = reverse("assessment_controls", args=[a.pk])
    for user in (personas.risk_owner, personas.auditor, personas.manager, personas.admin):
        assert personas.client(user).get(url, {"q": "x"}).status_code == 200
    assert personas.client(personas.stranger).get(url).status_code == 404


def test_query_count_is_constant(personas):
    small = make_assessment(actor=personas.risk_owner, team=personas.team)
    big = make_assessment(
        actor=personas.risk_owner,
        team=personas.team,
        version=make_framework_version(3, 3, 4),
    )
    c = personas.client(personas.risk_owner)
    counts = []
    for a in (small, big):
        url = reverse("assessment_controls", args=[a.pk])
        c.get(url)  # warm the per-process framework structure and the scores cache
        with CaptureQueriesContext(connection) as ctx:
            assert c.get(url, {"q": "place", "review": "pending"}).status_code == 200
        counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1], counts


def test_whole_page_and_fragment_are_told_apart_by_caches(personas, world):
    a, _ = world
    resp = _get(personas, a, status="full")
    assert "HX-Request" in resp["Vary"]
