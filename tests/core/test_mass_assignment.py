"""Mass assignment: every writable serializer and every form that writes a model refuses (400)
or ignores the fields a caller must not set: the team, the owner of record (creator, requester,
reviewer, uploader, author), hashes and sizes, review decisions, `version` jumps, the locked
state of an assessment, ids and uuids. Each test sends them next to a valid change, checks the
stored row did not take them, and (where the request is accepted) that the valid change did
land, so the test cannot pass because nothing was written at all.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from aigsec.accounts.models import ApiToken, Membership, Team, User
from assessments.models import AISystem, Assessment, Response
from evidence.models import EvidenceItem, EvidenceLink, EvidenceRevision
from reports.models import Report
from reviews.models import ResponseComment, Review
from tests.assessments.test_frameworks import small_yaml
from tests.authz_table import NEW_SYSTEM
from tests.authz_world import World, build_world, changed_tables, fingerprint
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db

API = "/api/v1"
LONG_AGO = "2000-01-01T00:00:00Z"
HUGE_ID = 2**40
NEW_CSV = b"control,result\n9.9.9,pass\n"


@pytest.fixture
def world(personas) -> World:
    return build_world(personas)


def A(world: World, key: str):
    return world.teams["A"][key]


def B(world: World, key: str):
    return world.teams["B"][key]


def ok(resp, *codes: int) -> None:
    assert resp.status_code in codes, (resp.status_code, getattr(resp, "content", b"")[:500])


def recent(value) -> bool:
    return timezone.now() - value < timedelta(minutes=5)


# --- AI systems -----------------------------------------------------------------------------


def test_api_ai_system_update_keeps_team_creator_and_dates(world):
    system = AISystem.objects.get(pk=A(world, "system"))
    api = world.api("risk_owner")
    url = f"{API}/ai-systems/{system.pk}/"
    ok(api.patch(url, {"team": B(world, "team")}, format="json"), 400)
    ok(
        api.patch(
            url,
            {
                "name": "Renamed",
                "id": HUGE_ID,
                "created_by": world.personas.stranger.pk,
                "created_at": LONG_AGO,
                "updated_at": LONG_AGO,
            },
            format="json",
        ),
        200,
    )
    after = AISystem.objects.get(pk=system.pk)
    assert after.name == "Renamed"
    assert (after.team_id, after.created_by_id, after.created_at) == (
        system.team_id,
        system.created_by_id,
        system.created_at,
    )
    assert recent(after.updated_at)
    assert not AISystem.objects.filter(pk=HUGE_ID).exists()


def test_api_ai_system_create_keeps_id_creator_and_dates(world):
    body = {
        **NEW_SYSTEM,
        "team": A(world, "team"),
        "id": HUGE_ID,
        "created_by": world.personas.stranger.pk,
        "created_at": LONG_AGO,
    }
    resp = world.api("manager").post(f"{API}/ai-systems/", body, format="json")
    ok(resp, 201)
    system = AISystem.objects.get(pk=resp.json()["id"])
    assert system.pk != HUGE_ID
    assert system.team_id == A(world, "team")
    assert system.created_by == world.personas.manager
    assert recent(system.created_at)


def test_html_ai_system_forms_keep_team_and_creator(world):
    c = world.client("risk_owner")
    system = AISystem.objects.get(pk=A(world, "system"))
    extra = {"team": B(world, "team"), "created_by": world.personas.stranger.pk, "id": HUGE_ID}
    ok(c.post(reverse("ai_system_edit", args=[system.pk]), {**NEW_SYSTEM, **extra}), 302)
    after = AISystem.objects.get(pk=system.pk)
    assert after.name == NEW_SYSTEM["name"]
    assert (after.team_id, after.created_by_id) == (system.team_id, system.created_by_id)

    ok(c.post(reverse("ai_system_create"), {**NEW_SYSTEM, "name": "Second", **extra}), 302)
    created = AISystem.objects.get(name="Second")
    assert created.team_id == A(world, "team") and created.created_by == world.personas.risk_owner


# --- Assessments: status and lock only through their own transitions -------------------------


def test_api_assessment_create_ignores_status_lock_and_creator(world):
    body = {
        "ai_system": A(world, "system"),
        "framework_version": A(world, "version"),
        "title": "Fresh",
        "status": "final",
        "locked": True,
        "finalised_at": LONG_AGO,
        "created_by": world.personas.stranger.pk,
        "id": HUGE_ID,
    }
    resp = world.api("manager").post(f"{API}/assessments/", body, format="json")
    ok(resp, 201)
    a = Assessment.objects.get(pk=resp.json()["id"])
    assert (a.status, a.finalised_at, a.is_locked) == ("draft", None, False)
    assert a.created_by == world.personas.manager and a.pk != HUGE_ID


@pytest.mark.parametrize(
    ("field", "other"),
    [("team", "team"), ("based_on", "assessment"), ("framework_version", "version")],
)
def test_api_assessment_create_refuses_the_other_teams_ids(world, field, other):
    before = Assessment.objects.count()
    body = {"ai_system": A(world, "system"), "framework_version": A(world, "version")}
    resp = world.api("manager").post(
        f"{API}/assessments/", {**body, field: B(world, other)}, format="json"
    )
    ok(resp, 400, 404)
    assert Assessment.objects.count() == before


def test_api_assessment_has_no_generic_update_and_no_jump_to_final(world):
    pk = A(world, "assessment")
    api = world.api("admin")
    for method in ("put", "patch"):
        ok(
            getattr(api, method)(f"{API}/assessments/{pk}/", {"status": "final"}, format="json"),
            405,
        )
    ok(api.post(f"{API}/assessments/{pk}/status/", {"status": "final"}, format="json"), 400)
    assert Assessment.objects.get(pk=pk).status == "draft"

    body = {
        "status": "in_progress",
        "finalised_at": LONG_AGO,
        "locked": True,
        "team": B(world, "team"),
        "title": "Retitled",
    }
    ok(api.post(f"{API}/assessments/{pk}/status/", body, format="json"), 200)
    a = Assessment.objects.get(pk=pk)
    assert (a.status, a.finalised_at, a.team_id) == ("in_progress", None, A(world, "team"))
    assert a.title != "Retitled"


def test_html_assessment_status_cannot_jump_to_final(world):
    pk = A(world, "assessment")
    ok(
        world.client("manager").post(reverse("assessment_status", args=[pk]), {"status": "final"}),
        302,
    )
    a = Assessment.objects.get(pk=pk)
    assert (a.status, a.finalised_at) == ("draft", None)


@pytest.mark.parametrize(
    ("field", "other"), [("framework_version", "version"), ("based_on", "assessment")]
)
def test_html_assessment_create_refuses_the_other_teams_ids(world, field, other):
    before = Assessment.objects.count()
    body = {"framework_version": A(world, "version"), "title": "X", field: B(world, other)}
    resp = world.client("manager").post(
        reverse("assessment_create", args=[A(world, "system")]), body
    )
    ok(resp, 400)
    assert Assessment.objects.count() == before


# --- Responses: the version is a precondition, never a value ----------------------------------


def _response_row(pk: int) -> tuple:
    r = Response.objects.get(pk=pk)
    return (r.version, r.status, r.justification, r.owner_id, r.updated_at, r.updated_by_id)


@pytest.mark.parametrize("jump", [1, 5, 1000])
def test_api_response_version_jump_is_a_409(world, jump):
    pk = A(world, "response")
    before = _response_row(pk)
    resp = world.api("risk_owner").patch(
        f"{API}/responses/{pk}/",
        {"version": before[0] + jump, "status": "full", "justification": "Jumped."},
        format="json",
    )
    ok(resp, 409)
    assert resp.json()["current"]["version"] == before[0]
    assert _response_row(pk) == before


@pytest.mark.parametrize("version", [0, -1, "1; drop", None])
def test_api_response_bad_version_is_a_400(world, version):
    pk = A(world, "response")
    before = _response_row(pk)
    body = {"version": version, "status": "full", "justification": "x"}
    ok(world.api("risk_owner").patch(f"{API}/responses/{pk}/", body, format="json"), 400)
    assert _response_row(pk) == before


def test_api_response_ignores_record_fields_and_decisions(world):
    pk = A(world, "response")
    r = Response.objects.get(pk=pk)
    reviews = Review.objects.count()
    body = {
        "version": r.version,
        "status": "full",
        "justification": "Done.",
        "id": B(world, "response"),
        "assessment": B(world, "assessment"),
        "control": Response.objects.get(pk=B(world, "response")).control_id,
        "updated_by": world.personas.stranger.pk,
        "updated_at": LONG_AGO,
        "decision": "accepted",
        "reviewer": world.personas.auditor.pk,
    }
    ok(world.api("risk_owner").patch(f"{API}/responses/{pk}/", body, format="json"), 200)
    after = Response.objects.get(pk=pk)
    assert (after.status, after.version) == ("full", r.version + 1)
    assert (after.assessment_id, after.control_id) == (r.assessment_id, r.control_id)
    assert after.updated_by == world.personas.risk_owner and recent(after.updated_at)
    assert Review.objects.count() == reviews
    other = Response.objects.get(pk=B(world, "response"))
    assert (other.status, other.version) == ("not_started", 1)


@pytest.mark.parametrize("who", ["stranger", "auditor"])
def test_api_response_owner_must_be_a_risk_owner_of_the_team(world, who):
    pk = A(world, "response")
    before = _response_row(pk)
    body = {"version": before[0], "owner": getattr(world.personas, who).pk}
    ok(world.api("risk_owner").patch(f"{API}/responses/{pk}/", body, format="json"), 400)
    assert _response_row(pk) == before


def test_html_response_version_jump_is_a_409_and_a_foreign_owner_a_400(world):
    pk = A(world, "response")
    c = world.client("risk_owner")
    before = _response_row(pk)
    body = {"version": before[0] + 5, "status": "full", "justification": "x", "owner": ""}
    ok(c.post(reverse("response_edit", args=[pk]), body), 409)
    assert _response_row(pk) == before
    body = {**body, "version": before[0], "owner": world.personas.stranger.pk}
    ok(c.post(reverse("response_edit", args=[pk]), body), 400)
    assert _response_row(pk) == before


def test_html_guideline_assign_refuses_an_owner_of_another_team(world):
    pk = A(world, "response")
    before = _response_row(pk)
    url = reverse("guideline_assign", args=[A(world, "assessment"), A(world, "guideline")])
    body = {"owner": world.personas.stranger.pk, "due_date": "2031-01-31"}
    ok(world.client("risk_owner").post(url, body), 302)
    assert _response_row(pk) == before


# --- Evidence: hashes and sizes are computed, never taken ---------------------------------------


PROTECTED_EVIDENCE = {
    "sha256": "0" * 64,
    "size": 1,
    "content_type": "application/pdf",
    "revision": 7,
    "number": 7,
    "storage_name": "../../etc/passwd",
    "created_by": "STRANGER",
    "uploaded_by": "STRANGER",
    "owner": "STRANGER",
    "withdrawn": "true",
    "withdrawn_at": LONG_AGO,
    "id": HUGE_ID,
}


def _protected(world: World) -> dict:
    s = world.personas.stranger.pk
    return {k: (s if v == "STRANGER" else v) for k, v in PROTECTED_EVIDENCE.items()}


def _assert_clean_item(item: EvidenceItem, actor: User, team_id: int) -> None:
    assert item.pk != HUGE_ID and item.team_id == team_id
    assert item.created_by == actor and item.owner == actor
    assert item.withdrawn_at is None


def _assert_clean_revision(rev: EvidenceRevision, actor: User, data: bytes, number: int) -> None:
    assert rev.sha256 == hashlib.sha256(data).hexdigest()
    assert (rev.size, rev.content_type, rev.number) == (len(data), "text/csv", number)
    assert rev.uploaded_by == actor
    assert ".." not in rev.storage_name


def test_api_evidence_upload_computes_hash_and_size(world):
    body = {
        **_protected(world),
        "team": A(world, "team"),
        "title": "Scan",
        "file": SimpleUploadedFile("scan.csv", NEW_CSV),
    }
    resp = world.api("risk_owner").post(f"{API}/evidence/", body, format="multipart")
    ok(resp, 201)
    item = EvidenceItem.objects.get(pk=resp.json()["id"])
    _assert_clean_item(item, world.personas.risk_owner, A(world, "team"))
    _assert_clean_revision(item.revisions.get(), world.personas.risk_owner, NEW_CSV, 1)


def test_api_revision_computes_hash_and_size(world):
    pk = A(world, "evidence")
    body = {**_protected(world), "file": SimpleUploadedFile("scan.csv", NEW_CSV)}
    ok(world.api("admin").post(f"{API}/evidence/{pk}/revisions/", body, format="multipart"), 201)
    rev = EvidenceRevision.objects.filter(item_id=pk).latest("number")
    _assert_clean_revision(rev, world.personas.admin, NEW_CSV, 2)
    _assert_clean_item(EvidenceItem.objects.get(pk=pk), world.personas.risk_owner, A(world, "team"))


def test_html_evidence_upload_and_revision_compute_hash_and_size(world):
    c = world.client("risk_owner")
    body = {
        **_protected(world),
        "team": B(world, "team"),
        "kind": "file",
        "title": "Scan",
        "responses": [A(world, "response2")],
    }
    ok(
        c.post(reverse("evidence_create"), {**body, "file": SimpleUploadedFile("s.csv", NEW_CSV)}),
        302,
    )
    item = EvidenceItem.objects.get(title="Scan")
    _assert_clean_item(item, world.personas.risk_owner, A(world, "team"))
    _assert_clean_revision(item.revisions.get(), world.personas.risk_owner, NEW_CSV, 1)

    url = reverse("evidence_revision", args=[item.pk])
    ok(c.post(url, {**body, "file": SimpleUploadedFile("s.csv", NEW_CSV + b"x\n")}), 302)
    _assert_clean_revision(
        item.revisions.latest("number"), world.personas.risk_owner, NEW_CSV + b"x\n", 2
    )


def test_evidence_cannot_be_linked_to_another_teams_answer(world):
    pk, foreign = A(world, "evidence"), B(world, "response")
    items, links = EvidenceItem.objects.count(), EvidenceLink.objects.count()
    api, c = world.api("risk_owner"), world.client("risk_owner")
    note = {"team": A(world, "team"), "title": "N", "note": "x", "responses": [foreign]}
    ok(api.post(f"{API}/evidence/", note, format="json"), 400, 404)
    ok(c.post(reverse("evidence_create"), {**note, "kind": "note"}), 400)
    ok(api.post(f"{API}/evidence/{pk}/link/", {"response": foreign}, format="json"), 404)
    ok(c.post(reverse("evidence_link", args=[pk]), {"response": foreign}), 404)
    # The other way round: our answer, their evidence.
    body = {"item": B(world, "evidence"), "action": "link"}
    ok(c.post(reverse("response_evidence", args=[A(world, "response2")]), body), 404)
    assert (EvidenceItem.objects.count(), EvidenceLink.objects.count()) == (items, links)


def test_html_withdraw_keeps_its_own_time(world):
    pk = A(world, "evidence")
    body = {"reason": "Superseded.", "withdrawn_at": LONG_AGO, "withdrawn_reason": "other"}
    ok(world.client("admin").post(reverse("evidence_withdraw", args=[pk]), body), 302)
    item = EvidenceItem.objects.get(pk=pk)
    assert recent(item.withdrawn_at) and item.withdrawn_reason == "Superseded."


# --- Reviews and comments: the reviewer and author are the caller --------------------------------


REVIEW_EXTRA = {"reviewer": "ADMIN", "team": "B", "revision": HUGE_ID, "created_at": LONG_AGO}


def _review_extra(world: World) -> dict:
    return {
        **REVIEW_EXTRA,
        "reviewer": world.personas.admin.pk,
        "team": B(world, "team"),
    }


def _assert_clean_review(world: World) -> None:
    review = Review.objects.get()
    assert review.reviewer == world.personas.auditor and review.team_id == A(world, "team")
    assert review.revision == EvidenceRevision.objects.get(item_id=A(world, "evidence"))
    assert recent(review.created_at)


def test_api_review_takes_reviewer_team_and_revision_from_the_server(world):
    body = {**_review_extra(world), "evidence": A(world, "evidence"), "decision": "accepted"}
    ok(world.api("auditor").post(f"{API}/reviews/", body, format="json"), 201)
    _assert_clean_review(world)


def test_html_review_takes_reviewer_team_and_revision_from_the_server(world):
    body = {
        **_review_extra(world),
        "target_type": "evidence",
        "target_id": A(world, "evidence"),
        "decision": "accepted",
    }
    ok(world.client("auditor").post(reverse("review_create"), body), 302)
    _assert_clean_review(world)


def test_html_comment_author_is_the_caller(world):
    pk = A(world, "response")
    body = {"body": "Why?", "author": world.personas.admin.pk, "response": B(world, "response")}
    ok(world.client("auditor").post(reverse("response_comment", args=[pk]), body), 302)
    comment = ResponseComment.objects.get()
    assert (comment.author, comment.response_id) == (world.personas.auditor, pk)


# --- Reports: everything but the request itself comes from the worker ---------------------------


def test_api_report_request_ignores_status_hash_and_requester(world):
    pk = A(world, "assessment")
    body = {
        "status": "signed",
        "sha256": "f" * 64,
        "size": 1,
        "is_final": True,
        "uuid": "00000000-0000-0000-0000-000000000001",
        "requested_by": world.personas.stranger.pk,
        "team": B(world, "team"),
        "signer_fingerprint": "f" * 64,
        "audit_head_seq": 1,
    }
    resp = world.api("manager").post(f"{API}/assessments/{pk}/reports/", body, format="json")
    ok(resp, 202)
    report = Report.objects.get(pk=resp.json()["id"])
    assert (report.status, report.sha256, report.size, report.is_final) == (
        "queued",
        "",
        None,
        False,
    )
    assert report.requested_by == world.personas.manager and report.team_id == A(world, "team")
    assert str(report.uuid) != body["uuid"]
    assert (report.signer_fingerprint, report.audit_head_seq) == ("", None)


# --- Accounts: members, roles, tokens, team settings, frameworks ---------------------------------


def test_html_member_add_ignores_team_and_staff_flags(world):
    url = reverse("members", args=[A(world, "team")])
    body = {
        "email": "new@acme.test",
        "role": "auditor",
        "team": B(world, "team"),
        "is_staff": "on",
        "is_superuser": "on",
    }
    ok(world.client("admin").post(url, body), 302)
    user = User.objects.get(email="new@acme.test")
    assert not user.is_staff and not user.is_superuser
    assert list(user.memberships.values_list("team_id", "role")) == [(A(world, "team"), "auditor")]


def test_html_member_role_changes_only_the_role(world):
    m = Membership.objects.get(pk=A(world, "membership"))
    body = {"role": "auditor", "team": B(world, "team"), "user": world.personas.stranger.pk}
    ok(world.client("admin").post(reverse("member_role", args=[m.pk]), body), 302)
    after = Membership.objects.get(pk=m.pk)
    assert (after.role, after.team_id, after.user_id) == ("auditor", m.team_id, m.user_id)
    ok(world.client("admin").post(reverse("member_role", args=[m.pk]), {"role": "owner"}), 302)
    assert Membership.objects.get(pk=m.pk).role == "auditor"


def test_html_token_form_ignores_owner_hash_and_expiry(world):
    before = set(ApiToken.objects.values_list("pk", flat=True))
    body = {
        "name": "ci",
        "scope": "read",
        "days": "7",
        "user": world.personas.admin.pk,
        "read_only": "",
        "expires_at": "2099-01-01T00:00:00Z",
        "token_hash": "0" * 64,
        "prefix": "aig_stolen",
        "revoked_at": LONG_AGO,
    }
    ok(world.client("risk_owner").post(reverse("tokens"), body), 200)
    [token] = ApiToken.objects.exclude(pk__in=before)
    assert token.user == world.personas.risk_owner and token.read_only
    assert token.expires_at < timezone.now() + timedelta(days=8)
    assert token.token_hash != "0" * 64 and token.prefix != "aig_stolen"
    assert token.revoked_at is None


def test_html_team_settings_change_only_the_setting(world):
    team = Team.objects.get(pk=A(world, "team"))
    body = {"require_mfa": "on", "name": "Hijacked", "slug": "hijacked", "id": B(world, "team")}
    ok(world.client("admin").post(reverse("team_mfa", args=[team.pk]), body), 302)
    after = Team.objects.get(pk=team.pk)
    assert after.require_mfa and (after.name, after.slug) == (team.name, team.slug)
    assert not Team.objects.get(pk=B(world, "team")).require_mfa


def test_html_framework_upload_belongs_to_the_url_team(world):
    from assessments.models import Framework

    body = {
        "file": SimpleUploadedFile("f.yaml", small_yaml(slug="mass-assign").encode()),
        "owner_team": B(world, "team"),
    }
    url = reverse("framework_upload", args=[A(world, "team")])
    ok(world.client("admin").post(url, body), 302)
    assert Framework.objects.get(slug="mass-assign").owner_team_id == A(world, "team")


# --- A member of both teams: each object stays with its own team ---------------------------------


def test_a_member_of_both_teams_cannot_mix_their_objects(world):
    """The door lets this person reach both teams' objects, so only the services and forms
    keep evidence, owners, frameworks and copies from crossing between the teams."""
    MembershipFactory(user=world.personas.risk_owner, team_id=B(world, "team"), role="risk_owner")
    api, c = world.api("risk_owner"), world.client("risk_owner")
    a_ev, a_resp, b_resp = A(world, "evidence"), A(world, "response"), B(world, "response")
    b_owner = B(world, "owner")
    version = Response.objects.get(pk=a_resp).version
    before = fingerprint()
    calls = [
        (api.post(f"{API}/evidence/{a_ev}/link/", {"response": b_resp}, format="json"), 400),
        (c.post(reverse("evidence_link", args=[a_ev]), {"response": b_resp}), 302),
        (
            c.post(
                reverse("response_evidence", args=[B(world, "response2")]),
                {"item": a_ev, "action": "link"},
            ),
            404,
        ),
        (
            api.post(
                f"{API}/assessments/",
                {"ai_system": A(world, "system"), "based_on": B(world, "assessment")},
                format="json",
            ),
            400,
        ),
        (
            api.post(
                f"{API}/assessments/",
                {"ai_system": A(world, "system"), "framework_version": B(world, "version")},
                format="json",
            ),
            404,
        ),
        (
            api.post(
                f"{API}/evidence/",
                {"team": A(world, "team"), "title": "N", "note": "x", "responses": [b_resp]},
                format="json",
            ),
            400,
        ),
        (
            api.patch(
                f"{API}/responses/{a_resp}/", {"version": version, "owner": b_owner}, format="json"
            ),
            400,
        ),
        (
            c.post(
                reverse("guideline_assign", args=[A(world, "assessment"), A(world, "guideline")]),
                {"owner": b_owner},
            ),
            302,
        ),
        (
            c.post(
                reverse("response_edit", args=[a_resp]),
                {"version": version, "status": "full", "justification": "x", "owner": b_owner},
            ),
            400,
        ),
        (
            c.post(
                reverse("evidence_create"),
                {"kind": "note", "title": "N", "note": "x", "responses": [b_resp]},
            ),
            400,
        ),
        (
            c.get(
                reverse("assessment_compare", args=[A(world, "assessment")]),
                {"other": B(world, "assessment")},
            ),
            400,
        ),
    ]
    for i, (resp, code) in enumerate(calls):
        assert resp.status_code == code, (i, resp.status_code, resp.content[:300])
    assert changed_tables(before, fingerprint()) == []
