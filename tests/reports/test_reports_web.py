"""Reports in the browser and the API: who may request and download, live status, verify
page, audit events, bad input."""

from __future__ import annotations

import hashlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from rest_framework.test import APIClient

from aigsec.accounts.services import api_token_create
from aigsec.audit.models import AuditEvent
from reports.models import Report, ReportStatus
from reports.services import report_run
from tests.factories import make_report_world

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(personas):
    return make_report_world(personas, bundled=False)


def _api(user) -> APIClient:
    _token, raw = api_token_create(user=user, name="t")
    c = APIClient()
    c.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return c


def _request(personas, world, user=None, capture=None) -> Report:
    c = personas.client(user or personas.manager)
    resp = c.post(reverse("report_request", args=[world.assessment.pk]))
    assert resp.status_code == 302
    return Report.objects.filter(assessment=world.assessment).latest("id")


def test_manager_requests_and_the_task_is_queued_on_commit(
    personas, world, django_capture_on_commit_callbacks
):
    c = personas.client(personas.manager)
    with django_capture_on_commit_callbacks() as callbacks:
        resp = c.post(reverse("report_request", args=[world.assessment.pk]))
    assert resp.status_code == 302
    report = Report.objects.get(assessment=world.assessment)
    assert report.status == ReportStatus.QUEUED
    assert report.requested_by == personas.manager
    # The task is sent only once the row is committed (and that is all: a report request
    # changes nothing a cached page shows).
    assert len(callbacks) == 1
    assert AuditEvent.objects.filter(action="report.requested", target=f"report:{report.pk}")


def test_second_click_while_pending_returns_the_same_report(personas, world):
    c = personas.client(personas.manager)
    c.post(reverse("report_request", args=[world.assessment.pk]))
    resp = c.post(reverse("report_request", args=[world.assessment.pk]), follow=True)
    assert Report.objects.filter(assessment=world.assessment).count() == 1
    assert b"already being prepared" in resp.content


@pytest.mark.parametrize("who", ["risk_owner", "auditor"])
def test_risk_owner_and_auditor_cannot_request(personas, world, who):
    resp = personas.client(getattr(personas, who)).post(
        reverse("report_request", args=[world.assessment.pk])
    )
    assert resp.status_code == 403
    assert not Report.objects.exists()


def test_stranger_gets_404_everywhere(personas, world):
    report = _request(personas, world)
    report_run(report.pk)
    c = personas.client(personas.stranger)
    for url in (
        reverse("report_request", args=[world.assessment.pk]),
        reverse("assessment_reports", args=[world.assessment.pk]),
        reverse("report_status", args=[report.pk]),
        reverse("report_download", args=[report.pk]),
    ):
        for method in ("get", "post"):
            assert getattr(c, method)(url).status_code in (404, 405), url
    assert Report.objects.count() == 1
    api = _api(personas.stranger)
    assert api.post(f"/api/v1/assessments/{world.assessment.pk}/reports/").status_code == 404
    assert api.get(f"/api/v1/assessments/{world.assessment.pk}/reports/").status_code == 404
    assert api.get(f"/api/v1/reports/{report.pk}/").status_code == 404
    assert api.get(f"/api/v1/reports/{report.pk}/download/").status_code == 404
    assert api.get("/api/v1/reports/").json()["results"] == []


def test_status_row_polls_while_pending_and_stops_when_signed(personas, world):
    report = _request(personas, world)
    c = personas.client(personas.manager)
    row = c.get(reverse("report_status", args=[report.pk]), HTTP_HX_REQUEST="true")
    assert b'hx-trigger="every 2s"' in row.content and b'data-status="queued"' in row.content
    report_run(report.pk)
    row = c.get(reverse("report_status", args=[report.pk]), HTTP_HX_REQUEST="true")
    assert b"hx-trigger" not in row.content
    assert b'data-status="signed"' in row.content
    report.refresh_from_db()
    assert report.sha256.encode() in row.content
    page = c.get(reverse("assessment_reports", args=[world.assessment.pk]))
    assert b"manager@acme.test" in page.content and report.sha256.encode() in page.content


@pytest.mark.parametrize("who", ["risk_owner", "auditor", "manager", "admin"])
def test_every_team_role_may_download_and_it_is_audited(personas, world, who):
    report = _request(personas, world)
    report = report_run(report.pk)
    user = getattr(personas, who)
    resp = personas.client(user).get(reverse("report_download", args=[report.pk]))
    assert resp.status_code == 200
    assert resp["Content-Type"] == "application/pdf"
    assert "attachment" in resp["Content-Disposition"]
    assert hashlib.sha256(resp.content).hexdigest() == report.sha256
    event = AuditEvent.objects.get(action="report.downloaded")
    assert event.actor == user.pk and event.data["sha256"] == report.sha256


def test_download_of_a_pending_report_is_409(personas, world):
    report = _request(personas, world)
    resp = personas.client(personas.manager).get(reverse("report_download", args=[report.pk]))
    assert resp.status_code == 409
    assert _api(personas.manager).get(f"/api/v1/reports/{report.pk}/download/").status_code == 409


