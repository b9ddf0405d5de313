"""Evidence through the API: uploads, downloads, links and revisions with a token, for every
persona (the pages are in test_evidence.py)."""

from __future__ import annotations

import hashlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.evidence.test_evidence import PDF, PNG, assert_nothing_stored, make_file_item, upload
from tests.factories import make_assessment

pytestmark = pytest.mark.django_db

# --- API ------------------------------------------------------------------------------------


def api(user):
    from rest_framework.test import APIClient

    from aigsec.accounts.services import api_token_create

    client = APIClient()
    _token, secret = api_token_create(user=user, name="t")
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def test_api_upload_returns_201_with_hash_and_links(personas):
    a = make_assessment(team=personas.team, actor=personas.risk_owner)
    r1, r2 = list(a.responses.all()[:2])
    resp = api(personas.risk_owner).post(
        "/api/v1/evidence/",
        {
            "title": "Policy",
            "file": SimpleUploadedFile("policy.pdf", PDF),
            "responses": [r1.pk, r2.pk],
            "valid_until": "2099-01-01",
            "tags": ["policy", "iso-42001"],
        },
        format="multipart",
    )
    assert resp.status_code == 201, resp.content
    body = resp.json()
    assert body["sha256"] == hashlib.sha256(PDF).hexdigest()
    assert body["size"] == len(PDF) and body["content_type"] == "application/pdf"
    assert body["kind"] == "file" and body["revision"] == 1 and body["freshness"] == "valid"
    assert body["responses"] == sorted([r1.pk, r2.pk])
    assert body["tags"] == ["policy", "iso-42001"]


def test_api_refuses_bad_files_and_roles(personas, settings):
    client = api(personas.risk_owner)
    resp = client.post(
        "/api/v1/evidence/",
        {"title": "x", "file": SimpleUploadedFile("x.pdf", b"<html></html>")},
        format="multipart",
    )
    assert resp.status_code == 400 and "HTML" in resp.json()["file"][0]
    settings.AIGSEC_MAX_UPLOAD_BYTES = 100
    resp = client.post(
        "/api/v1/evidence/",
        {"title": "x", "file": SimpleUploadedFile("x.txt", b"a" * 200)},
        format="multipart",
    )
    assert resp.status_code == 400 and "limit" in resp.json()["file"][0]
    resp = api(personas.auditor).post(
        "/api/v1/evidence/", {"title": "n", "note": "x"}, format="multipart"
    )
    assert resp.status_code == 403
    assert_nothing_stored()


def test_api_note_link_list_detail_revision_download(personas):
    client = api(personas.risk_owner)
    note = client.post("/api/v1/evidence/", {"title": "N", "note": "Done"}, format="multipart")
    assert note.status_code == 201 and note.json()["kind"] == "note"
    both = client.post("/api/v1/evidence/", {"title": "B", "note": "x", "url": "https://a.example"})
    assert both.status_code == 400
    item = make_file_item(personas)
    listing = client.get("/api/v1/evidence/")
    assert listing.status_code == 200 and listing.json()["count"] == 2
    detail = client.get(f"/api/v1/evidence/{item.pk}/")
    assert detail.json()["revision"] == 1
    rev = client.post(
        f"/api/v1/evidence/{item.pk}/revisions/",
        {"file": SimpleUploadedFile("v2.png", PNG)},
        format="multipart",
    )
    assert rev.status_code == 201 and rev.json()["revision"] == 2
    dl = client.get(f"/api/v1/evidence/{item.pk}/download/?revision=1")
    assert dl.status_code == 200 and b"".join(dl.streaming_content) == PDF
    assert dl["Content-Security-Policy"] == "sandbox; default-src 'none'"
    a = make_assessment(team=personas.team, actor=personas.risk_owner)
    r = a.responses.first()
    linked = client.post(f"/api/v1/evidence/{item.pk}/link/", {"response": r.pk})
    assert linked.status_code == 200 and linked.json()["responses"] == [r.pk]
    by_response = client.get(f"/api/v1/evidence/?response={r.pk}").json()
    assert [e["id"] for e in by_response["results"]] == [item.pk]
    unlinked = client.post(f"/api/v1/evidence/{item.pk}/unlink/", {"response": r.pk})
    assert unlinked.json()["responses"] == []
    assert client.get("/api/v1/evidence/?freshness=expired").json()["count"] == 0


def test_api_stranger_gets_404_everywhere(personas):
    item = make_file_item(personas)
    other = make_assessment(team=personas.other_team, actor=personas.stranger)
    client = api(personas.stranger)
    base = f"/api/v1/evidence/{item.pk}/"
    assert client.get(base).status_code == 404
    assert client.get(base + "download/").status_code == 404
    f = SimpleUploadedFile("a.pdf", PDF)
    assert client.post(base + "revisions/", {"file": f}, format="multipart").status_code == 404
    own = other.responses.first().pk
    assert client.post(base + "link/", {"response": own}).status_code == 404
    assert client.post(base + "unlink/", {"response": own}).status_code == 404
    assert client.get("/api/v1/evidence/").json()["count"] == 0
    assert item.revisions.count() == 1


def test_api_list_query_count_does_not_grow(personas):
    client = api(personas.auditor)
    make_file_item(personas)

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get("/api/v1/evidence/").status_code == 200
        return len(ctx.captured_queries)

    count()  # the first use of a token also records last_used_at
    one = count()
    for i in range(14):
        make_file_item(personas, title=f"I{i}")
    # token, memberships, count, page of items, their links, their latest revisions.
    assert count() == one == 6


def test_hash_is_computed_while_streaming(personas, monkeypatch):
    """The view's upload handler hands the service a file already hashed: no second read."""
    from django.core.files.uploadedfile import TemporaryUploadedFile

    from evidence import upload as upload_module

    seen = []
    real = upload_module.stream_facts

    def spy(file):
        seen.append((type(file), getattr(file, "sha256", None)))
        return real(file)

    monkeypatch.setattr(upload_module, "stream_facts", spy)
    assert upload(personas.client(personas.risk_owner), "p.pdf", PDF).status_code == 302
    assert seen == [(TemporaryUploadedFile, hashlib.sha256(PDF).hexdigest())]


def test_upload_without_csrf_token_is_refused(personas):
    from django.test import Client

    c = Client(enforce_csrf_checks=True)
    c.force_login(personas.risk_owner)
    assert upload(c, "p.pdf", PDF).status_code == 403
    assert_nothing_stored()
