"""API v1: frameworks, AI systems, assessments, responses.

Personas: risk owner / auditor / manager / admin of one team, and a stranger (admin of another).
Each endpoint is checked for the stranger (404, never listed), role refusals (403), and the
list endpoints for a query count that does not grow with the number of rows.
"""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from aigsec.accounts.models import Role, User
from aigsec.accounts.services import api_token_create
from aigsec.audit.models import AuditEvent
from assessments import services
from assessments.api import DEFAULT_FRAMEWORK_SLUG
from assessments.models import (
    AISystem,
    Assessment,
    AssessmentStatus,
    Control,
    Framework,
    Response,
    SystemStatus,
)
from tests.factories import (
    AISystemFactory,
    MembershipFactory,
    TeamFactory,
    make_assessment,
    make_final,
    make_framework_version,
)

API = "/api/v1"


def client_for(user: User | None) -> APIClient:
    client = APIClient()
    if user is not None:
        # A fresh instance per client, as a real request would load (no cached roles).
        client.force_authenticate(user=User.objects.get(pk=user.pk))
    return client


def first_response(assessment: Assessment) -> Response:
    return assessment.responses.select_related("control").order_by("control__order").first()


def patch(user, response: Response, body: dict):
    return client_for(user).patch(f"{API}/responses/{response.pk}/", body, format="json")


def _unchanged(resp: Response) -> None:
    before = (resp.status, resp.justification, resp.version, resp.owner_id, resp.due_date)
    resp.refresh_from_db()
    assert (resp.status, resp.justification, resp.version, resp.owner_id, resp.due_date) == before


# --- Authentication -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("get", "/frameworks/"),
        ("get", "/ai-systems/"),
        ("post", "/ai-systems/"),
        ("get", "/assessments/"),
        ("post", "/assessments/"),
        ("get", "/ai-systems/{system}/"),
        ("patch", "/ai-systems/{system}/"),
        ("delete", "/ai-systems/{system}/"),
        ("get", "/assessments/{assessment}/"),
        ("post", "/assessments/{assessment}/status/"),
        ("get", "/assessments/{assessment}/responses/"),
        ("get", "/responses/{response}/"),
        ("patch", "/responses/{response}/"),
    ],
)
def test_unauthenticated_is_refused(assessment, system, method, url):
    resp = first_response(assessment)
    url = url.format(system=system.pk, assessment=assessment.pk, response=resp.pk)
    r = getattr(APIClient(), method)(API + url, {"version": 1, "status": "full"}, format="json")
    assert r.status_code == 401
    assert r["WWW-Authenticate"] == "Bearer"
    _unchanged(resp)
    system.refresh_from_db()
    assert system.status == SystemStatus.DEVELOPMENT


def test_real_bearer_token_reads_and_writes(personas, assessment):
    _, secret = api_token_create(user=personas.risk_owner, name="ci")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    resp = first_response(assessment)

    assert client.get(f"{API}/assessments/").json()["count"] == 1
    r = client.patch(f"{API}/responses/{resp.pk}/", {"version": 1, "status": "full"}, format="json")
    assert r.status_code == 200, r.content
    assert r.json()["version"] == 2


def test_read_only_token_reads_but_cannot_patch(personas, assessment):
    _, secret = api_token_create(user=personas.risk_owner, name="dashboards", read_only=True)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    resp = first_response(assessment)

    assert client.get(f"{API}/responses/{resp.pk}/").status_code == 200
    r = client.patch(f"{API}/responses/{resp.pk}/", {"version": 1, "status": "full"}, format="json")
    assert r.status_code == 403
    resp.refresh_from_db()
    assert (resp.status, resp.version) == ("not_started", 1)


def test_bad_bearer_token_is_401(db):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")
    assert client.get(f"{API}/ai-systems/").status_code == 401


# --- Frameworks ---------------------------------------------------------------------------


