"""Id filters in API query strings (`?assessment=42`) and the API's 409: one parser and one
exception for every app (aigsec.core.api), so each endpoint answers bad input the same way.

An id is ASCII digits: anything else is a 400 naming the parameter, never a 500 (str.isdigit()
accepts "²", which int() refuses) and never a silently ignored filter (int() accepts "-1",
" 1" and "1_0"). A number past the bigint range is a valid filter that matches nothing.
The pages' own numbers in query strings (`?page=`, `?revision=`) take no "²" for a digit
either.
"""

from __future__ import annotations

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from aigsec.accounts.models import User
from aigsec.core import api as core_api
from aigsec.core.api import ID_REQUIRED
from assessments import api as assessments_api
from evidence import api as evidence_api
from reports import api as reports_api
from reports.services import report_request, report_run
from reviews import api as api_reviews
from tests.factories import make_report_world

pytestmark = pytest.mark.django_db

API = "/api/v1"
BAD = ["x", "-1", "+1", " 1", "1 ", "1_0", "1.0", "0x1", "²", "١٢", "1e3", "%00"]
# Past the bigint range: 19 digits, 31 digits, and more than int() reads by default (4300).
HUGE = ["9" * 19, str(10**30), "9" * 5000]


@pytest.fixture
def world(personas):
    w = make_report_world(personas, bundled=False)
    report = report_run(report_request(assessment=w.assessment, actor=personas.manager)[0].pk)
    w.report = report
    return w


def _client(user: User) -> APIClient:
    c = APIClient()
    c.force_authenticate(user=User.objects.get(pk=user.pk))
    return c


def _lists(world, personas) -> list[tuple[str, str, int]]:
    """(list URL, id parameter, an id that matches at least one row)."""
    a, item = world.assessment, world.items[0]
    full = a.responses.order_by("control__order").first()
    return [
        (f"{API}/evidence/", "assessment", a.pk),
        (f"{API}/evidence/", "response", full.pk),
        (f"{API}/reviews/", "evidence", item.pk),
        (f"{API}/reviews/", "response", full.pk),
        (f"{API}/assessments/", "ai_system", a.ai_system_id),
        (f"{API}/assessments/{a.pk}/responses/", "owner", personas.risk_owner.pk),
        (f"{API}/reports/", "assessment", a.pk),
    ]


def test_a_malformed_id_is_a_400_naming_the_parameter(personas, world):
    client = _client(personas.admin)
    targets = [*_lists(world, personas)]
    targets.append((f"{API}/evidence/{world.items[0].pk}/download/", "revision", 1))
    for url, name, _good in targets:
        for value in BAD:
            resp = client.get(url, {name: value})
            assert resp.status_code == 400, (url, name, value, resp.status_code)
            assert resp.json() == {name: [ID_REQUIRED]}, (url, name, value)


def test_an_id_past_the_bigint_range_matches_nothing(personas, world):
    client = _client(personas.admin)
    for url, name, _good in _lists(world, personas):
        for value in HUGE:
            resp = client.get(url, {name: value})
            assert resp.status_code == 200, (url, name, value[:20], resp.status_code)
            assert resp.json()["count"] == 0, (url, name, value[:20])
    download = f"{API}/evidence/{world.items[0].pk}/download/"
    for value in HUGE:
        assert client.get(download, {"revision": value}).status_code == 404


def test_a_well_formed_id_filters(personas, world):
    client = _client(personas.admin)
    for url, name, good in _lists(world, personas):
        everything = client.get(url).json()["count"]
        assert client.get(url, {name: good}).json()["count"] >= 1, (url, name)
        assert client.get(url, {name: f"00{good}"}).json()["count"] >= 1, (url, name)
        assert client.get(url, {name: "0"}).json()["count"] == 0, (url, name)
        # An empty value is no filter at all.
        assert client.get(url, {name: ""}).json()["count"] == everything, (url, name)
    item = world.items[0]
    resp = client.get(f"{API}/evidence/{item.pk}/download/", {"revision": "1"})
    assert resp.status_code == 200
    b"".join(resp.streaming_content)
    assert client.get(f"{API}/evidence/{item.pk}/download/", {"revision": "2"}).status_code == 404


def test_every_api_answers_409_with_one_exception():
    assert (
        evidence_api.Conflict
        is api_reviews.Conflict
        is assessments_api.Conflict
        is reports_api.Conflict
        is core_api.Conflict
    )
    assert core_api.Conflict.status_code == 409
    assert str(core_api.Conflict("The assessment is final.").detail) == "The assessment is final."


def test_pages_refuse_digits_int_cannot_read_without_a_500(personas, world):
    auditor = personas.client(personas.auditor)
    item = world.items[0]
    for value in ("²", "١٢"):
        for name, query in (
            ("evidence_list", {"page": value}),
            ("review_queue", {"page": value}),
            ("review_queue", {"assessment": value}),
        ):
            resp = auditor.get(reverse(name), query)
            assert resp.status_code == 200, (name, query, resp.status_code)
        download = reverse("evidence_download", args=[item.pk])
        assert auditor.get(download, {"revision": value}).status_code == 404
