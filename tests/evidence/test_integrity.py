"""Downloads re-check the stored file (aigsec.core.integrity), for evidence and reports alike:
a missing or changed file is never served, answers 409 (page and API), and is recorded once
in the audit trail as the incident of its kind, with who asked; a good file is served whole.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from django.conf import settings as dj_settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.http import StreamingHttpResponse
from django.urls import reverse
from rest_framework.test import APIClient

from aigsec.audit.models import AuditEvent
from aigsec.core.integrity import (
    MISMATCH,
    MISSING,
    Incident,
    IntegrityFailure,
    open_verified,
    read_verified,
)
from reports.services import report_request, report_run
from tests.evidence.test_evidence import PDF, make_file_item
from tests.factories import make_report_world

pytestmark = pytest.mark.django_db

INCIDENT = Incident(
    action="thing.integrity_incident",
    team=None,
    target="thing:1",
    data={"thing": 1},
    message="Thing failed its integrity check ({reason}).",
)


def _api(user) -> APIClient:
    c = APIClient()
    c.force_authenticate(user=user)
    return c


def _stored(data: bytes) -> str:
    return default_storage.save("integrity-test/thing.bin", ContentFile(data))


def _events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("seq"))


# --- The helper -------------------------------------------------------------------------------


def test_a_good_file_is_served_whole_and_nothing_is_recorded(personas):
    data = b"x" * (200 * 1024 + 7)  # several chunks
    name = _stored(data)
    sha = hashlib.sha256(data).hexdigest()
    verified = open_verified(name, sha, incident=INCIDENT, actor=personas.admin)
    assert b"".join(verified) == data
    assert read_verified(name, sha, incident=INCIDENT) == data
    assert not _events("thing.integrity_incident")


@pytest.mark.parametrize("read", [open_verified, read_verified])
def test_a_changed_or_missing_file_is_recorded_then_refused(personas, read):
    name = _stored(b"the file on record")
    sha = hashlib.sha256(b"the file on record").hexdigest()
    (Path(dj_settings.MEDIA_ROOT) / name).write_bytes(b"the file on recorD")
    with pytest.raises(IntegrityFailure) as exc:
        read(name, sha, incident=INCIDENT, actor=personas.admin)
    assert exc.value.reason == MISMATCH
    assert str(exc.value) == (
        "Thing failed its integrity check (its content no longer matches the recorded SHA-256)."
    )
    default_storage.delete(name)
    with pytest.raises(IntegrityFailure) as exc:
        read(name, sha, incident=INCIDENT, actor=personas.admin)
    assert exc.value.reason == MISSING
    assert "(the stored file is missing)" in str(exc.value)
    events = _events("thing.integrity_incident")
    assert [e.data for e in events] == [
        {"thing": 1, "reason": MISMATCH},
        {"thing": 1, "reason": MISSING},
    ]
    assert {(e.actor, e.target) for e in events} == {(personas.admin.pk, "thing:1")}


def test_a_streamed_download_closes_the_file_even_if_never_read(personas):
    data = b"unread"
    name = _stored(data)
    verified = open_verified(name, hashlib.sha256(data).hexdigest(), incident=INCIDENT)
    resp = StreamingHttpResponse(verified)
    assert not verified._fh.closed
    resp.close()
    assert verified._fh.closed


# --- Reports --------------------------------------------------------------------------------


@pytest.fixture
def report(personas):
    world = make_report_world(personas, bundled=False)
    return report_run(report_request(assessment=world.assessment, actor=personas.manager)[0].pk)


def test_a_changed_report_is_refused_by_page_and_api(personas, report):
    path = Path(report.file.path)
    data = bytearray(path.read_bytes())
    data[500] ^= 1
    path.write_bytes(bytes(data))
    page = personas.client(personas.manager).get(reverse("report_download", args=[report.pk]))
    assert page.status_code == 409
    assert page["Content-Type"] == "text/plain; charset=utf-8"
    assert b"failed its integrity check" in page.content and b"%PDF" not in page.content
    api = _api(personas.auditor).get(f"/api/v1/reports/{report.pk}/download/")
    assert api.status_code == 409
    assert "failed its integrity check" in api.json()["detail"]
    events = _events("report.integrity_failed")
    assert [(e.actor, e.team, e.target, e.data["reason"]) for e in events] == [
        (personas.manager.pk, personas.team.pk, f"report:{report.pk}", MISMATCH),
        (personas.auditor.pk, personas.team.pk, f"report:{report.pk}", MISMATCH),
    ]
    assert events[0].data["expected"] == report.sha256
    assert not _events("report.downloaded")


def test_a_missing_report_file_is_a_409_not_a_500(personas, report):
    Path(report.file.path).unlink()
    page = personas.client(personas.manager).get(reverse("report_download", args=[report.pk]))
    assert page.status_code == 409
    assert b"the stored file is missing" in page.content
    assert _api(personas.manager).get(f"/api/v1/reports/{report.pk}/download/").status_code == 409
    assert [e.data["reason"] for e in _events("report.integrity_failed")] == [MISSING, MISSING]
    assert not _events("report.downloaded")


def test_a_good_report_is_served_and_its_download_recorded(personas, report):
    resp = _api(personas.risk_owner).get(f"/api/v1/reports/{report.pk}/download/")
    assert resp.status_code == 200
    assert hashlib.sha256(resp.content).hexdigest() == report.sha256
    assert resp["Content-Length"] == str(len(resp.content))
    assert not _events("report.integrity_failed")
    assert [e.actor for e in _events("report.downloaded")] == [personas.risk_owner.pk]


# --- Evidence -------------------------------------------------------------------------------


def test_a_changed_evidence_file_is_refused_by_the_api_too(personas):
    item = make_file_item(personas)
    rev = item.revisions.get()
    (Path(dj_settings.MEDIA_ROOT) / rev.storage_name).write_bytes(PDF + b"%")
    resp = _api(personas.auditor).get(f"/api/v1/evidence/{item.pk}/download/")
    assert resp.status_code == 409
    assert resp.json() == {
        "detail": "Revision 1 of this evidence failed its integrity check (its content no "
        "longer matches the recorded SHA-256); it will not be served. Administrators have "
        "been notified."
    }
    [event] = _events("evidence.integrity_incident")
    assert event.actor == personas.auditor.pk and event.team == personas.team.pk
    assert event.data == {"revision": 1, "sha256": rev.sha256, "reason": MISMATCH}
    assert not _events("evidence.downloaded")