def test_framework_list_shows_bundled_and_own_team_only(personas):
    bundled = make_framework_version(slug="bundled-fw").framework
    ours = make_framework_version(slug="ours", owner_team=personas.team).framework
    theirs = make_framework_version(slug="theirs", owner_team=personas.other_team).framework

    data = client_for(personas.auditor).get(f"{API}/frameworks/").json()
    ids = {f["id"] for f in data["results"]}
    assert {bundled.pk, ours.pk} <= ids
    assert theirs.pk not in ids

    assert client_for(personas.auditor).get(f"{API}/frameworks/{theirs.pk}/").status_code == 404
    assert client_for(personas.stranger).get(f"{API}/frameworks/{ours.pk}/").status_code == 404
    assert client_for(personas.stranger).get(f"{API}/frameworks/{bundled.pk}/").status_code == 200


def test_framework_detail_nests_latest_version(personas):
    v1 = make_framework_version(slug="nested")
    v2 = make_framework_version(2, 2, 3, slug="nested")
    r = client_for(personas.risk_owner).get(f"{API}/frameworks/{v1.framework_id}/")
    assert r.status_code == 200
    data = r.json()
    assert [v["number"] for v in data["versions"]] == [2, 1]
    assert set(data["versions"][0]) == {"id", "number", "sha256", "published", "loaded_at"}
    latest = data["latest_version"]
    assert latest["id"] == v2.pk
    assert [p["ref"] for p in latest["pillars"]] == ["1", "2"]
    assert [g["ref"] for g in latest["pillars"][0]["guidelines"]] == ["1.1", "1.2"]
    control = latest["pillars"][0]["guidelines"][0]["controls"][2]
    assert control == {
        "ref": "1.1.3",
        "title": "Control 1.1.3",
        "question": "Is 1.1.3 in place?",
        "guidance_good": "Good 1.1.3",
        "guidance_partial": "Partial 1.1.3",
        "typical_evidence": ["Evidence for 1.1.3"],
        "responsibility": "shared",
        "weight": 1,
    }


def test_framework_list_query_count_is_constant(personas, django_assert_num_queries):
    make_framework_version(slug="one")
    client = client_for(personas.risk_owner)
    # memberships (scope), COUNT(*), page of frameworks, their versions (prefetch)
    with django_assert_num_queries(4):
        assert client.get(f"{API}/frameworks/").status_code == 200
    for i in range(9):
        make_framework_version(slug=f"more-{i}", owner_team=personas.team)
    client = client_for(personas.risk_owner)
    with django_assert_num_queries(4):
        data = client.get(f"{API}/frameworks/").json()
    assert len(data["results"]) >= 10


def test_framework_detail_query_count_is_constant(personas, django_assert_num_queries):
    small = make_framework_version(1, 1, 1, slug="small")
    big = make_framework_version(4, 4, 4, slug="big")
    for fw in (small.framework, big.framework):
        client = client_for(personas.risk_owner)
        # memberships (scope), framework, versions, pillars, guidelines, controls
        with django_assert_num_queries(6):
            assert client.get(f"{API}/frameworks/{fw.pk}/").status_code == 200


# --- AI systems ---------------------------------------------------------------------------

SYSTEM_BODY = {
    "name": "Chat assistant",
    "description": "Customer support bot.",
    "business_owner": "Head of Support",
    "criticality": "high",
    "model_source": "external_api",
    "deployment": "AWS eu-west-2",
}


