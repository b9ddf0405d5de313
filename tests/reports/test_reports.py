"""Signed reports: content, PAdES signature checked by pyHanko, pdfsig and the pyhanko CLI,
tamper and foreign-signer rejection, hostile content, failures and idempotent rendering."""

from __future__ import annotations

import hashlib
import io
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from pypdf import PdfReader

from aigsec.audit.models import AuditEvent
from evidence.models import EvidenceRevision
from reports import signing
from reports.models import Report, ReportStatus
from reports.pdfsign import sign_pdf, verify_pdf
from reports.render import html_to_pdf
from reports.services import report_run
from reports.signing import signing_identity
from tests.factories import make_final, make_report_world

pytestmark = pytest.mark.django_db


def _text(data: bytes) -> str:
    return "\n".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(data)).pages)


def _squash(text: str) -> str:
    return "".join(text.split())


def _render(personas, world) -> tuple[Report, bytes]:
    report = Report.objects.create(
        team=personas.team, assessment=world.assessment, requested_by=personas.manager
    )
    report = report_run(report.pk)
    with report.file.open("rb") as fh:
        return report, fh.read()


@pytest.fixture
def world(personas):
    return make_report_world(personas)


@pytest.fixture
def rendered(personas, world):
    return _render(personas, world)


def test_report_is_signed_stored_and_recorded(personas, world, rendered):
    report, data = rendered
    assert report.status == ReportStatus.SIGNED
    assert report.sha256 == hashlib.sha256(data).hexdigest()
    assert report.size == len(data)
    assert report.file.name == f"reports/{personas.team.pk}/{report.uuid}.pdf"
    assert not report.is_final
    assert report.signer_fingerprint == signing_identity().fingerprint
    event = AuditEvent.objects.get(action="report.rendered")
    assert event.data["sha256"] == report.sha256
    assert event.target == f"report:{report.pk}"
    assert report.audit_head_seq is not None and report.audit_head_seq < event.seq


def test_content_has_every_guideline_control_and_evidence_hash(personas, world, rendered):
    report, data = rendered
    text = _text(data)
    flat = _squash(text)
    version = world.assessment.framework_version
    guidelines = list(version.guidelines.order_by("order"))
    assert len(guidelines) == 17
    for g in guidelines:
        assert _squash(g.title) in flat, g.title
    for c in version.controls.all():
        assert _squash(f"{c.ref} {c.title}") in flat, c.ref
    for rev in EvidenceRevision.objects.filter(item__in=world.items):
        assert rev.sha256 in flat  # full hash in the register
        assert rev.sha256[:12] in flat
    for needle in (
        "Acme AI",
        "Fraud model",
        str(report.uuid),
        "DRAFT",
        "Executive summary",
        "Gaps and action plan",
        "Not-applicable register",
        "Evidence register",
        "No third-party models are used.",
        personas.risk_owner.display_name,  # people by name, not by e-mail address
        "(overdue)",
        "Out of date.",
        report.signer_fingerprint,
        "Contents",
    ):
        assert _squash(needle) in flat, needle
    # Page numbers, and the table of contents points at real pages.
    pages = PdfReader(io.BytesIO(data)).pages
    assert f"Page 1 of {len(pages)}" in text
    assert re.search(r"Evidence register\s*\.+\s*\d+", text)


def test_gaps_list_overdue_first(personas, world, rendered):
    _report, data = rendered
    text = _text(data)
    plan = text[text.index("Gaps and action plan", text.index("Gaps and action plan") + 30) :]
    first_row = plan.split("\n")[2:6]
    assert any(world.gap.control.ref in line for line in first_row), first_row


def test_final_assessment_report_says_final(personas, world):
    make_final(world.assessment, personas)  # signed off by a second person, as it must be
    report, data = _render(personas, world)
    assert report.is_final
    text = _text(data)
    assert "FINAL" in text and "DRAFT" not in text


def test_signature_is_valid_pades_over_the_whole_file(rendered):
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    _report, data = rendered
    reader = PdfFileReader(io.BytesIO(data))
    (sig,) = reader.embedded_signatures
    assert sig.sig_object["/SubFilter"] == "/ETSI.CAdES.detached"  # PAdES
    vc = ValidationContext(trust_roots=signing_identity().trust_roots(), allow_fetching=False)
    status = validate_pdf_signature(sig, vc)
    assert status.intact and status.valid and status.trusted
    assert status.coverage.name == "ENTIRE_FILE"
    cert = status.signing_cert
    assert cert.key_usage_value.native == {"digital_signature", "non_repudiation"}


