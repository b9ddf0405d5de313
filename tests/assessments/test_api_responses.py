"""API v1: responses (answers, stale versions, assignment), the stranger on every path, query
counts and the schema. Personas: risk owner / auditor / manager / admin of one team, and a
stranger (admin of another). The frameworks, AI systems and assessments are in
test_api_assessments.py."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from aigsec.audit.models import AuditEvent
from assessments import services
from assessments.models import (
    Control,
)
from tests.assessments.test_api_assessments import (
    API,
    SYSTEM_BODY,
    _unchanged,
    client_for,
    first_response,
    patch,
)
from tests.factories import (
    AISystemFactory,
    UserFactory,
    make_assessment,
    make_final,
    make_framework_version,
)

# --- Responses ----------------------------------------------------------------------------


def test_response_list_filters_and_shape(personas, assessment):
    first, second = list(assessment.responses.select_related("control").order_by("control__order"))[
        :2
    ]
    services.response_save(
        response=first,
        expected_version=1,
        actor=personas.risk_owner,
        status="full",
        justification="",
        owner=personas.risk_owner,
    )
    client = client_for(personas.auditor)
    url = f"{API}/assessments/{assessment.pk}/responses/"

    data = client.get(url).json()
    assert data["count"] == 8 and data["next"] is None
    assert [r["control"]["ref"] for r in data["results"][:3]] == ["1.1.1", "1.1.2", "1.2.1"]
    assert data["results"][0] == {
        "id": first.pk,
        "control": {"ref": "1.1.1", "title": "Control 1.1.1", "question": "Is 1.1.1 in place?"},
        "status": "full",
        "justification": "",
        "owner": personas.risk_owner.pk,
        "due_date": None,
        "version": 2,
    }

    def refs(query: str) -> list[str]:
        return [r["control"]["ref"] for r in client.get(url + query).json()["results"]]

    assert refs("?status=full") == ["1.1.1"]
    assert refs(f"?owner={personas.risk_owner.pk}") == ["1.1.1"]
    assert refs("?guideline=2.1") == ["2.1.1", "2.1.2"]
    assert refs("?status=not_started&guideline=1.1") == ["1.1.2"]
    assert client.get(url + "?status=maybe").status_code == 400
    assert client.get(url + "?owner=me").status_code == 400
    assert client.get(f"{API}/responses/{second.pk}/").json()["version"] == 1


def test_patch_happy_path_increments_version_and_audits(personas, assessment):
    resp = first_response(assessment)
    r = patch(
        personas.risk_owner,
        resp,
        {
            "version": 1,
            "status": "partial",
            "justification": "MFA on admin only.",
            "owner": personas.risk_owner.pk,
            "due_date": "2030-01-31",
        },
    )
    assert r.status_code == 200, r.content
    data = r.json()
    assert data["version"] == 2
    assert (data["status"], data["justification"]) == ("partial", "MFA on admin only.")
    assert (data["owner"], data["due_date"]) == (personas.risk_owner.pk, "2030-01-31")

    resp.refresh_from_db()
    assert (resp.version, resp.status, resp.updated_by_id) == (2, "partial", personas.risk_owner.pk)
    assert resp.due_date == dt.date(2030, 1, 31)
    event = AuditEvent.objects.get(action="response.answered", target=f"response:{resp.pk}")
    assert event.data == {"control": "1.1.1", "old": "not_started", "new": "partial"}
    assert event.actor == personas.risk_owner.pk and event.team == personas.team.pk
    assert AuditEvent.objects.filter(action="response.owner_assigned").count() == 1

    # Only the justification: the status stays; owner and due date are left alone.
    r = patch(personas.admin, resp, {"version": 2, "justification": "MFA everywhere but CI."})
    assert r.status_code == 200, r.content
    assert (r.json()["status"], r.json()["version"], r.json()["owner"]) == (
        "partial",
        3,
        personas.risk_owner.pk,
    )
    # Clearing owner and due date.
    r = patch(personas.admin, resp, {"version": 3, "owner": None, "due_date": None})
    assert r.status_code == 200
    assert (r.json()["owner"], r.json()["due_date"], r.json()["version"]) == (None, None, 4)


def test_patch_read_only_fields_are_ignored(personas, assessment):
    resp = first_response(assessment)
    original_control = resp.control_id
    other_control = Control.objects.exclude(pk=resp.control_id).first()
    r = patch(
        personas.risk_owner,
        resp,
        {"version": 1, "status": "full", "id": 999999, "control": other_control.pk},
    )
    assert r.status_code == 200
    assert (r.json()["id"], r.json()["control"]["ref"], r.json()["version"]) == (
        resp.pk,
        "1.1.1",
        2,
    )
    resp.refresh_from_db()
    assert (resp.control_id, resp.version) == (original_control, 2)


def test_patch_stale_version_is_409_with_current(personas, assessment):
    resp = first_response(assessment)
    assert patch(personas.admin, resp, {"version": 1, "status": "full"}).status_code == 200
    resp.refresh_from_db()
    events = AuditEvent.objects.count()

    r = patch(personas.risk_owner, resp, {"version": 1, "status": "not_implemented"})
    assert r.status_code == 409
    body = r.json()
    assert "changed by someone else" in body["detail"]
    assert body["current"]["status"] == "full" and body["current"]["version"] == 2
    assert body["current"]["control"]["ref"] == "1.1.1"
    _unchanged(resp)
    assert AuditEvent.objects.count() == events


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"status": "full"}, "version"),  # missing version
        ({"version": "two", "status": "full"}, "version"),
        ({"version": 1, "status": "done"}, "status"),  # unknown status
        ({"version": 1, "status": "not_applicable"}, "justification"),
        ({"version": 1, "status": "partial", "justification": "   "}, "justification"),
        ({"version": 1, "due_date": "31/01/2030"}, "due_date"),
        ({"version": 1, "owner": "bob"}, "owner"),
    ],
)
def test_patch_invalid_input_is_400_per_field(personas, assessment, body, field):
    resp = first_response(assessment)
    r = patch(personas.risk_owner, resp, body)
    assert r.status_code == 400, r.content
    assert field in r.json()
    _unchanged(resp)


def test_patch_owner_must_be_a_risk_owner_of_the_team(personas, assessment):
    resp = first_response(assessment)
    r = patch(personas.risk_owner, resp, {"version": 1, "owner": personas.stranger.pk})
    assert r.status_code == 400 and "owner" in r.json()
    r = patch(personas.risk_owner, resp, {"version": 1, "owner": UserFactory().pk})
    assert r.status_code == 400 and "owner" in r.json()
    r = patch(personas.risk_owner, resp, {"version": 1, "owner": personas.auditor.pk})
    assert r.status_code == 400 and "risk owner" in r.json()["owner"][0]
    _unchanged(resp)


def test_patch_locked_assessment_is_409(personas, assessment):
    make_final(assessment, personas)
    resp = first_response(assessment)
    r = patch(personas.risk_owner, resp, {"version": resp.version, "status": "partial"})
    assert r.status_code == 409
    assert "final and locked" in r.json()["detail"]
    assert "current" not in r.json()
    _unchanged(resp)


@pytest.mark.parametrize("persona", ["auditor", "manager"])
def test_patch_by_auditor_or_manager_is_403(personas, assessment, persona):
    resp = first_response(assessment)
    r = patch(getattr(personas, persona), resp, {"version": 1, "status": "full"})
    assert r.status_code == 403
    _unchanged(resp)
    assert AuditEvent.objects.filter(action="access.denied", target=f"response:{resp.pk}")


def test_response_has_no_put_or_delete(personas, assessment):
    resp = first_response(assessment)
    client = client_for(personas.admin)
    url = f"{API}/responses/{resp.pk}/"
    assert client.put(url, {"version": 1, "status": "full"}, format="json").status_code == 405
    assert client.delete(url).status_code == 405
    assert client.get(f"{API}/responses/").status_code == 404


# --- The stranger -------------------------------------------------------------------------


def test_stranger_gets_404_everywhere_and_sees_nothing(personas, assessment, system):
    resp = first_response(assessment)
    client = client_for(personas.stranger)
    body = {"version": 1, "status": "full"}
    calls = [
        ("get", f"/ai-systems/{system.pk}/", None),
        ("patch", f"/ai-systems/{system.pk}/", {"deployment": "mine now"}),
        ("put", f"/ai-systems/{system.pk}/", SYSTEM_BODY),
        ("delete", f"/ai-systems/{system.pk}/", None),
        ("get", f"/assessments/{assessment.pk}/", None),
        ("get", f"/assessments/{assessment.pk}/responses/", None),
        ("post", f"/assessments/{assessment.pk}/status/", {"status": "in_progress"}),
        ("get", f"/responses/{resp.pk}/", None),
        ("patch", f"/responses/{resp.pk}/", body),
        ("post", "/assessments/", {"ai_system": system.pk}),
    ]
    for method, url, data in calls:
        r = getattr(client, method)(API + url, data, format="json")
        assert r.status_code == 404, (method, url, r.status_code, r.content)

    # Their own AI system cannot start from our assessment either.
    own = AISystemFactory(team=personas.other_team)
    r = client.post(
        f"{API}/assessments/", {"ai_system": own.pk, "based_on": assessment.pk}, format="json"
    )
    assert r.status_code == 404

    listed = client.get(f"{API}/ai-systems/").json()["results"]
    assert [s["id"] for s in listed] == [own.pk]
    assert client.get(f"{API}/assessments/").json()["count"] == 0
    system.refresh_from_db()
    assessment.refresh_from_db()
    assert (system.deployment, system.status) == ("Test cluster", "development")
    assert assessment.status == "draft"
    _unchanged(resp)


# --- Query counts -------------------------------------------------------------------------


def _grow(personas, version, n: int) -> None:
    """n more AI systems of the team, each with one assessment."""
    for _ in range(n):
        system = AISystemFactory(team=personas.team)
        make_assessment(ai_system=system, version=version, actor=personas.admin)


def _count(user, url: str) -> tuple[int, int]:
    """(queries run, rows counted) for one GET of a list endpoint."""
    client = client_for(user)
    with CaptureQueriesContext(connection) as ctx:
        r = client.get(url)
    assert r.status_code == 200, r.content
    return len(ctx.captured_queries), r.json()["count"]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        # memberships (scope), COUNT(*), page of AI systems
        (f"{API}/ai-systems/", 3),
        # memberships (scope), COUNT(*), page of assessments
        (f"{API}/assessments/", 3),
    ],
)
def test_list_query_counts_do_not_grow(personas, django_assert_num_queries, url, expected):
    version = make_framework_version()
    _grow(personas, version, 1)
    assert _count(personas.auditor, url) == (expected, 1)

    _grow(personas, version, 19)
    client = client_for(personas.auditor)
    with django_assert_num_queries(expected):
        r = client.get(url)
    assert r.json()["count"] == 20


def test_response_list_query_count_does_not_grow(personas, django_assert_num_queries):
    system = AISystemFactory(team=personas.team)
    one = make_assessment(
        ai_system=system, version=make_framework_version(1, 1, 1), actor=personas.admin
    )
    twenty = make_assessment(
        ai_system=system, version=make_framework_version(2, 2, 5), actor=personas.admin
    )
    for r in twenty.responses.all()[:10]:  # owners and due dates must not cost queries either
        services.response_save(
            response=r,
            expected_version=1,
            actor=personas.admin,
            status="full",
            justification="",
            owner=personas.risk_owner,
            due_date=dt.date(2030, 1, 1),
        )
    url = f"{API}/assessments/{{}}/responses/"
    assert _count(personas.auditor, url.format(one.pk)) == (4, 1)

    client = client_for(personas.auditor)
    # assessment (door), memberships (door), COUNT(*), page of responses JOIN controls
    with django_assert_num_queries(4):
        r = client.get(url.format(twenty.pk))
    assert r.json()["count"] == 20


def test_detail_query_counts_are_fixed(personas, assessment, django_assert_num_queries):
    resp = first_response(assessment)
    client = client_for(personas.auditor)
    # assessment (door), memberships (door), score tallies, pillars, guidelines
    with django_assert_num_queries(5):
        assert client.get(f"{API}/assessments/{assessment.pk}/").status_code == 200
    client = client_for(personas.auditor)
    # response JOIN control (door), memberships (door)
    with django_assert_num_queries(2):
        assert client.get(f"{API}/responses/{resp.pk}/").status_code == 200


# --- Schema -------------------------------------------------------------------------------


def test_schema_includes_these_endpoints(personas):
    r = client_for(personas.auditor).get(f"{API}/schema/", HTTP_ACCEPT="application/json")
    assert r.status_code == 200
    paths = r.json()["paths"]
    for p in (
        "/api/v1/frameworks/",
        "/api/v1/frameworks/{id}/",
        "/api/v1/ai-systems/",
        "/api/v1/ai-systems/{id}/",
        "/api/v1/assessments/",
        "/api/v1/assessments/{id}/",
        "/api/v1/assessments/{id}/status/",
        "/api/v1/assessments/{id}/responses/",
        "/api/v1/responses/{id}/",
    ):
        assert p in paths, p
    assert "patch" in paths["/api/v1/responses/{id}/"]
    assert "409" in paths["/api/v1/responses/{id}/"]["patch"]["responses"]


def test_odd_input_is_a_clean_4xx(personas, assessment, system):
    client = client_for(personas.admin)
    huge = 10**30
    assert client.get(f"{API}/ai-systems/{huge}/").status_code == 404
    assert client.get(f"{API}/assessments/?ai_system={huge}").json()["count"] == 0
    assert client.post(f"{API}/ai-systems/", [SYSTEM_BODY], format="json").status_code == 400
    for team in (huge, -1, True, "x"):
        r = client.post(f"{API}/ai-systems/", {**SYSTEM_BODY, "team": team}, format="json")
        assert r.status_code == 400 and "team" in r.json()
    resp = first_response(assessment)
    r = patch(personas.admin, resp, {"version": huge, "status": "full"})
    assert r.status_code == 409
    _unchanged(resp)
