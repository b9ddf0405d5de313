"""Verified scores: only accepted responses backed by accepted, live, unexpired evidence keep
their value (docs/scoring.md)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from assessments import scoring, services
from assessments.models import Assessment, Response
from evidence.services import evidence_create, evidence_withdraw
from reviews.services import review_create
from tests.factories import make_assessment, make_framework_version

pytestmark = pytest.mark.django_db
API = "/api/v1"


@pytest.fixture
def assessment(personas) -> Assessment:
    return make_assessment(
        team=personas.team, actor=personas.risk_owner, version=make_framework_version(2, 2, 2)
    )


def _resp(a: Assessment, ref: str) -> Response:
    return a.responses.get(control__ref=ref)


def _answer(personas, r: Response, status: str = "full") -> Response:
    r.refresh_from_db()
    return services.response_save(
        response=r,
        expected_version=r.version,
        actor=personas.risk_owner,
        status=status,
        justification="because",
    )


def _evidence(personas, r: Response, *, valid_until=None, decision="accepted"):
    item = evidence_create(
        team=personas.team,
        actor=personas.risk_owner,
        kind="note",
        title=f"Note for {r.pk}",
        note="n",
        responses=[r],
        collected_on=timezone.localdate() - dt.timedelta(days=30),
        valid_until=valid_until,
    )
    if decision:
        review_create(
            reviewer=personas.auditor,
            decision=decision,
            comment="" if decision == "accepted" else "not enough",
            evidence=item,
        )
    return item


def _accept(personas, r: Response) -> None:
    review_create(reviewer=personas.auditor, decision="accepted", comment="", response=r)


def _verified(a: Assessment) -> float | None:
    return scoring.assessment_scores(a).verified_overall


def test_accepted_response_with_accepted_unexpired_evidence_counts(personas, assessment):
    r = _answer(personas, _resp(assessment, "1.1.1"))
    _evidence(personas, r, valid_until=timezone.localdate())  # expires today: still valid
    assert _verified(assessment) == 0.0  # response not reviewed yet
    _accept(personas, r)
    scores = scoring.assessment_scores(assessment)
    assert scores.overall == scores.verified_overall == 12.5  # 1 of 8 equal weights


def test_only_rejected_evidence_does_not_count(personas, assessment):
    r = _answer(personas, _resp(assessment, "1.1.1"))
    _evidence(personas, r, decision="rejected")
    _evidence(personas, r, decision=None)  # pending evidence does not count either
    _accept(personas, r)
    assert scoring.assessment_scores(assessment).overall == 12.5
    assert _verified(assessment) == 0.0


def test_accepted_but_expired_evidence_does_not_count(personas, assessment):
    r = _answer(personas, _resp(assessment, "1.1.1"))
    _evidence(personas, r, valid_until=timezone.localdate() - dt.timedelta(days=1))
    _accept(personas, r)
    assert _verified(assessment) == 0.0


def test_response_changed_after_acceptance_no_longer_counts(personas, assessment):
    r = _answer(personas, _resp(assessment, "1.1.1"))
    _evidence(personas, r)
    _accept(personas, r)
    assert _verified(assessment) == 12.5
    _answer(personas, r, "partial")
    assert _verified(assessment) == 0.0
    _accept(personas, _resp(assessment, "1.1.1"))  # re-accepted: counts again, at its new value
    assert _verified(assessment) == pytest.approx(4.2)


def test_evidence_rejected_after_acceptance_no_longer_counts(personas, assessment):
    r = _answer(personas, _resp(assessment, "1.1.1"))
    item = _evidence(personas, r)
    _accept(personas, r)
    review_create(reviewer=personas.auditor, decision="rejected", comment="fake", evidence=item)
    assert _verified(assessment) == 0.0


def test_withdrawn_evidence_does_not_count(personas, assessment):
    r = _answer(personas, _resp(assessment, "1.1.1"))
    item = _evidence(personas, r)
    _accept(personas, r)
    assert _verified(assessment) == 12.5
    evidence_withdraw(item=item, actor=personas.risk_owner, reason="wrong file")
    assert _verified(assessment) == 0.0


def test_exact_weighted_example_overall_and_pillar(personas, assessment):
    # weight, status, verified?
    plan = {
        "1.1.1": (2, "full", True),  # 2 * 1, verified
        "1.1.2": (1, "partial", False),  # 1 * ⅓, not verified → 0
        "1.2.1": (1, "largely", True),  # 1 * ⅔, verified
        "1.2.2": (3, "not_applicable", True),  # excluded even when accepted
        "2.1.1": (1, "not_implemented", True),  # 1 * 0
        "2.1.2": (2, "full", False),  # 2 * 1, not verified → 0
        "2.2.1": (1, "not_started", False),  # 1 * 0
        "2.2.2": (1, "largely", True),  # 1 * ⅔, verified
    }
    for ref, (weight, status, verified) in plan.items():
        r = _resp(assessment, ref)
        type(r.control).objects.filter(pk=r.control_id).update(weight=weight)
        if status != "not_started":
            r = _answer(personas, r, status)
        if verified:
            _evidence(personas, r)
            _accept(personas, r)
    s = scoring.assessment_scores(assessment)
    # Self-assessed: pillar 1 = 3 / 4 = 75.0; overall = 5.667 / 9 = 63.0.
    # Verified: pillar 1 = (2 + ⅔) / 4 = 66.7; pillar 2 = ⅔ / 5 = 13.3;
    # overall = (2 + ⅔ + ⅔) / 9 = 37.0.
    assert (s.overall, s.verified_overall) == (63.0, 37.0)
    pillars = {p["ref"]: (p["score"], p["verified"]) for p in s.pillars}
    assert pillars == {"1": (75.0, 66.7), "2": (53.3, 13.3)}
    guidelines = {g["ref"]: g["verified"] for g in s.guidelines}
    assert guidelines == {"1.1": 66.7, "1.2": 66.7, "2.1": 0.0, "2.2": 33.3}


def test_all_not_applicable_verified_is_none(personas):
    a = make_assessment(
        team=personas.team, actor=personas.risk_owner, version=make_framework_version(1, 1, 1)
    )
    r = _answer(personas, a.responses.get(), "not_applicable")
    _evidence(personas, r)
    _accept(personas, r)
    s = scoring.assessment_scores(a)
    assert s.overall is None and s.verified_overall is None


def test_api_detail_includes_verified(personas, assessment):
    r = _answer(personas, _resp(assessment, "1.1.1"))
    _evidence(personas, r)
    _accept(personas, r)
    c = personas.client(personas.auditor)
    resp = c.get(f"{API}/assessments/{assessment.pk}/")
    assert resp.status_code == 200
    scores = resp.json()["scores"]
    assert scores["overall"] == scores["verified"] == 12.5
    assert [p["verified"] for p in scores["pillars"]] == [25.0, 0.0]
    assert {g["ref"]: g["verified"] for g in scores["guidelines"]}["1.1"] == 50.0


def test_pages_show_self_assessed_and_verified(personas, assessment):
    r = _answer(personas, _resp(assessment, "1.1.1"))
    _evidence(personas, r)
    c = personas.client(personas.risk_owner)
    html = c.get(reverse("assessment_detail", args=[assessment.pk])).content.decode()
    assert "Self-assessed 12.5 · Verified 0.0" in html
    home = c.get(reverse("home")).content.decode()
    assert "Self-assessed" in home and "Verified" in home


def _scores_queries(assessments: list[Assessment], cached: bool = False) -> int:
    with CaptureQueriesContext(connection) as ctx:
        scoring.scores_for_assessments(assessments, cached=cached)
    return len(ctx.captured_queries)


def test_query_count_is_the_same_for_1_and_10_assessments(personas):
    version = make_framework_version(2, 2, 2)
    many = []
    for _ in range(10):
        a = make_assessment(team=personas.team, actor=personas.risk_owner, version=version)
        for r in list(a.responses.all())[:2]:
            r = _answer(personas, r)
            _evidence(personas, r)
            _accept(personas, r)
        many.append(a)
    scoring.framework_structure.cache_clear()
    cold = _scores_queries(many[:1])  # tallies (verification included), pillars, guidelines
    one = _scores_queries(many[:1])
    ten = _scores_queries(many)
    assert cold == 3 and one == ten == 1  # the framework's structure is cached per process
    # Through the team cache: the first call computes, the next ones read the cache only.
    assert _scores_queries(many, cached=True) == 1
    assert _scores_queries(many, cached=True) == 0
    assert scoring.scores_for_assessments(many)[many[-1].pk].verified_overall == 25.0
