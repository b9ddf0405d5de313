"""The search box on every page (assessments/search.py, views_find.py): controls, evidence
and AI systems of the current team, grouped by kind; full-text on PostgreSQL."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from assessments import services
from assessments.search import clean_query, search
from evidence import services as evidence_services
from tests.factories import AISystemFactory, make_assessment

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(personas):
    system = AISystemFactory(
        team=personas.team, name="Fraud scorer", description="Scores card payments."
    )
    a = make_assessment(actor=personas.risk_owner, ai_system=system)
    r = a.responses.select_related("control").get(control__ref="1.2.1")
    services.response_save(
        response=r,
        expected_version=r.version,
        actor=personas.risk_owner,
        status="partial",
        justification="Our supplier's model cards are reviewed yearly.",
        owner=None,
        due_date=None,
    )
    evidence_services.evidence_create(
        team=personas.team,
        actor=personas.risk_owner,
        kind="note",
        title="Supplier questionnaire",
        note="Suppliers answered the security questionnaire.",
    )
    # The same words in another team: never found from this one.
    other = AISystemFactory(team=personas.other_team, name="Fraud scorer (other)")
    make_assessment(actor=personas.stranger, ai_system=other)
    evidence_services.evidence_create(
        team=personas.other_team,
        actor=personas.stranger,
        kind="note",
        title="Supplier secret of Other Co",
        note="Suppliers",
    )
    return a


def _get(client, q, **extra):
    return client.get(reverse("search"), {"q": q, **extra})


def test_finds_each_kind_grouped_with_links(personas, world):
    c = personas.client(personas.risk_owner)
    html = _get(c, "supplier").content.decode()
    assert "Controls (1)" in html and "Evidence (1)" in html
    assert "Supplier questionnaire" in html
    assert "Other Co" not in html  # through the door: the current team only
    r = world.responses.select_related("control__guideline__pillar").get(control__ref="1.2.1")
    assert r.get_absolute_url().replace("&", "&amp;") in html
    html = _get(c, "fraud").content.decode()
    assert "AI systems (1)" in html and "Fraud scorer</a>" in html


@pytest.mark.skipif(connection.vendor != "postgresql", reason="stemming is PostgreSQL's")
def test_full_text_stems_words(personas, world):
    # "suppliers" and "supplier's" both stem to "supplier".
    res = search([personas.team.pk], "suppliers")
    assert res.controls.total == 1 and res.evidence.total == 1


def test_a_control_ref_prefix_finds_its_controls(personas, world):
    res = search([personas.team.pk], "2.1")
    assert {r.control.ref for r in res.controls.items} >= {"2.1.1", "2.1.2"}


def test_empty_query_finds_nothing_and_runs_no_search(personas, world):
    c = personas.client(personas.risk_owner)
    for q in ("", "   "):
        resp = _get(c, q)
        assert resp.status_code == 200
        assert "Type a word" in resp.content.decode()
    with CaptureQueriesContext(connection) as ctx:
        assert search([personas.team.pk], "").total == 0
    assert not ctx.captured_queries


@pytest.mark.parametrize(
    "q", ["'", "%", "_", "&", "|", "!", "a & | ! b", "'; drop table x; --", "x" * 600, "\x00"]
)
def test_special_and_long_queries_never_fail(personas, world, q):
    c = personas.client(personas.risk_owner)
    resp = _get(c, q)
    assert resp.status_code == 200
    res = search([personas.team.pk], q)
    # % and _ are literal characters, not wildcards: they match nothing here.
    assert res.evidence.total == 0 and res.systems.total == 0


def test_long_query_is_cut():
    assert len(clean_query("y" * 5000)) == 200
    assert clean_query(" a \n\t b\x00c ") == "a b c"


def test_every_role_searches_its_current_team(personas, world):
    for user in (personas.risk_owner, personas.auditor, personas.manager, personas.admin):
        resp = _get(personas.client(user), "supplier")
        assert resp.status_code == 200 and "Supplier questionnaire" in resp.content.decode()
    html = _get(personas.client(personas.stranger), "supplier").content.decode()
    assert "Supplier questionnaire" not in html and "Supplier secret of Other Co" in html


def test_header_has_the_search_box_on_every_page_of_a_member(personas, world):
    c = personas.client(personas.auditor)
    for name in ("home", "ai_system_list", "evidence_list", "my_work"):
        html = c.get(reverse(name)).content.decode()
        assert f'action="{reverse("search")}"' in html and 'id="site-search-q"' in html


def test_anonymous_is_sent_to_login(client):
    resp = _get(client, "x")
    assert resp.status_code == 302 and resp["Location"].startswith(reverse("login"))


def test_query_count_is_constant_in_data_size(personas, world):
    c = personas.client(personas.risk_owner)
    _get(c, "supplier")

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert _get(c, "place").status_code == 200
        return len(ctx.captured_queries)

    before = count()
    for _ in range(3):  # 3 more assessments: 24 more matching controls, over one page
        make_assessment(actor=personas.risk_owner, team=personas.team)
    assert count() == before
    assert search([personas.team.pk], "place", limit=5).controls.more > 0


def test_api_search(personas, world):
    c = personas.client(personas.risk_owner)
    resp = c.get("/api/v1/search/", {"q": "supplier"})
    assert resp.status_code == 200, resp.content
    body = resp.json()
    assert body["query"] == "supplier"
    assert [e["title"] for e in body["evidence"]["results"]] == ["Supplier questionnaire"]
    assert body["controls"]["count"] == 1
    assert body["controls"]["results"][0]["control"] == "1.2.1"
    assert body["controls"]["results"][0]["url"].startswith("/assessments/")
    assert c.get("/api/v1/search/", {"q": "'&|!%_"}).status_code == 200
    assert c.get("/api/v1/search/").json()["evidence"]["count"] == 0
    assert c.get("/api/v1/search/", {"team": "abc"}).status_code == 400
    # Another team's id: a 404, as the door answers for any object of another team.
    assert c.get("/api/v1/search/", {"q": "x", "team": personas.other_team.pk}).status_code == 404