def test_ai_system_crud_and_archive(personas):
    client = client_for(personas.risk_owner)

    r = client.post(f"{API}/ai-systems/", SYSTEM_BODY, format="json")
    assert r.status_code == 201, r.content
    created = r.json()
    assert created["team"] == personas.team.pk  # the user's only team
    assert created["status"] == "development"
    assert set(created) == {
        "id", "team", "name", "description", "business_owner", "criticality",
        "model_source", "deployment", "status", "created_at", "updated_at",
    }  # fmt: skip
    url = f"{API}/ai-systems/{created['id']}/"

    assert client.get(url).json()["name"] == "Chat assistant"

    r = client.patch(url, {"criticality": "critical", "status": "production"}, format="json")
    assert r.status_code == 200, r.content
    assert (r.json()["criticality"], r.json()["status"]) == ("critical", "production")

    r = client.put(url, {**SYSTEM_BODY, "name": "Support assistant"}, format="json")
    assert r.status_code == 200, r.content
    assert r.json()["name"] == "Support assistant"

    r = client.delete(url)
    assert r.status_code == 204
    system = AISystem.objects.get(pk=created["id"])  # archived, never deleted
    assert system.status == SystemStatus.ARCHIVED
    assert AuditEvent.objects.filter(action="ai_system.archived", target=f"aisystem:{system.pk}")
    assert AuditEvent.objects.filter(action="ai_system.created", actor=personas.risk_owner.pk)


def test_ai_system_create_with_explicit_team(personas):
    second = TeamFactory()
    MembershipFactory(team=second, user=personas.risk_owner, role=Role.RISK_OWNER)
    client = client_for(personas.risk_owner)

    r = client.post(f"{API}/ai-systems/", SYSTEM_BODY, format="json")
    assert r.status_code == 400
    assert "team" in r.json()

    r = client.post(f"{API}/ai-systems/", {**SYSTEM_BODY, "team": second.pk}, format="json")
    assert r.status_code == 201
    assert r.json()["team"] == second.pk

    r = client.post(f"{API}/ai-systems/", {**SYSTEM_BODY, "team": "x"}, format="json")
    assert r.status_code == 400


def test_ai_system_create_in_another_team_is_404(personas):
    r = client_for(personas.risk_owner).post(
        f"{API}/ai-systems/", {**SYSTEM_BODY, "team": personas.other_team.pk}, format="json"
    )
    assert r.status_code == 404
    assert not AISystem.objects.filter(name=SYSTEM_BODY["name"]).exists()


def test_ai_system_duplicate_name_is_400_with_reason(personas, system):
    client = client_for(personas.manager)
    r = client.post(f"{API}/ai-systems/", {**SYSTEM_BODY, "name": system.name}, format="json")
    assert r.status_code == 400
    assert "already exists" in r.json()["name"][0]

    other = AISystemFactory(team=personas.team, name="Other")
    r = client.patch(f"{API}/ai-systems/{other.pk}/", {"name": system.name}, format="json")
    assert r.status_code == 400
    assert "name" in r.json()

    # The same name in another team is fine.
    r = client_for(personas.stranger).post(
        f"{API}/ai-systems/", {**SYSTEM_BODY, "name": system.name}, format="json"
    )
    assert r.status_code == 201


def test_ai_system_validation_errors_are_per_field(personas, system):
    client = client_for(personas.risk_owner)
    r = client.post(f"{API}/ai-systems/", {"name": "", "criticality": "huge"}, format="json")
    assert r.status_code == 400
    assert {"name", "criticality", "model_source"} <= set(r.json())

    r = client.patch(
        f"{API}/ai-systems/{system.pk}/", {"team": personas.other_team.pk}, format="json"
    )
    assert r.status_code == 400
    assert "team" in r.json()
    system.refresh_from_db()
    assert system.team_id == personas.team.pk


def test_ai_system_roles(personas, system):
    url = f"{API}/ai-systems/{system.pk}/"
    auditor = client_for(personas.auditor)
    assert auditor.get(url).status_code == 200
    assert auditor.patch(url, {"deployment": "x"}, format="json").status_code == 403
    assert auditor.delete(url).status_code == 403
    assert auditor.post(f"{API}/ai-systems/", SYSTEM_BODY, format="json").status_code == 403
    system.refresh_from_db()
    assert system.status != SystemStatus.ARCHIVED

    manager = client_for(personas.manager)
    assert manager.patch(url, {"deployment": "GCP"}, format="json").status_code == 200


def test_ai_system_whose_creator_was_deleted_can_still_be_archived(personas, system):
    system.created_by.delete()
    r = client_for(personas.admin).delete(f"{API}/ai-systems/{system.pk}/")
    assert r.status_code == 204, r.content