def test_verify_accepts_the_report_and_rejects_a_flipped_byte(rendered):
    _report, data = rendered
    ok = verify_pdf(data)
    assert ok.ok, ok.reason
    assert ok.report_uuid == str(_report.uuid)
    assert ok.claims["team"] == str(_report.team_id)
    # Flip one byte inside the signed content (a page stream), not in the signature itself.
    pos = data.index(b"stream", 2000) + 20
    bad = data[:pos] + bytes([data[pos] ^ 0x01]) + data[pos + 1 :]
    result = verify_pdf(bad)
    assert not result.ok
    assert not result.intact


def test_verify_rejects_appended_content_and_a_foreign_signer(rendered, tmp_path):
    report, data = rendered
    # Bytes after %%EOF: either not covered (refused) or unreadable; never OK.
    assert not verify_pdf(data + b"\n% appended\n").ok
    # The same kind of document, signed by another instance's self-managed CA.
    other_dir = tmp_path / "other-instance"
    other_dir.mkdir()
    signing._generate_self_managed(other_dir)
    foreign = signing._load("", "", [], "", "", str(other_dir))
    assert foreign.fingerprint != report.signer_fingerprint
    html = f'<meta name="keywords" content="aigsec-report:{report.uuid}"><p>Forged</p>'
    forged = sign_pdf(html_to_pdf(html), identity=foreign, report=report, team_name="x")
    assert verify_pdf(forged, identity=foreign).ok  # sound under its own trust root...
    result = verify_pdf(forged)  # ...but not signed by this instance
    assert result.intact and not result.trusted and not result.ok
    assert "Not by this aigsec instance" in result.reason.replace("not by", "Not by")


def test_garbage_and_unsigned_files_are_refused():
    assert not verify_pdf(b"not a pdf at all").ok
    unsigned = html_to_pdf("<p>plain</p>")
    result = verify_pdf(unsigned)
    assert not result.ok and "no signature" in result.reason


def test_pdfsig_accepts_and_rejects(rendered, tmp_path):
    _report, data = rendered
    nss = tmp_path / "nss"
    nss.mkdir()
    ca = tmp_path / "ca.pem"
    call_command("signing_cert", "--out", str(ca), stdout=io.StringIO())
    subprocess.run(["certutil", "-N", "-d", f"sql:{nss}", "--empty-password"], check=True)
    subprocess.run(
        ["certutil", "-A", "-d", f"sql:{nss}", "-n", "aigsec", "-t", "C,C,C", "-i", str(ca)],
        check=True,
    )
    good = tmp_path / "good.pdf"
    good.write_bytes(data)
    out = subprocess.run(
        ["pdfsig", "-nssdir", f"sql:{nss}", str(good)], capture_output=True, text=True
    )
    assert "Signature is Valid" in out.stdout, out.stdout + out.stderr
    assert "Certificate is Trusted" in out.stdout, out.stdout
    assert "Total document signed" in out.stdout
    pos = data.index(b"stream", 2000) + 20
    bad = tmp_path / "bad.pdf"
    bad.write_bytes(data[:pos] + bytes([data[pos] ^ 0x01]) + data[pos + 1 :])
    out = subprocess.run(
        ["pdfsig", "-nssdir", f"sql:{nss}", str(bad)], capture_output=True, text=True
    )
    assert "Signature is Valid" not in out.stdout


def test_pyhanko_cli_validates_with_the_exported_chain(rendered, tmp_path):
    _report, data = rendered
    ca = tmp_path / "chain.pem"
    call_command("signing_cert", "--out", str(ca), stdout=io.StringIO())
    pem = ca.read_text()
    assert "BEGIN CERTIFICATE" in pem and "PRIVATE KEY" not in pem
    good = tmp_path / "good.pdf"
    good.write_bytes(data)
    cli = Path(sys.executable).parent / "pyhanko"
    cmd = [
        str(cli),
        "sign",
        "validate",
        "--trust",
        str(ca),
        "--trust-replace",
        "--no-revocation-check",
    ]
    ok = subprocess.run([*cmd, str(good)], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "INTACT:TRUSTED" in ok.stdout.replace(" ", "") or "TRUSTED" in ok.stdout
    pos = data.index(b"stream", 2000) + 20
    bad = tmp_path / "bad.pdf"
    bad.write_bytes(data[:pos] + bytes([data[pos] ^ 0x01]) + data[pos + 1 :])
    assert subprocess.run([*cmd, str(bad)], capture_output=True, text=True).returncode != 0
