"""Exports of an assessment (CSV, XLSX, OSCAL assessment-results): content, the OSCAL file
loaded by compliance-trestle, the spreadsheet formula guard, a query count that does not grow
with the assessment, access (stranger, anonymous, every role), bad formats, and the audit event.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.test import APIClient

from aigsec.accounts.models import User
from aigsec.accounts.services import api_token_create
from aigsec.audit.models import AuditEvent
from assessments import services
from assessments.exports import (
    EVIDENCE_COLUMNS,
    RESPONSE_COLUMNS,
    XLSX_TYPE,
    safe_cell,
)
from assessments.frameworks import framework_to_oscal
from assessments.models import Response, ResponseStatus
from evidence.services import evidence_create, evidence_withdraw
from reviews.services import review_create
from tests.factories import make_assessment, make_framework_version

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
PDF_SHA = hashlib.sha256(PDF).hexdigest()
EVIL = {  # justification -> what the cell must start with once guarded
    '=HYPERLINK("http://evil.test","x")': "'=HYPERLINK",
    "+1+cmd|' /C calc'!A0": "'+1",
    "-2+3": "'-2",
    "@SUM(A1:A2)": "'@SUM",
    "=cmd|' /C calc'!A0": "'=cmd",  # DDE
}


def html_url(a, fmt: str) -> str:
    return reverse("assessment_export", kwargs={"pk": a.pk, "fmt": fmt})


def api_url(a, fmt: str | None = None) -> str:
    url = f"/api/v1/assessments/{a.pk}/export/"
    return url if fmt is None else f"{url}?format={fmt}"


def api_client(user: User | None) -> APIClient:
    c = APIClient()
    if user is not None:
        c.force_authenticate(user=User.objects.get(pk=user.pk))
    return c


def answer(r: Response, actor: User, status: str, justification: str = "", **kw) -> Response:
    r.refresh_from_db()
    return services.response_save(
        response=r,
        expected_version=r.version,
        actor=actor,
        status=status,
        justification=justification,
        **kw,
    )


def file_evidence(personas, title: str, responses, data: bytes = PDF, **kw):
    return evidence_create(
        team=personas.team,
        actor=personas.risk_owner,
        kind="file",
        title=title,
        uploaded_file=SimpleUploadedFile("policy.pdf", data),
        responses=responses,
        **kw,
    )


@pytest.fixture
def rich(personas):
    """A 2x2x2 assessment: answers of every kind, owners, due dates, reviews, evidence (a file
    on two controls, a note, a link, a withdrawn file that must not appear) and hostile text."""
    a = make_assessment(team=personas.team, actor=personas.risk_owner, title="Q3 review")
    rs = list(a.responses.select_related("control").order_by("control__order"))
    ro = personas.risk_owner
    due = dt.date(2031, 1, 15)
    answer(rs[0], ro, ResponseStatus.FULL, "All done.", owner=ro, due_date=due)
    answer(rs[1], ro, ResponseStatus.NOT_APPLICABLE, "No training data of our own.")
    for r, evil in zip(rs[2:7], EVIL, strict=True):
        answer(r, ro, ResponseStatus.PARTIAL, evil)
    policy = file_evidence(
        personas,
        "Security policy",
        [rs[0], rs[2]],
        collected_on=dt.date(2030, 2, 1),
        valid_until=dt.date(2031, 2, 1),
    )
    note = evidence_create(
        team=personas.team,
        actor=ro,
        kind="note",
        title="@Interview notes",
        note="Talked to the ML lead.",
        responses=[rs[1]],
    )
    evidence_create(
        team=personas.team,
        actor=ro,
        kind="link",
        title="Runbook",
        url="https://wiki.example/runbook",
        responses=[rs[0]],
    )
    gone = file_evidence(personas, "Withdrawn thing", [rs[0]], data=PDF + b"%gone\n")
    evidence_withdraw(item=gone, actor=ro, reason="Wrong file")
    review_create(reviewer=personas.auditor, decision="accepted", comment="", response=rs[0])
    review_create(
        reviewer=personas.auditor, decision="rejected", comment="Too old.", evidence=policy
    )
    return {"a": a, "responses": rs, "policy": policy, "note": note, "gone": gone}


def csv_rows(content: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(content.decode("utf-8"))))


# --- Content ------------------------------------------------------------------------------------


def test_csv_has_every_control_owner_review_and_evidence_hash(personas, rich):
    a = rich["a"]
    resp = personas.client(personas.manager).get(html_url(a, "csv"))
    assert resp.status_code == 200
    assert resp["Content-Type"] == "text/csv; charset=utf-8"
    assert resp["Content-Disposition"] == (
        f'attachment; filename="aigsec-{personas.team.slug}-assessment-{a.pk}.csv"'
    )
    assert resp["Cache-Control"] == "no-store"
    text = resp.content.decode("utf-8")
    assert text.splitlines()[0] == ",".join(RESPONSE_COLUMNS)
    rows = csv_rows(resp.content)
    refs = [c.ref for c in a.framework_version.controls.order_by("order")]
    assert [r["Control ref"] for r in rows] == refs
    first = rows[0]
    assert first["Status"] == "Fully implemented"
    assert first["Owner"] == personas.risk_owner.email
    assert first["Due date"] == "2031-01-15"
    assert first["Review decision"] == "Accepted"
    assert first["Reviewer"] == personas.auditor.email
    assert first["Pillar"] == "1 Pillar 1" and first["Guideline"] == "1.1 Guideline 1.1"
    # Evidence by title, one line each, revision and hash on the same line; no withdrawn item.
    assert first["Evidence"].splitlines() == ["Runbook", "Security policy"]
    assert first["Evidence revision"].splitlines() == ["", "1"]
    assert first["Evidence SHA-256"].splitlines() == ["", PDF_SHA]
    assert "Withdrawn thing" not in text
    assert rows[1]["Status"] == "Not applicable"
    assert rows[1]["Evidence"] == "'@Interview notes"  # guarded too
    assert rows[2]["Evidence SHA-256"] == PDF_SHA
    assert rows[7]["Status"] == "Not started" and rows[7]["Review decision"] == "Pending"


def test_csv_and_xlsx_cells_cannot_start_a_formula(personas, rich):
    a = rich["a"]
    client = personas.client(personas.auditor)
    rows = csv_rows(client.get(html_url(a, "csv")).content)
    justifications = [r["Justification"] for r in rows[2:7]]
    for cell, (evil, start) in zip(justifications, EVIL.items(), strict=True):
        assert cell == "'" + evil and cell.startswith(start)

    wb = openpyxl.load_workbook(io.BytesIO(client.get(html_url(a, "xlsx")).content))
    ws = wb["Responses"]
    col = RESPONSE_COLUMNS.index("Justification") + 1
    cells = [ws.cell(row=i, column=col) for i in range(4, 9)]
    for cell, (evil, _start) in zip(cells, EVIL.items(), strict=True):
        assert cell.value == "'" + evil
        assert cell.data_type == "s"  # text, not a formula
    assert not any(c.data_type == "f" for row in ws.iter_rows() for c in row)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@A1", "'@A1"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("\x01=1", "'=1"),  # a control character cannot hide the formula
        ("a=1", "a=1"),
        ("", ""),
        (5, 5),
        (dt.date(2030, 1, 1), dt.date(2030, 1, 1)),
    ],
)
def test_safe_cell(value, expected):
    assert safe_cell(value) == expected


def test_xlsx_has_responses_and_evidence_sheets(personas, rich):
    a = rich["a"]
    resp = personas.client(personas.risk_owner).get(html_url(a, "xlsx"))
    assert resp.status_code == 200
    assert resp["Content-Type"] == XLSX_TYPE
    assert resp["Content-Disposition"].endswith(f'-assessment-{a.pk}.xlsx"')
    wb = openpyxl.load_workbook(io.BytesIO(resp.content))
    assert wb.sheetnames == ["Responses", "Evidence"]
    ws = wb["Responses"]
    assert [c.value for c in ws[1]] == RESPONSE_COLUMNS
    assert ws.freeze_panes == "A2"
    refs = [ws.cell(row=i, column=1).value for i in range(2, ws.max_row + 1)]
    assert refs == [c.ref for c in a.framework_version.controls.order_by("order")]
    first = {h: c.value for h, c in zip(RESPONSE_COLUMNS, ws[2], strict=True)}
    assert first["Owner"] == personas.risk_owner.email
    assert first["Due date"] == dt.datetime(2031, 1, 15)  # a real date cell
    assert first["Review decision"] == "Accepted"
    assert PDF_SHA in first["Evidence SHA-256"]

    ev = wb["Evidence"]
    assert [c.value for c in ev[1]] == EVIDENCE_COLUMNS
    assert ev.freeze_panes == "A2"
    rows = {
        r[0]: dict(zip(EVIDENCE_COLUMNS, r, strict=True))
        for r in ev.iter_rows(min_row=2, values_only=True)
    }
    assert set(rows) == {"'@Interview notes", "Runbook", "Security policy"}
    policy = rows["Security policy"]
    assert policy["SHA-256"] == PDF_SHA
    assert policy["Revision"] == 1 and policy["Size (bytes)"] == len(PDF)
    assert policy["Media type"] == "application/pdf"
    assert policy["Collected"] == dt.datetime(2030, 2, 1)
    assert policy["Valid until"] == dt.datetime(2031, 2, 1)
    assert policy["Review decision"] == "Rejected"
    assert policy["Controls"] == "1.1.1, 1.2.1"
    assert rows["Runbook"]["SHA-256"] is None and rows["Runbook"]["Kind"] == "link"


def test_xlsx_survives_control_characters_and_huge_answers(personas):
    a = make_assessment(team=personas.team, actor=personas.risk_owner)
    r = a.responses.order_by("control__order").first()
    answer(r, personas.risk_owner, ResponseStatus.PARTIAL, "bell\x07 " + "x" * 40_000)
    resp = personas.client(personas.admin).get(html_url(a, "xlsx"))
    assert resp.status_code == 200
    ws = openpyxl.load_workbook(io.BytesIO(resp.content))["Responses"]
    cell = ws.cell(row=2, column=RESPONSE_COLUMNS.index("Justification") + 1).value
    assert cell.startswith("bell x") and len(cell) < 32_767


# --- OSCAL --------------------------------------------------------------------------------------


def value(x):
    """trestle types some fields as `pattern-checked str | Enum`: either may come back."""
    return getattr(x, "value", x)


def trestle_load(content: bytes, tmp_path):
    """Load the file the way trestle loads any OSCAL file (it raises on an invalid one)."""
    from trestle.oscal.assessment_results import AssessmentResults

    path = tmp_path / "assessment-results.json"
    path.write_bytes(content)
    return AssessmentResults.oscal_read(path)


def test_oscal_loads_in_trestle_with_findings_observations_and_hashes(personas, rich, tmp_path):
    a = rich["a"]
    resp = personas.client(personas.manager).get(html_url(a, "oscal"))
    assert resp.status_code == 200
    assert resp["Content-Type"] == "application/json"
    assert resp["Content-Disposition"].endswith(f'-assessment-{a.pk}.oscal.json"')
    ar = trestle_load(resp.content, tmp_path)

    assert ar.metadata.oscal_version.root.root == "1.1.2"
    resources = {str(r.uuid): r for r in ar.back_matter.resources}
    assert ar.import_ap.href.startswith("#") and ar.import_ap.href[1:] in resources
    [result] = ar.results
    findings = result.findings
    controls = list(a.framework_version.controls.order_by("order"))
    assert len(findings) == len(controls)

    # Target ids are the statement parts of aigsec's OSCAL catalog of the same version.
    catalog = framework_to_oscal(a.framework_version)["catalog"]
    statement_ids = {
        part["id"]
        for p in catalog["groups"]
        for g in p["groups"]
        for c in g["controls"]
        for part in c["parts"]
        if part["name"] == "statement"
    }
    assert {f.target.target_id for f in findings} == statement_ids
    state = {f.target.target_id: value(f.target.status.state) for f in findings}
    assert state["control-1.1.1_smt"] == "satisfied"  # fully implemented
    assert state["control-1.1.2_smt"] == "satisfied"  # not applicable, with a remark
    assert all(state[f"control-{c.ref}_smt"] == "not-satisfied" for c in controls[2:])
    na = next(f for f in findings if f.target.target_id == "control-1.1.2_smt")
    assert value(na.target.implementation_status.state) == "not-applicable"
    assert "No training data of our own." in na.target.status.remarks
    first = findings[0]
    props = {p.name: p.value for p in first.props}
    assert props["owner"] == personas.risk_owner.email
    assert props["review-decision"] == "accepted"
    assert props["reviewer"] == personas.auditor.email
    assert props["due-date"] == "2031-01-15"

    # One observation per evidence item, each pointing at a back-matter resource.
    observations = {str(o.uuid): o for o in result.observations}
    assert {o.title for o in observations.values()} == {
        "Security policy",
        "Runbook",
        "@Interview notes",
    }
    assert {str(ro.observation_uuid) for ro in first.related_observations} <= set(observations)
    policy = next(o for o in observations.values() if o.title == "Security policy")
    assert policy.collected == dt.datetime(2030, 2, 1, tzinfo=dt.UTC)
    assert policy.expires.date() == dt.date(2031, 2, 1)
    href = policy.relevant_evidence[0].href
    resource = resources[href[1:]]
    [rlink] = resource.rlinks
    assert value(rlink.hashes[0].algorithm) == "SHA-256"
    assert rlink.hashes[0].value == PDF_SHA
    assert rlink.href == f"http://testserver/evidence/{rich['policy'].pk}/download/?revision=1"
    assert "Withdrawn thing" not in resp.content.decode()


def test_oscal_is_stable_across_exports_and_tracks_changes(personas, rich):
    a = rich["a"]
    client = personas.client(personas.auditor)
    first = client.get(html_url(a, "oscal")).content
    assert client.get(html_url(a, "oscal")).content == first  # same bytes, same uuids
    api = api_client(personas.auditor).get(api_url(a, "oscal")).content
    assert api == first
    rs = rich["responses"]
    answer(rs[7], personas.risk_owner, ResponseStatus.FULL, "Now done.")
    later = json.loads(client.get(html_url(a, "oscal")).content)
    before = json.loads(first)
    assert later["assessment-results"]["uuid"] == before["assessment-results"]["uuid"]
    assert (
        later["assessment-results"]["metadata"]["last-modified"]
        > before["assessment-results"]["metadata"]["last-modified"]
    )
    # Another assessment has other uuids.
    other = make_assessment(team=personas.team, actor=personas.risk_owner)
    doc = json.loads(client.get(html_url(other, "oscal")).content)
    assert doc["assessment-results"]["uuid"] != before["assessment-results"]["uuid"]


def test_oscal_of_an_assessment_without_evidence_loads(personas, tmp_path):
    a = make_assessment(team=personas.team, actor=personas.risk_owner)
    resp = personas.client(personas.risk_owner).get(html_url(a, "oscal"))
    ar = trestle_load(resp.content, tmp_path)
    assert ar.results[0].observations is None
    assert len(ar.results[0].findings) == a.responses.count()


# --- Query count --------------------------------------------------------------------------------


def _populate(personas, a) -> None:
    """Answer every control and give each its own evidence file."""
    for i, r in enumerate(a.responses.order_by("control__order")):
        answer(r, personas.risk_owner, ResponseStatus.LARGELY, owner=personas.risk_owner)
        file_evidence(personas, f"Evidence {i}", [r], data=PDF + f"%{i}\n".encode())
        review_create(reviewer=personas.auditor, decision="accepted", comment="", response=r)


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "oscal"])
def test_query_count_does_not_grow_with_the_assessment(
    personas, fmt, django_assert_max_num_queries
):
    small = make_assessment(team=personas.team, actor=personas.risk_owner)  # 8 controls
    large = make_assessment(
        team=personas.team,
        actor=personas.risk_owner,
        version=make_framework_version(3, 3, 4),  # 36 controls
    )
    _populate(personas, small)
    _populate(personas, large)
    counts = []
    for a in (small, large):
        client = personas.client(User.objects.get(pk=personas.manager.pk))
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(html_url(a, fmt)).status_code == 200
        counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1], counts
    # Middleware: session, user, MFA device, current membership (4). The export: assessment
    # with team, AI system and framework (door), memberships (door), responses, response
    # reviews, evidence links with items, latest revisions, item reviews (export_data), then
    # the audit append: savepoint, head lock, insert, head update, release (5).
    client = personas.client(User.objects.get(pk=personas.manager.pk))
    with django_assert_max_num_queries(16):
        client.get(html_url(large, fmt))


# --- Access -------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["risk_owner", "auditor", "manager", "admin"])
def test_every_team_member_may_export(personas, rich, role):
    user = getattr(personas, role)
    for fmt in ("csv", "xlsx", "oscal"):
        assert personas.client(user).get(html_url(rich["a"], fmt)).status_code == 200
        assert api_client(user).get(api_url(rich["a"], fmt)).status_code == 200


def test_stranger_gets_404_and_is_recorded(personas, rich):
    a = rich["a"]
    denied = AuditEvent.objects.filter(action="access.denied").count()
    for fmt in ("csv", "xlsx", "oscal", "nope"):
        resp = personas.client(personas.stranger).get(html_url(a, fmt))
        assert resp.status_code == 404
        assert a.ai_system.name.encode() not in resp.content
        api = api_client(personas.stranger).get(api_url(a, fmt))
        assert api.status_code == 404
        assert a.ai_system.name.encode() not in api.content
    assert api_client(personas.stranger).get(api_url(a)).status_code == 404  # no format either
    assert AuditEvent.objects.filter(action="access.denied").count() == denied + 9
    assert not AuditEvent.objects.filter(action="export.downloaded").exists()


def test_anonymous_is_sent_to_login_or_gets_401(rich, client):
    resp = client.get(html_url(rich["a"], "csv"))
    assert resp.status_code == 302 and resp["Location"].startswith(reverse("login"))
    assert APIClient().get(api_url(rich["a"], "csv")).status_code == 401
    assert not AuditEvent.objects.filter(action="export.downloaded").exists()


def test_bad_or_missing_format(personas, rich):
    a = rich["a"]
    resp = personas.client(personas.manager).get(html_url(a, "pdf"))
    assert resp.status_code == 404
    assert "Unknown export format “pdf”. Use one of: csv, xlsx, oscal." in resp.content.decode()
    c = api_client(personas.manager)
    resp = c.get(api_url(a, "pdf"))
    assert resp.status_code == 400
    assert resp.json() == {"format": ["Unknown export format “pdf”. Use one of: csv, xlsx, oscal."]}
    resp = c.get(api_url(a))
    assert resp.status_code == 400 and "Required" in resp.json()["format"][0]
    assert c.get(api_url(a, "json")).status_code == 400  # a DRF renderer name is no export
    assert resp["Content-Type"] == "application/json"
    assert not AuditEvent.objects.filter(action="export.downloaded").exists()


def test_api_serves_files_whatever_the_accept_header(personas, rich):
    c = api_client(personas.manager)
    resp = c.get(api_url(rich["a"], "csv"), HTTP_ACCEPT="text/csv")
    assert resp.status_code == 200
    assert resp["Content-Type"] == "text/csv; charset=utf-8"
    assert resp["Cache-Control"] == "no-store"
    assert csv_rows(resp.content)[0]["Owner"] == personas.risk_owner.email
    resp = c.get(api_url(rich["a"], "xlsx"), HTTP_ACCEPT=XLSX_TYPE)
    assert resp.status_code == 200 and resp["Content-Type"] == XLSX_TYPE


def test_read_only_token_can_export(personas, rich):
    _, secret = api_token_create(user=personas.auditor, name="exports", read_only=True)
    c = APIClient()
    c.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert c.get(api_url(rich["a"], "oscal")).status_code == 200


# --- Audit and page -----------------------------------------------------------------------------


def test_each_download_is_audited_with_the_hash_of_the_bytes(personas, rich):
    a = rich["a"]
    html = personas.client(personas.manager).get(html_url(a, "xlsx"))
    api = api_client(personas.auditor).get(api_url(a, "csv"))
    events = list(AuditEvent.objects.filter(action="export.downloaded").order_by("seq"))
    assert len(events) == 2
    for event, resp, user, fmt in (
        (events[0], html, personas.manager, "xlsx"),
        (events[1], api, personas.auditor, "csv"),
    ):
        assert event.actor == user.pk
        assert event.team == personas.team.pk
        assert event.target == f"assessment:{a.pk}"
        assert event.data == {
            "format": fmt,
            "sha256": hashlib.sha256(resp.content).hexdigest(),
            "size": len(resp.content),
        }


def test_assessment_page_links_the_exports(personas, rich):
    a = rich["a"]
    body = personas.client(personas.auditor).get(reverse("assessment_detail", args=[a.pk]))
    for fmt in ("csv", "xlsx", "oscal"):
        assert html_url(a, fmt).encode() in body.content