def test_ai_system_list_filter_and_pagination(personas):
    AISystemFactory(team=personas.team, name="A", status=SystemStatus.PRODUCTION)
    AISystemFactory(team=personas.team, name="B", status=SystemStatus.ARCHIVED)
    AISystemFactory(team=personas.other_team, name="C", status=SystemStatus.PRODUCTION)
    client = client_for(personas.auditor)

    data = client.get(f"{API}/ai-systems/").json()
    assert set(data) == {"count", "next", "previous", "results"}
    assert [s["name"] for s in data["results"]] == ["A", "B"]
    data = client.get(f"{API}/ai-systems/?status=production").json()
    assert [s["name"] for s in data["results"]] == ["A"]
    assert client.get(f"{API}/ai-systems/?status=bogus").status_code == 400


def test_ai_system_list_paginates_at_50(personas):
    AISystem.objects.bulk_create(
        AISystem(team=personas.team, name=f"S{i:02}", model_source="in_house") for i in range(55)
    )
    client = client_for(personas.risk_owner)
    page1 = client.get(f"{API}/ai-systems/").json()
    assert page1["count"] == 55 and len(page1["results"]) == 50
    assert page1["next"].endswith("/api/v1/ai-systems/?page=2")
    page2 = client.get(page1["next"]).json()
    assert len(page2["results"]) == 5 and page2["next"] is None


# --- Assessments --------------------------------------------------------------------------


def test_create_assessment_makes_one_response_per_control(personas, system, version):
    r = client_for(personas.risk_owner).post(
        f"{API}/assessments/",
        {"ai_system": system.pk, "framework_version": version.pk, "title": "Q3 review"},
        format="json",
    )
    assert r.status_code == 201, r.content
    data = r.json()
    assert data["title"] == "Q3 review"
    assert (data["team"], data["ai_system"], data["framework_version"]) == (
        personas.team.pk,
        system.pk,
        version.pk,
    )
    assert (data["status"], data["locked"], data["based_on"]) == ("draft", False, None)
    assessment = Assessment.objects.get(pk=data["id"])
    assert assessment.responses.count() == Control.objects.filter(version=version).count() == 8
    assert sorted(assessment.responses.values_list("control__ref", flat=True)) == sorted(
        Control.objects.filter(version=version).values_list("ref", flat=True)
    )
    assert data["scores"] == {
        "overall": 0.0,
        "verified": 0.0,
        "progress": 0,
        "pillars": [
            {"ref": "1", "title": "Pillar 1", "score": 0.0, "verified": 0.0, "progress": 0},
            {"ref": "2", "title": "Pillar 2", "score": 0.0, "verified": 0.0, "progress": 0},
        ],
        "guidelines": [
            {"ref": ref, "title": f"Guideline {ref}", "pillar_ref": ref[0], "score": 0.0,
             "verified": 0.0, "progress": 0}
            for ref in ("1.1", "1.2", "2.1", "2.2")
        ],
    }  # fmt: skip


def test_create_assessment_defaults_to_latest_bundled_framework(personas, system):
    make_framework_version(slug=DEFAULT_FRAMEWORK_SLUG)
    latest = make_framework_version(1, 1, 3, slug=DEFAULT_FRAMEWORK_SLUG)
    make_framework_version(slug=DEFAULT_FRAMEWORK_SLUG, owner_team=personas.team)  # not bundled
    r = client_for(personas.risk_owner).post(
        f"{API}/assessments/", {"ai_system": system.pk}, format="json"
    )
    assert r.status_code == 201, r.content
    assert r.json()["framework_version"] == latest.pk
    assert r.json()["title"].startswith("Fraud scorer — ")
    assert Assessment.objects.get(pk=r.json()["id"]).responses.count() == 3


