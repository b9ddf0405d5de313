"""Evidence: safe uploads, integrity on download and at rest, revisions, links, withdrawal,
access for every persona, and the list page's query count."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import pytest
from django.conf import settings as dj_settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from aigsec.audit.models import AuditEvent
from assessments.errors import AssessmentLocked
from assessments.models import Assessment, AssessmentStatus
from evidence import services
from evidence.models import EvidenceItem, EvidenceLink, EvidenceRevision
from evidence.upload import sanitise_filename
from tests.factories import make_assessment

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 40


def media_files() -> list[Path]:
    root = Path(dj_settings.MEDIA_ROOT)
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def assert_nothing_stored() -> None:
    assert EvidenceItem.objects.count() == 0
    assert EvidenceRevision.objects.count() == 0
    assert media_files() == []


def upload(client, name: str, data: bytes, **extra):
    f = SimpleUploadedFile(name, data, content_type="application/octet-stream")
    return client.post(
        reverse("evidence_create"), {"kind": "file", "title": "Policy", "file": f, **extra}
    )


def raw_upload(client, filename: str, data: bytes):
    """A multipart body built by hand, so the filename reaches the server unaltered."""
    boundary = "BoUnDaRy"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="kind"\r\n\r\nfile\r\n',
        f'--{boundary}\r\nContent-Disposition: form-data; name="title"\r\n\r\nT\r\n',
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n",
    ]
    body = "".join(parts).encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return client.generic(
        "POST",
        reverse("evidence_create"),
        body,
        content_type=f"multipart/form-data; boundary={boundary}",
    )


def make_file_item(personas, data: bytes = PDF, name: str = "policy.pdf", team=None, **kw):
    return services.evidence_create(
        team=team or personas.team,
        actor=personas.risk_owner,
        kind="file",
        title=kw.pop("title", "Policy"),
        uploaded_file=SimpleUploadedFile(name, data),
        **kw,
    )


def zip_bytes(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for n, content in entries.items():
            zf.writestr(n, content)
    return buf.getvalue()


# --- Uploads --------------------------------------------------------------------------------


def test_pdf_upload_stores_hash_size_type_and_file_under_media_root(personas):
    resp = upload(personas.client(personas.risk_owner), "Policy v1.pdf", PDF)
    assert resp.status_code == 302, resp.content
    rev = EvidenceRevision.objects.get()
    assert rev.sha256 == hashlib.sha256(PDF).hexdigest()
    assert rev.size == len(PDF)
    assert rev.content_type == "application/pdf"
    assert rev.original_name == "Policy v1.pdf"
    assert rev.number == 1
    team_id = personas.team.pk
    assert rev.storage_name.startswith(f"evidence/{team_id}/")
    assert "Policy" not in rev.storage_name
    [stored] = media_files()
    assert stored.read_bytes() == PDF
    assert stored.is_relative_to(Path(dj_settings.MEDIA_ROOT) / "evidence" / str(team_id))
    item = rev.item
    assert item.kind == "file" and item.created_by == personas.risk_owner
    assert item.valid_until is not None
    event = AuditEvent.objects.get(action="evidence.uploaded")
    assert event.data["sha256"] == rev.sha256 and event.team == team_id


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("report.pdf", b"<!DOCTYPE html><html><body>hi</body></html>", "HTML, SVG"),
        ("report.pdf", b"  \n<html><script>alert(1)</script></html>", "HTML, SVG"),
        ("cat.png", b"\x7fELF\x02\x01\x01" + b"\x00" * 100, "not accepted"),
        ("cat.png", b"MZ\x90\x00\x03" + b"\x00" * 100, "not accepted"),
        (
            "logo.svg",
            b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg">'
            b"<script>alert(1)</script></svg>",
            "HTML, SVG",
        ),
        ("logo.txt", b"<svg onload='alert(1)'></svg>", "HTML, SVG"),
        ("image.pdf", PNG, "The file's content is PNG but its name ends in .pdf"),
        ("notes.exe", b"plain text", "The file's content is plain text but its name ends in .exe"),
        ("noext", PDF, "has no extension"),
        ("empty.txt", b"", "empty"),
        ("bin.txt", b"abc\x00def", "not accepted"),
        ("latin1.txt", "caf\xe9".encode("latin-1"), "not accepted"),
    ],
)
def test_malicious_or_mismatched_uploads_are_refused_and_leave_nothing(
    personas, name, data, message
):
    resp = upload(personas.client(personas.risk_owner), name, data)
    assert resp.status_code == 400
    assert message.encode() in resp.content.replace(b"&#x27;", b"'")
    assert_nothing_stored()


def test_zip_bomb_is_refused(personas):
    bomb = zip_bytes({"zeros.txt": b"\0" * (50 * 1024 * 1024)})
    assert len(bomb) < 1024 * 1024
    resp = upload(personas.client(personas.risk_owner), "bomb.zip", bomb)
    assert resp.status_code == 400
    assert b"decompression bomb" in resp.content
    assert_nothing_stored()


@pytest.mark.parametrize("entry", ["../evil.txt", "/etc/passwd", "a/../../b.txt", "C:/x.txt"])
def test_zip_with_unsafe_entry_names_is_refused(personas, entry):
    resp = upload(personas.client(personas.risk_owner), "a.zip", zip_bytes({entry: b"x"}))
    assert resp.status_code == 400
    assert b"unsafe path" in resp.content
    assert_nothing_stored()


def test_zip_with_too_many_entries_is_refused(personas, monkeypatch):
    monkeypatch.setattr("evidence.upload.ZIP_MAX_ENTRIES", 3)
    data = zip_bytes({f"{i}.txt": b"x" for i in range(4)})
    resp = upload(personas.client(personas.risk_owner), "many.zip", data)
    assert resp.status_code == 400
    assert_nothing_stored()


@pytest.mark.parametrize(
    ("name", "entries", "content_type"),
    [
        (
            "doc.docx",
            {"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<w/>"},
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        ),
        (
            "book.xlsx",
            {"[Content_Types].xml": b"<Types/>", "xl/workbook.xml": b"<w/>"},
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ),
        (
            "text.odt",
            {"mimetype": b"application/vnd.oasis.opendocument.text", "content.xml": b"<x/>"},
            "application/vnd.oasis.opendocument.text",
        ),
        ("bundle.zip", {"readme.txt": b"hello"}, "application/zip"),
    ],
)
def test_zip_based_formats_are_told_apart(personas, name, entries, content_type):
    item = make_file_item(personas, zip_bytes(entries), name)
    assert item.revisions.get().content_type == content_type


def test_docx_renamed_zip_is_refused(personas):
    data = zip_bytes({"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<w/>"})
    with pytest.raises(ValidationError, match=r"DOCX\) but its name ends in \.zip"):
        make_file_item(personas, data, "doc.zip")


@pytest.mark.parametrize(
    ("name", "data", "content_type"),
    [
        ("a.png", PNG, "image/png"),
        ("a.jpg", b"\xff\xd8\xff\xe0" + b"\x00" * 20, "image/jpeg"),
        ("a.gif", b"GIF89a" + b"\x00" * 20, "image/gif"),
        ("a.webp", b"RIFF\x10\x00\x00\x00WEBPVP8 " + b"\x00" * 20, "image/webp"),
        ("a.md", "# Título\n".encode(), "text/markdown"),
        ("a.csv", b"a,b\n1,2\n", "text/csv"),
        ("a.json", b'{"a": 1}', "application/json"),
        ("a.yaml", b"a: 1\n", "application/yaml"),
        ("a.txt", b"a < b\n", "text/plain"),
    ],
)
def test_accepted_types(personas, name, data, content_type):
    item = make_file_item(personas, data, name)
    assert item.revisions.get().content_type == content_type


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("../../etc/passwd.txt", "passwd.txt"),
        ("/etc/passwd.txt", "passwd.txt"),
        ("C:\\Windows\\system32\\x.txt", "x.txt"),
        ("a\x00b.txt", "ab.txt"),
        ("a\nb\r\t.txt", "ab.txt"),
        ("..", "file"),
        ("", "file"),
        ("x" * 300 + ".pdf", "x" * 196 + ".pdf"),
    ],
)
def test_sanitise_filename(raw, expected):
    assert sanitise_filename(raw) == expected


@pytest.mark.parametrize(
    "filename", ["../../etc/passwd.txt", "/etc/passwd.txt", "..\\..\\passwd.txt", "pass\x00wd.txt"]
)
def test_path_and_nul_filenames_are_only_metadata(personas, filename):
    resp = raw_upload(personas.client(personas.risk_owner), filename, b"root:x:0:0\n")
    assert resp.status_code == 302, resp.content
    rev = EvidenceRevision.objects.get()
    assert "/" not in rev.original_name and "\\" not in rev.original_name
    assert "\x00" not in rev.original_name and ".." not in rev.original_name
    assert rev.original_name.endswith(".txt")
    [stored] = media_files()
    assert stored.is_relative_to(Path(dj_settings.MEDIA_ROOT) / "evidence")
    assert not (Path(dj_settings.MEDIA_ROOT).parent / "etc").exists()


def test_oversized_upload_is_refused(personas, settings):
    settings.AIGSEC_MAX_UPLOAD_BYTES = 1024
    resp = upload(personas.client(personas.risk_owner), "big.txt", b"a" * 2048)
    assert resp.status_code == 400
    assert b"larger than the limit of 1 KB" in resp.content
    assert_nothing_stored()
    # Exactly at the limit is fine.
    assert upload(personas.client(personas.risk_owner), "ok.txt", b"a" * 1024).status_code == 302


def test_failed_database_write_removes_the_stored_file(personas, monkeypatch):
    def boom(*a, **kw):
        raise RuntimeError("database down")

    monkeypatch.setattr(services, "audit_record", boom)
    with pytest.raises(RuntimeError):
        make_file_item(personas)
    assert_nothing_stored()


def test_link_and_note_evidence(personas):
    c = personas.client(personas.risk_owner)
    resp = c.post(
        reverse("evidence_create"),
        {"kind": "link", "title": "Wiki", "url": "https://wiki.example/policy"},
    )
    assert resp.status_code == 302
    resp = c.post(reverse("evidence_create"), {"kind": "link", "title": "Bad", "url": ""})
    assert resp.status_code == 400
    resp = c.post(reverse("evidence_create"), {"kind": "note", "title": "N", "note": "Done."})
    assert resp.status_code == 302
    assert sorted(EvidenceItem.objects.values_list("kind", flat=True)) == ["link", "note"]
    assert media_files() == []


def test_upload_links_responses_and_defaults_valid_until(personas):
    a = make_assessment(team=personas.team, actor=personas.risk_owner)
    r1, r2 = list(a.responses.all()[:2])
    personas.team.evidence_validity_months = 6
    personas.team.save()
    c = personas.client(personas.risk_owner)
    page = c.get(reverse("evidence_create"))
    assert page.status_code == 200
    expected = services.default_valid_until(personas.team)
    assert expected.isoformat().encode() in page.content
    resp = upload(c, "p.pdf", PDF, responses=[r1.pk, r2.pk])
    assert resp.status_code == 302
    item = EvidenceItem.objects.get()
    assert set(item.links.values_list("response_id", flat=True)) == {r1.pk, r2.pk}
    assert item.valid_until == expected


def test_auditor_and_manager_cannot_upload(personas):
    for user in (personas.auditor, personas.manager):
        c = personas.client(user)
        assert c.get(reverse("evidence_create")).status_code == 403
        assert upload(c, "p.pdf", PDF).status_code == 403
    assert_nothing_stored()


# --- Download and integrity -----------------------------------------------------------------


def test_download_returns_bytes_with_safe_headers(personas):
    item = make_file_item(personas, name="Política «final».pdf")
    resp = personas.client(personas.auditor).get(reverse("evidence_download", args=[item.pk]))
    assert resp.status_code == 200
    assert b"".join(resp.streaming_content) == PDF
    assert resp["Content-Type"] == "application/pdf"
    cd = resp["Content-Disposition"]
    assert cd.startswith('attachment; filename="Politica final.pdf"')
    assert "filename*=UTF-8''Pol%C3%ADtica%20%C2%ABfinal%C2%BB.pdf" in cd
    assert resp["X-Content-Type-Options"] == "nosniff"
    assert resp["Content-Security-Policy"] == "sandbox; default-src 'none'"
    assert resp["Cache-Control"] == "no-store"
    event = AuditEvent.objects.get(action="evidence.downloaded")
    assert event.actor == personas.auditor.pk and event.data["revision"] == 1


def test_altered_file_is_refused_at_download_and_caught_by_verify(personas):
    item = make_file_item(personas)
    rev = item.revisions.get()
    path = Path(dj_settings.MEDIA_ROOT) / rev.storage_name
    path.write_bytes(PDF.replace(b"Catalog", b"Catalox"))
    resp = personas.client(personas.admin).get(reverse("evidence_download", args=[item.pk]))
    assert resp.status_code == 409
    assert b"integrity check" in resp.content
    assert b"Catalox" not in resp.content
    incident = AuditEvent.objects.get(action="evidence.integrity_incident")
    assert incident.data["reason"] == "hash mismatch" and incident.team == personas.team.pk
    assert not AuditEvent.objects.filter(action="evidence.downloaded").exists()

    out = io.StringIO()
    with pytest.raises(CommandError, match="1 of 1"):
        call_command("verify_evidence", stdout=out)
    assert "MISMATCH" in out.getvalue() and rev.storage_name in out.getvalue()


def test_missing_file_is_an_incident_and_verify_reports_it(personas):
    item = make_file_item(personas)
    good = make_file_item(personas, PNG, "ok.png")
    rev = item.revisions.get()
    (Path(dj_settings.MEDIA_ROOT) / rev.storage_name).unlink()
    resp = personas.client(personas.admin).get(reverse("evidence_download", args=[item.pk]))
    assert resp.status_code == 409
    assert AuditEvent.objects.filter(action="evidence.integrity_incident").count() == 1
    out = io.StringIO()
    with pytest.raises(CommandError):
        call_command("verify_evidence", stdout=out)
    assert "MISSING" in out.getvalue()
    assert good.revisions.get().storage_name not in out.getvalue()
    # The periodic task does the same check and records the failure in the audit trail.
    from evidence.tasks import verify_evidence

    assert verify_evidence.apply().get() == {"checked": 2, "failed": 1}
    ev = AuditEvent.objects.filter(action="evidence.verified").latest("seq")
    assert ev.data["failed"] == 1 and rev.storage_name in ev.data["problems"][0]


def test_verify_passes_on_intact_store(personas):
    make_file_item(personas)
    out = io.StringIO()
    call_command("verify_evidence", stdout=out)
    assert "All 1 revisions verified" in out.getvalue()
    assert AuditEvent.objects.filter(action="evidence.verified").exists()


def test_revisions_keep_earlier_files_downloadable(personas):
    item = make_file_item(personas)
    c = personas.client(personas.risk_owner)
    resp = c.post(
        reverse("evidence_revision", args=[item.pk]), {"file": SimpleUploadedFile("v2.png", PNG)}
    )
    assert resp.status_code == 302, resp.content
    r1, r2 = item.revisions.order_by("number")
    assert (r1.number, r2.number) == (1, 2)
    assert r2.sha256 == hashlib.sha256(PNG).hexdigest()
    assert r1.sha256 == hashlib.sha256(PDF).hexdigest()
    latest = c.get(reverse("evidence_download", args=[item.pk]))
    assert b"".join(latest.streaming_content) == PNG
    first = c.get(reverse("evidence_download", args=[item.pk]) + "?revision=1")
    assert b"".join(first.streaming_content) == PDF
    assert c.get(reverse("evidence_download", args=[item.pk]) + "?revision=9").status_code == 404
    assert c.get(reverse("evidence_download", args=[item.pk]) + "?revision=x").status_code == 404
    assert AuditEvent.objects.filter(action="evidence.revision_added").count() == 1
    detail = c.get(reverse("evidence_detail", args=[item.pk]))
    assert r1.sha256.encode() in detail.content and r2.sha256.encode() in detail.content


def test_refused_revision_leaves_nothing(personas):
    item = make_file_item(personas)
    before = media_files()
    resp = personas.client(personas.risk_owner).post(
        reverse("evidence_revision", args=[item.pk]),
        {"file": SimpleUploadedFile("x.png", b"<html>")},
    )
    assert resp.status_code == 400
    assert item.revisions.count() == 1
    assert media_files() == before


# --- Access ---------------------------------------------------------------------------------


def test_stranger_gets_404_everywhere(personas):
    item = make_file_item(personas)
    c = personas.client(personas.stranger)
    a = make_assessment(team=personas.other_team, actor=personas.stranger)
    own_response = a.responses.first()
    assert c.get(reverse("evidence_detail", args=[item.pk])).status_code == 404
    assert c.get(reverse("evidence_download", args=[item.pk])).status_code == 404
    assert (
        c.post(
            reverse("evidence_revision", args=[item.pk]), {"file": SimpleUploadedFile("a.pdf", PDF)}
        ).status_code
        == 404
    )
    for name in ("evidence_link", "evidence_unlink"):
        resp = c.post(reverse(name, args=[item.pk]), {"response": own_response.pk})
        assert resp.status_code == 404
    resp = c.post(reverse("evidence_withdraw", args=[item.pk]), {"reason": "mine now"})
    assert resp.status_code == 404
    assert item.revisions.count() == 1 and not item.links.exists()
    item.refresh_from_db()
    assert item.withdrawn_at is None
    assert not AuditEvent.objects.filter(action="evidence.downloaded").exists()
    assert b"Policy" not in c.get(reverse("evidence_list")).content


def test_link_and_unlink_within_team(personas):
    item = make_file_item(personas)
    a = make_assessment(team=personas.team, actor=personas.risk_owner)
    r = a.responses.first()
    c = personas.client(personas.risk_owner)
    assert c.post(reverse("evidence_link", args=[item.pk]), {"response": r.pk}).status_code == 302
    assert EvidenceLink.objects.filter(item=item, response=r).exists()
    assert AuditEvent.objects.filter(action="evidence.linked").count() == 1
    assert c.post(reverse("evidence_unlink", args=[item.pk]), {"response": r.pk}).status_code == 302
    assert not EvidenceLink.objects.exists()
    assert AuditEvent.objects.filter(action="evidence.unlinked").count() == 1
    # The auditor may look but not link.
    resp = personas.client(personas.auditor).post(
        reverse("evidence_link", args=[item.pk]), {"response": r.pk}
    )
    assert resp.status_code == 403


def test_link_across_teams_is_refused(personas):
    item = make_file_item(personas)
    other = make_assessment(team=personas.other_team, actor=personas.stranger)
    foreign = other.responses.first()
    # Through the web: the other team's response is not found.
    resp = personas.client(personas.admin).post(
        reverse("evidence_link", args=[item.pk]), {"response": foreign.pk}
    )
    assert resp.status_code == 404
    # In the service, whatever the caller: refused.
    with pytest.raises(ValidationError):
        services.evidence_link(item=item, response=foreign, actor=personas.admin)
    with pytest.raises(ValidationError):
        services.evidence_unlink(item=item, response=foreign, actor=personas.admin)
    with pytest.raises(ValidationError):
        make_file_item(personas, responses=[foreign])
    assert not EvidenceLink.objects.exists()


def test_link_to_locked_assessment_is_refused(personas):
    a = make_assessment(team=personas.team, actor=personas.risk_owner)
    r = a.responses.first()
    item = make_file_item(personas, responses=[r])
    Assessment.objects.filter(pk=a.pk).update(
        status=AssessmentStatus.FINAL, finalised_at="2026-01-01T00:00:00Z"
    )
    r.refresh_from_db()
    with pytest.raises(AssessmentLocked):
        services.evidence_unlink(item=item, response=r, actor=personas.risk_owner)
    other = a.responses.exclude(pk=r.pk).first()
    resp = personas.client(personas.risk_owner).post(
        reverse("evidence_link", args=[item.pk]), {"response": other.pk}, follow=True
    )
    assert b"final and locked" in resp.content
    assert list(item.links.values_list("response_id", flat=True)) == [r.pk]


def test_withdraw_requires_admin_and_reason_and_deletes_nothing(personas):
    item = make_file_item(personas)
    url = reverse("evidence_withdraw", args=[item.pk])
    assert personas.client(personas.risk_owner).post(url, {"reason": "x"}).status_code == 403
    c = personas.client(personas.admin)
    assert c.post(url, {"reason": "  "}).status_code == 400
    item.refresh_from_db()
    assert item.withdrawn_at is None
    with pytest.raises(ValidationError):
        services.evidence_withdraw(item=item, actor=personas.admin, reason="")
    assert c.post(url, {"reason": "Superseded by the 2027 policy"}).status_code == 302
    item.refresh_from_db()
    assert item.withdrawn_at and item.withdrawn_reason == "Superseded by the 2027 policy"
    assert item.revisions.count() == 1 and len(media_files()) == 1
    assert AuditEvent.objects.get(action="evidence.withdrawn").data["reason"]
    # Still downloadable for the record; no more revisions.
    assert c.get(reverse("evidence_download", args=[item.pk])).status_code == 200
    with pytest.raises(ValidationError):
        services.evidence_add_revision(
            item=item, actor=personas.admin, uploaded_file=SimpleUploadedFile("b.pdf", PDF)
        )


# --- Freshness and the list page ------------------------------------------------------------


def test_freshness_badges(personas):
    import datetime as dt

    from django.utils import timezone

    today = timezone.localdate()
    for title, days in (("Alpha", 200), ("Bravo", 10), ("Charlie", -1)):
        services.evidence_create(
            team=personas.team,
            actor=personas.risk_owner,
            kind="note",
            title=title,
            note="n",
            collected_on=today - dt.timedelta(days=400),
            valid_until=today + dt.timedelta(days=days),
        )
    c = personas.client(personas.auditor)
    body = c.get(reverse("evidence_list")).content.decode()
    assert "badge-ok" in body and "badge-warn" in body and "badge-bad" in body
    expired = c.get(reverse("evidence_list") + "?freshness=expired").content.decode()
    assert "Charlie" in expired and "Alpha" not in expired and "Bravo" not in expired


def _list_queries(client) -> int:
    with CaptureQueriesContext(connection) as ctx:
        resp = client.get(reverse("evidence_list"))
    assert resp.status_code == 200
    return len(ctx.captured_queries)


def test_list_query_count_does_not_grow_with_items(personas):
    a = make_assessment(team=personas.team, actor=personas.risk_owner)
    r = a.responses.first()
    c = personas.client(personas.auditor)
    make_file_item(personas, responses=[r])
    one = _list_queries(c)
    for i in range(14):
        make_file_item(personas, title=f"Item {i}", responses=[r])
    assert EvidenceItem.objects.count() == 15
    # session, user, memberships (current team), membership check, count, the page of items
    # with counts and owners, latest revisions: the same whatever the number of items.
    assert _list_queries(c) == one == 7
