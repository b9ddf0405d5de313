"""A ZIP that holds archives is checked all the way down (evidence/upload.py): a zip of
zip-bombs, archives nested too deep, many small bombs that add up, and compressed formats
that cannot be checked are refused with a clear message, on the page and through the API, and
nothing is stored. Before, only the outer directory was read: a zip of bombs passed, since
each bomb is a small, incompressible-looking entry of the outer one."""

from __future__ import annotations

import gzip
import io
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from rest_framework.test import APIClient

from aigsec.accounts.models import User
from evidence.models import EvidenceItem, EvidenceRevision
from tests.evidence.test_evidence import assert_nothing_stored, upload

pytestmark = pytest.mark.django_db


def zip_of(entries: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as zf:
        for name, content in entries.items():
            zf.writestr(name, content)
    return buf.getvalue()


def bomb() -> bytes:
    """50 MB of zeros in about 50 KB: past the per-entry ratio of 100."""
    return zip_of({"zeros.bin": b"\0" * (50 * 1024 * 1024)})


def nested(depth: int) -> bytes:
    data = zip_of({"note.txt": b"the innermost file"})
    for level in range(depth - 1):
        data = zip_of({f"level{level}.zip": data})
    return data


def _refused(personas, name: str, data: bytes) -> str:
    resp = upload(personas.client(personas.risk_owner), name, data)
    assert resp.status_code == 400, resp.status_code
    assert_nothing_stored()
    return resp.content.decode().replace("&#x27;", "'").replace("&quot;", '"')


def test_a_zip_of_zip_bombs_is_refused(personas):
    outer = zip_of({"a.zip": bomb(), "b.zip": bomb()}, method=zipfile.ZIP_STORED)
    assert len(outer) < 1024 * 1024
    page = _refused(personas, "evidence.zip", outer)
    assert "decompression bomb" in page and "inside a.zip" in page


def test_a_bomb_renamed_to_txt_inside_a_zip_is_found_by_its_content(personas):
    page = _refused(personas, "evidence.zip", zip_of({"notes.txt": bomb()}))
    assert "decompression bomb" in page and "inside notes.txt" in page


def test_archives_nested_too_deep_are_refused(personas):
    page = _refused(personas, "deep.zip", nested(4))
    assert "nested more than 3 deep" in page


def test_a_zip_of_zips_within_the_limits_is_accepted(personas):
    resp = upload(personas.client(personas.risk_owner), "ok.zip", nested(3))
    assert resp.status_code == 302, resp.content
    assert EvidenceRevision.objects.get().content_type == "application/zip"


def test_small_bombs_add_up_across_levels(personas, monkeypatch):
    monkeypatch.setattr("evidence.upload.ZIP_MAX_TOTAL", 100_000)
    inner = zip_of({"part.txt": b"a" * 60_000})  # 60 KB each: each level alone is fine
    outer = zip_of({"one.zip": inner, "two.zip": inner})
    page = _refused(personas, "many.zip", outer)
    assert "would expand to more than" in page


def test_entries_add_up_across_levels(personas, monkeypatch):
    monkeypatch.setattr("evidence.upload.ZIP_MAX_ENTRIES", 5)
    inner = zip_of({f"{i}.txt": b"x" for i in range(3)})
    page = _refused(personas, "many.zip", zip_of({"one.zip": inner, "two.zip": inner}))
    assert "more than 5 entries" in page


def test_a_gzip_inside_a_zip_is_refused_with_what_to_do(personas):
    page = _refused(personas, "logs.zip", zip_of({"app.log.gz": gzip.compress(b"log " * 100)}))
    assert "gzip file (app.log.gz)" in page and "cannot be checked" in page


def test_an_unreadable_inner_zip_is_refused(personas):
    broken = bomb()[:2000]  # the local header, no central directory
    page = _refused(personas, "x.zip", zip_of({"cut.zip": broken}))
    assert "cannot be read" in page


def test_the_api_refuses_a_zip_of_bombs_naming_the_file(personas):
    client = APIClient()
    client.force_authenticate(user=User.objects.get(pk=personas.risk_owner.pk))
    data = io.BytesIO(zip_of({"a.zip": bomb()}, method=zipfile.ZIP_STORED))
    data.name = "evidence.zip"
    resp = client.post(
        "/api/v1/evidence/",
        {"kind": "file", "title": "Bombs", "file": data, "team": personas.team.pk},
        format="multipart",
    )
    assert resp.status_code == 400, resp.content
    assert "decompression bomb" in str(resp.json()["file"])
    assert not EvidenceItem.objects.exists()


def test_a_revision_is_checked_the_same_way(personas):
    c = personas.client(personas.risk_owner)
    assert upload(c, "ok.zip", nested(2)).status_code == 302
    item = EvidenceItem.objects.get()
    f = SimpleUploadedFile("v2.zip", zip_of({"a.zip": bomb()}))
    resp = c.post(reverse("evidence_revision", args=[item.pk]), {"file": f})
    assert resp.status_code == 400
    assert EvidenceRevision.objects.count() == 1