def test_create_assessment_without_default_framework_is_400(personas, system):
    Framework.objects.filter(slug=DEFAULT_FRAMEWORK_SLUG, owner_team__isnull=True).delete()
    r = client_for(personas.risk_owner).post(
        f"{API}/assessments/", {"ai_system": system.pk}, format="json"
    )
    assert r.status_code == 400
    assert "not loaded" in r.json()["framework_version"][0]
    assert not Assessment.objects.exists()


def test_create_assessment_refusals(personas, system, version):
    url = f"{API}/assessments/"
    body = {"ai_system": system.pk, "framework_version": version.pk}
    assert client_for(personas.auditor).post(url, body, format="json").status_code == 403
    assert client_for(personas.stranger).post(url, body, format="json").status_code == 404
    theirs = make_framework_version(slug="theirs", owner_team=personas.other_team)
    r = client_for(personas.risk_owner).post(
        url, {**body, "framework_version": theirs.pk}, format="json"
    )
    assert r.status_code == 404
    r = client_for(personas.risk_owner).post(url, {"framework_version": version.pk}, format="json")
    assert r.status_code == 400 and "ai_system" in r.json()
    archived = AISystemFactory(team=personas.team, status=SystemStatus.ARCHIVED)
    r = client_for(personas.risk_owner).post(url, {**body, "ai_system": archived.pk}, format="json")
    assert r.status_code == 400 and "archived" in r.json()["ai_system"][0]
    assert not Assessment.objects.exists()


def test_create_assessment_based_on_copies_answers(personas, system, version, assessment):
    resp = first_response(assessment)
    services.response_save(
        response=resp,
        expected_version=1,
        actor=personas.risk_owner,
        status="partial",
        justification="Half done",
    )
    r = client_for(personas.risk_owner).post(
        f"{API}/assessments/",
        {"ai_system": system.pk, "framework_version": version.pk, "based_on": assessment.pk},
        format="json",
    )
    assert r.status_code == 201, r.content
    assert r.json()["based_on"] == assessment.pk
    copy = Assessment.objects.get(pk=r.json()["id"])
    copied = copy.responses.get(control__ref=resp.control.ref)
    assert (copied.status, copied.justification) == ("partial", "Half done")

    other_system = AISystemFactory(team=personas.team)
    r = client_for(personas.risk_owner).post(
        f"{API}/assessments/",
        {"ai_system": other_system.pk, "framework_version": version.pk, "based_on": assessment.pk},
        format="json",
    )
    assert r.status_code == 400 and "based_on" in r.json()


def _answer(assessment: Assessment, actor: User, answers: dict[str, tuple[int, str]]) -> None:
    for resp in assessment.responses.select_related("control"):
        weight, status = answers[resp.control.ref]
        Control.objects.filter(pk=resp.control_id).update(weight=weight)
        services.response_save(
            response=resp,
            expected_version=resp.version,
            actor=actor,
            status=status,
            justification="Because." if status in ("partial", "not_applicable") else "",
        )


def test_assessment_detail_scores_match_hand_computation(personas, assessment):
    _answer(
        assessment,
        personas.risk_owner,
        {
            "1.1.1": (2, "full"),  # 2 * 1
            "1.1.2": (1, "partial"),  # 1 * 1/3
            "1.2.1": (1, "largely"),  # 1 * 2/3
            "1.2.2": (3, "not_applicable"),  # excluded
            "2.1.1": (1, "not_implemented"),  # 1 * 0
            "2.1.2": (2, "full"),  # 2 * 1
            "2.2.1": (1, "not_started"),  # 1 * 0, not answered
            "2.2.2": (1, "largely"),  # 1 * 2/3
        },
    )
    r = client_for(personas.auditor).get(f"{API}/assessments/{assessment.pk}/")
    assert r.status_code == 200
    data = r.json()
    assert data["status"] == "in_progress"  # the first answer moves a draft on
    scores = data["scores"]
    # Pillar 1: earned 2 + 1/3 + 2/3 = 3 of weight 4 → 75.0; 4 of 4 answered.
    # Pillar 2: earned 0 + 2 + 0 + 2/3 = 2.667 of weight 5 → 53.3; 3 of 4 answered.
    # Overall: 5.667 of 9 → 62.96 → 63.0; 7 of 8 answered → 87.5 → 88.
    assert scores["overall"] == 63.0
    assert scores["progress"] == 88
    assert scores["pillars"] == [
        # Nothing is reviewed, so nothing is verified.
        {"ref": "1", "title": "Pillar 1", "score": 75.0, "verified": 0.0, "progress": 100},
        {"ref": "2", "title": "Pillar 2", "score": 53.3, "verified": 0.0, "progress": 75},
    ]
    by_ref = {g["ref"]: (g["score"], g["progress"]) for g in scores["guidelines"]}
    assert by_ref == {
        "1.1": (77.8, 100),  # 2 + 1/3 of 3
        "1.2": (66.7, 100),  # 2/3 of 1 (n/a excluded)
        "2.1": (66.7, 100),  # 0 + 2 of 3
        "2.2": (33.3, 50),  # 0 + 2/3 of 2
    }