def test_a_changed_file_on_disk_is_withheld(personas, world):
    report = report_run(_request(personas, world).pk)
    path = report.file.path
    with open(path, "r+b") as fh:
        fh.seek(500)
        b = fh.read(1)
        fh.seek(500)
        fh.write(bytes([b[0] ^ 1]))
    resp = personas.client(personas.manager).get(reverse("report_download", args=[report.pk]))
    assert resp.status_code == 409
    assert AuditEvent.objects.filter(action="report.integrity_failed").exists()
    assert not AuditEvent.objects.filter(action="report.downloaded").exists()


def test_api_request_status_download(personas, world):
    api = _api(personas.manager)
    resp = api.post(f"/api/v1/assessments/{world.assessment.pk}/reports/")
    assert resp.status_code == 202, resp.content
    body = resp.json()
    assert body["status"] == "queued" and body["download_url"] is None
    assert resp["Location"] == f"/api/v1/reports/{body['id']}/"
    again = api.post(f"/api/v1/assessments/{world.assessment.pk}/reports/")
    assert again.status_code == 200 and again.json()["id"] == body["id"]
    report_run(body["id"])
    status = api.get(f"/api/v1/reports/{body['id']}/").json()
    assert status["status"] == "signed" and len(status["sha256"]) == 64
    dl = api.get(status["download_url"])
    assert dl.status_code == 200
    assert hashlib.sha256(dl.content).hexdigest() == status["sha256"]
    listed = api.get(f"/api/v1/reports/?assessment={world.assessment.pk}").json()
    assert [r["id"] for r in listed["results"]] == [body["id"]]
    assert api.get("/api/v1/reports/?assessment=abc").status_code == 400


def test_api_risk_owner_may_read_but_not_request(personas, world):
    api = _api(personas.risk_owner)
    assert api.post(f"/api/v1/assessments/{world.assessment.pk}/reports/").status_code == 403
    assert api.get(f"/api/v1/assessments/{world.assessment.pk}/reports/").status_code == 200
    assert api.post("/api/v1/assessments/999999999/reports/").status_code == 404
    assert not Report.objects.exists()


def test_verify_page_says_intact_and_on_record(personas, world):
    report = report_run(_request(personas, world).pk)
    data = report.file.open("rb").read()
    c = personas.client(personas.auditor)
    resp = c.post(
        reverse("report_verify"), {"file": SimpleUploadedFile("r.pdf", data, "application/pdf")}
    )
    assert resp.status_code == 200
    assert b"Intact and signed by this instance" in resp.content
    assert str(report.uuid).encode() in resp.content
    assert b"Fraud model" in resp.content  # the auditor may see the assessment
    assert AuditEvent.objects.filter(action="report.verified", data__ok=True).exists()
    # A stranger learns it is on record, but not whose.
    resp = personas.client(personas.stranger).post(
        reverse("report_verify"), {"file": SimpleUploadedFile("r.pdf", data, "application/pdf")}
    )
    assert b"Intact and signed by this instance" in resp.content
    assert b"Fraud model" not in resp.content


def test_verify_page_rejects_tampered_empty_and_missing(personas, world):
    report = report_run(_request(personas, world).pk)
    data = bytearray(report.file.open("rb").read())
    pos = data.index(b"stream", 2000) + 20
    data[pos] ^= 1
    c = personas.client(personas.manager)
    resp = c.post(reverse("report_verify"), {"file": SimpleUploadedFile("r.pdf", bytes(data))})
    assert resp.status_code == 200 and b"Not verified" in resp.content
    assert b"no stored report has this SHA-256" in resp.content
    resp = c.post(reverse("report_verify"), {"file": SimpleUploadedFile("r.pdf", b"")})
    assert resp.status_code == 400 and b"empty" in resp.content
    resp = c.post(reverse("report_verify"), {})
    assert resp.status_code == 400
    resp = c.post(reverse("report_verify"), {"file": SimpleUploadedFile("x.pdf", b"garbage")})
    assert resp.status_code == 200 and b"Not a readable PDF" in resp.content


def test_api_verify(personas, world):
    report = report_run(_request(personas, world).pk)
    data = report.file.open("rb").read()
    api = _api(personas.risk_owner)
    resp = api.post(
        "/api/v1/reports/verify/", {"file": SimpleUploadedFile("r.pdf", data)}, format="multipart"
    )
    assert resp.status_code == 200
    assert resp.json()["ok"] and resp.json()["report"] == report.pk
    stranger = _api(personas.stranger).post(
        "/api/v1/reports/verify/", {"file": SimpleUploadedFile("r.pdf", data)}, format="multipart"
    )
    assert stranger.json()["ok"] and stranger.json()["report"] is None
    assert api.post("/api/v1/reports/verify/", {}, format="multipart").status_code == 400


def test_report_list_page_and_query_count(personas, world, django_assert_max_num_queries):
    for _ in range(2):
        report_run(_request(personas, world).pk)
    c = personas.client(personas.manager)
    with django_assert_max_num_queries(12):
        resp = c.get(reverse("report_list"))
    assert resp.status_code == 200
    assert resp.content.count(b'data-status="signed"') == 2


def test_anonymous_is_refused(client, personas, world):
    report = _request(personas, world)
    assert client.get(reverse("report_download", args=[report.pk])).status_code == 302
    assert APIClient().get(f"/api/v1/reports/{report.pk}/").status_code in (401, 403)
