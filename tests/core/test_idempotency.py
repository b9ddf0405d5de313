"""`Idempotency-Key` on every create endpoint of the API (aigsec/core/idempotency.py).

A client that retries a create (a timeout, a double-submit in a script) with the same key gets
the first answer back and nothing is created twice; the same key for another request is a
422; keys are per person and last 24 hours; concurrent requests with one key create one
object (PostgreSQL: the second waits on the key's unique index).
"""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from aigsec.accounts.models import User
from aigsec.audit.models import AuditEvent
from aigsec.core.idempotency import HEADER, KEY_REUSED
from aigsec.core.models import IdempotencyKey
from aigsec.core.tasks import prune_idempotency_keys
from assessments import services as assessment_services
from assessments.models import AISystem, Assessment
from evidence.models import EvidenceItem, EvidenceRevision
from reviews.models import Review
from tests.factories import AISystemFactory, make_assessment, make_framework_version

pytestmark = pytest.mark.django_db
PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"


def _client(user: User, key: str | None = None) -> APIClient:
    c = APIClient()
    c.force_authenticate(user=User.objects.get(pk=user.pk))
    if key is not None:
        c.credentials(**{"HTTP_IDEMPOTENCY_KEY": key})
    return c


def _system(c: APIClient, personas, name: str = "Chatbot"):
    return c.post("/api/v1/ai-systems/", _system_body(personas, name), format="json")


def _system_body(personas, name: str) -> dict:
    return {"name": name, "team": personas.team.pk, "model_source": "external_api"}


def test_a_retry_with_the_same_key_returns_the_first_answer_and_creates_nothing(personas):
    c = _client(personas.risk_owner, "retry-1")
    first = _system(c, personas)
    events = AuditEvent.objects.count()
    again = _system(c, personas)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first
    assert AISystem.objects.filter(name="Chatbot").count() == 1
    assert AuditEvent.objects.count() == events  # nothing recorded the second time


def test_without_a_key_nothing_changes(personas):
    c = _client(personas.risk_owner)
    assert _system(c, personas, "One").status_code == 201
    assert _system(c, personas, "Two").status_code == 201
    assert not IdempotencyKey.objects.exists()


def test_the_same_key_with_another_body_is_a_422_naming_the_header(personas):
    c = _client(personas.risk_owner, "k-2")
    assert _system(c, personas, "First").status_code == 201
    r = _system(c, personas, "Second")
    assert r.status_code == 422
    assert r.json() == {HEADER: [KEY_REUSED]}
    assert not AISystem.objects.filter(name="Second").exists()
    # Another endpoint with the same key is another request too.
    r = c.post("/api/v1/assessments/", {"ai_system": 1}, format="json")
    assert r.status_code == 422


def test_keys_are_per_person(personas):
    a = _system(_client(personas.risk_owner, "shared"), personas, "Mine")
    b = _system(_client(personas.admin, "shared"), personas, "Mine too")
    assert a.status_code == b.status_code == 201
    assert a.json()["id"] != b.json()["id"]


def test_a_refused_request_leaves_the_key_free_for_the_corrected_one(personas):
    c = _client(personas.risk_owner, "fix-me")
    r = c.post("/api/v1/ai-systems/", {"name": "", "team": personas.team.pk}, format="json")
    assert r.status_code == 400
    assert _system(c, personas, "Fixed").status_code == 201
    assert _system(c, personas, "Fixed")["Idempotent-Replayed"] == "true"


def test_after_24_hours_the_key_is_new_again(personas):
    c = _client(personas.risk_owner, "old")
    assert _system(c, personas, "Day one").status_code == 201
    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(hours=24, seconds=1))
    r = _system(c, personas, "Day two")
    assert r.status_code == 201 and "Idempotent-Replayed" not in r
    assert IdempotencyKey.objects.count() == 1


@pytest.mark.parametrize("key", ["", "has space", "x" * 256, "é"])
def test_a_malformed_key_is_a_400_naming_the_header(personas, key):
    c = APIClient()
    c.force_authenticate(user=User.objects.get(pk=personas.risk_owner.pk))
    r = c.post(
        "/api/v1/ai-systems/",
        _system_body(personas, "K"),
        format="json",
        headers={HEADER: key},
    )
    assert r.status_code == 400, r.content
    assert HEADER in r.json()
    assert not AISystem.objects.exists()