def test_assessment_list_filters(personas, version, system):
    other_system = AISystemFactory(team=personas.team)
    a1 = make_assessment(ai_system=system, version=version, actor=personas.admin)
    a2 = make_assessment(ai_system=other_system, version=version, actor=personas.admin)
    services.assessment_set_status(assessment=a2, status="in_progress", actor=personas.admin)
    client = client_for(personas.manager)

    data = client.get(f"{API}/assessments/").json()
    assert data["count"] == 2 and {"next", "previous", "results"} <= set(data)
    assert set(data["results"][0]) == {
        "id", "team", "ai_system", "framework_version", "title", "status", "based_on",
        "created_at", "finalised_at", "locked",
    }  # fmt: skip

    def ids(query: str) -> list[int]:
        return [a["id"] for a in client.get(f"{API}/assessments/{query}").json()["results"]]

    assert ids(f"?ai_system={system.pk}") == [a1.pk]
    assert ids("?status=in_progress") == [a2.pk]
    assert ids("?status=draft") == [a1.pk]
    assert client.get(f"{API}/assessments/?status=nope").status_code == 400
    assert client.get(f"{API}/assessments/?ai_system=x").status_code == 400


def test_assessment_status_transitions(personas, assessment):
    url = f"{API}/assessments/{assessment.pk}/status/"
    client = client_for(personas.manager)

    r = client.post(url, {"status": "final"}, format="json")  # draft → final: not allowed
    assert r.status_code == 400
    assert "final only by a sign-off" in r.json()["status"][0]
    assert client.post(url, {"status": "bogus"}, format="json").status_code == 400
    assert client.post(url, {}, format="json").status_code == 400

    for step in ("in_progress", "in_review"):
        r = client.post(url, {"status": step}, format="json")
        assert r.status_code == 200, r.content
        assert r.json()["status"] == step
    assert r.json()["submitted_by"] == personas.manager.display_name
    # in_review → final is not a status change either: it is a sign-off (test_signoff_api.py).
    r = client.post(url, {"status": "final"}, format="json")
    assert r.status_code == 400 and "sign-off" in r.json()["status"][0]
    assert AuditEvent.objects.filter(action="assessment.locked").count() == 0
    services.assessment_set_status(
        assessment=assessment, status="in_progress", actor=personas.admin
    )
    make_final(assessment, personas)
    assert AuditEvent.objects.filter(action="assessment.locked").count() == 1

    r = client.post(url, {"status": "in_review"}, format="json")
    assert r.status_code == 409
    assert "final and locked" in r.json()["detail"]
    assessment.refresh_from_db()
    assert assessment.status == AssessmentStatus.FINAL


def test_assessment_status_roles(personas, assessment):
    url = f"{API}/assessments/{assessment.pk}/status/"
    assert client_for(personas.auditor).post(url, {"status": "in_progress"}).status_code == 403
    assessment.refresh_from_db()
    assert assessment.status == AssessmentStatus.DRAFT