def test_every_create_endpoint_honours_the_key(personas):
    version = make_framework_version()
    system = AISystemFactory(team=personas.team, name="S", created_by=personas.risk_owner)
    a = make_assessment(ai_system=system, version=version, actor=personas.risk_owner)
    response = a.responses.order_by("id").first()
    assessment_services.response_save(
        response=response, expected_version=response.version, actor=personas.risk_owner,
        status="full", justification="Done.",
    )  # fmt: skip

    def twice(user, path, body, fmt="json", count=None):
        c = _client(user, f"key-{path}")
        first = c.post(path, body() if callable(body) else body, format=fmt)
        before = count()
        second = c.post(path, body() if callable(body) else body, format=fmt)
        assert first.status_code in (200, 201, 202), (path, first.content)
        assert second.status_code == first.status_code, path
        assert second.json() == first.json(), path
        assert second["Idempotent-Replayed"] == "true", path
        assert count() == before, path
        return first

    twice(personas.risk_owner, "/api/v1/ai-systems/", _system_body(personas, "Z"),
          count=AISystem.objects.count)  # fmt: skip
    twice(personas.risk_owner, "/api/v1/assessments/",
          {"ai_system": system.pk, "framework_version": version.pk},
          count=Assessment.objects.count)  # fmt: skip
    pdf = lambda: {  # noqa: E731
        "kind": "file", "title": "Policy", "team": personas.team.pk,
        "file": SimpleUploadedFile("p.pdf", PDF),
    }  # fmt: skip
    created = twice(
        personas.risk_owner, "/api/v1/evidence/", pdf, "multipart", EvidenceItem.objects.count
    )
    file_item = created.json()["id"]
    twice(
        personas.risk_owner, f"/api/v1/evidence/{file_item}/revisions/",
        lambda: {"file": SimpleUploadedFile("p2.pdf", PDF + b"%2")}, "multipart",
        EvidenceRevision.objects.count,
    )  # fmt: skip
    twice(personas.auditor, "/api/v1/reviews/",
          {"response": response.pk, "decision": "accepted", "comment": ""},
          count=Review.objects.count)  # fmt: skip
    from reports.models import Report

    twice(personas.manager, f"/api/v1/assessments/{a.pk}/reports/", {}, count=Report.objects.count)


def test_the_schema_documents_the_header_on_every_create():
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    creates = {
        ("/api/v1/ai-systems/", "post"),
        ("/api/v1/assessments/", "post"),
        ("/api/v1/assessments/{id}/reports/", "post"),
        ("/api/v1/evidence/", "post"),
        ("/api/v1/evidence/{id}/revisions/", "post"),
        ("/api/v1/reviews/", "post"),
    }
    with_header = {
        (path, method)
        for path, ops in schema["paths"].items()
        for method, op in ops.items()
        if any(p["name"] == HEADER and p["in"] == "header" for p in op.get("parameters", []))
    }
    assert with_header == creates
    for path, method in creates:
        assert "422" in schema["paths"][path][method]["responses"], path


def test_old_keys_are_pruned_by_the_daily_task(personas):
    c = _client(personas.risk_owner, "to-prune")
    _system(c, personas, "A")
    _system(_client(personas.risk_owner, "fresh"), personas, "B")
    IdempotencyKey.objects.filter(key="to-prune").update(
        created_at=timezone.now() - timedelta(hours=25)
    )
    assert prune_idempotency_keys() == 1
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["fresh"]


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_with_one_key_create_one_object(personas):
    if connection.vendor != "postgresql":
        pytest.skip("the row lock is PostgreSQL's; SQLite serialises writers")
    user = User.objects.get(pk=personas.risk_owner.pk)
    barrier = threading.Barrier(4)
    results: list[tuple[int, dict]] = []

    def post() -> None:
        try:
            c = _client(user, "race")
            barrier.wait()
            r = _system(c, personas, "Raced")
            results.append((r.status_code, r.json()))
        finally:
            connection.close()

    threads = [threading.Thread(target=post) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert AISystem.objects.filter(name="Raced").count() == 1
    assert [code for code, _ in results] == [201] * 4
    assert len({body["id"] for _, body in results}) == 1
