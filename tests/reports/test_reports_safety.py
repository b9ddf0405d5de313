"""Reports under attack and under failure: hostile user text, the URL fetcher's wall, broken
signing configuration, redelivered tasks, the command line, an organisation's own key, and an
RFC 3161 timestamp from a (local) timestamp authority."""

from __future__ import annotations

import datetime as dt
import io
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from asn1crypto import keys as asn1_keys
from asn1crypto import tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from django.core.management import CommandError, call_command
from django.utils import timezone
from pypdf import PdfReader

from aigsec.audit.models import AuditEvent
from reports import signing
from reports.models import Report, ReportStatus
from reports.pdfsign import verify_pdf
from reports.render import SafeURLFetcher, html_to_pdf
from reports.services import _claim, report_run
from tests.factories import make_report_world

pytestmark = pytest.mark.django_db

HOSTILE = (
    '<img src="file:///etc/passwd"><link rel=attachment href="file:///etc/hostname">'
    "<style>@import url(http://169.254.169.254/latest/meta-data/);</style>"
    '<object data="file:///etc/shadow"></object><script>alert(1)</script>'
)


def _text(data: bytes) -> str:
    return "\n".join(p.extract_text() or "" for p in PdfReader(io.BytesIO(data)).pages)


def _report(personas, world) -> Report:
    return Report.objects.create(
        team=personas.team, assessment=world.assessment, requested_by=personas.manager
    )


def test_hostile_answers_are_printed_as_text_and_fetch_nothing(personas):
    world = make_report_world(personas, system_name=HOSTILE[:150], hostile=HOSTILE, bundled=False)
    report = report_run(_report(personas, world).pk)
    assert report.status == ReportStatus.SIGNED
    data = report.file.open("rb").read()
    text = "".join(_text(data).split())
    assert "<imgsrc=" in text and "@importurl(http://169.254.169.254" in text
    assert "root:x:0:0" not in text
    assert Path("/etc/hostname").read_text().strip() not in _text(data).split()
    # Nothing was attached or embedded beyond the report's own fonts.
    assert b"/EmbeddedFile" not in data and b"/FileAttachment" not in data


def test_the_fetcher_blocks_files_and_network_even_in_raw_markup():
    fetcher = SafeURLFetcher()
    start = time.monotonic()
    pdf = html_to_pdf(f"<p>raw</p>{HOSTILE}<img src='http://10.255.255.1/x.png'>", fetcher)
    elapsed = time.monotonic() - start
    text = _text(pdf)
    assert "root:x:0:0" not in text
    assert b"/EmbeddedFile" not in pdf
    blocked = " ".join(fetcher.blocked)
    assert "file:///etc/passwd" in blocked
    assert "169.254.169.254" in blocked
    assert "10.255.255.1" in blocked
    assert elapsed < 10  # refused at once: no connection was attempted (would hang 10 s)
    # Its own bundled stylesheet is allowed.
    own = SafeURLFetcher()
    html_to_pdf('<link rel="stylesheet" href="report.css"><p>x</p>', own)
    assert own.blocked == []
    # ...but not a path that climbs out of the asset directory.
    climb = SafeURLFetcher()
    html_to_pdf('<link rel="stylesheet" href="../../aigsec/settings.py"><p>x</p>', climb)
    assert climb.blocked


def test_broken_signing_configuration_fails_the_report_with_a_reason(personas, settings, tmp_path):
    world = make_report_world(personas, bundled=False)
    settings.REPORT_SIGNING_KEY = str(tmp_path / "missing-key.pem")
    settings.REPORT_SIGNING_CERT = str(tmp_path / "missing-cert.pem")
    report = _report(personas, world)
    with pytest.raises(Exception):  # noqa: B017 - report_run re-raises after recording
        report_run(report.pk)
    report.refresh_from_db()
    assert report.status == ReportStatus.FAILED
    assert report.failure_reason
    assert not report.file and not report.sha256
    assert not list((Path(settings.MEDIA_ROOT)).rglob("*.pdf"))
    assert AuditEvent.objects.filter(action="report.failed").count() == 1
    assert "PRIVATE KEY" not in report.failure_reason


def test_a_signed_report_is_never_rendered_again(personas):
    world = make_report_world(personas, bundled=False)
    report = report_run(_report(personas, world).pk)
    sha = report.sha256
    again = report_run(report.pk)
    assert again.sha256 == sha and again.attempts == 1
    assert AuditEvent.objects.filter(action="report.rendered").count() == 1


def test_a_live_attempt_is_not_doubled_but_a_dead_one_is_taken_over(personas, settings):
    world = make_report_world(personas, bundled=False)
    report = _report(personas, world)
    assert _claim(report.pk) is not None  # first attempt running now
    assert _claim(report.pk) is None  # a redelivered message skips it
    Report.objects.filter(pk=report.pk).update(
        started_at=timezone.now() - dt.timedelta(seconds=settings.REPORT_TIME_LIMIT + 5)
    )
    report = report_run(report.pk)  # the first attempt died: this one finishes the job
    assert report.status == ReportStatus.SIGNED and report.attempts == 2


def test_render_report_and_verify_report_commands(personas, tmp_path):
    world = make_report_world(personas, bundled=False)
    out = tmp_path / "r.pdf"
    stdout = io.StringIO()
    call_command("render_report", str(world.assessment.pk), "--out", str(out), stdout=stdout)
    report = Report.objects.get()
    assert report.status == ReportStatus.SIGNED and out.read_bytes()
    assert str(report.uuid) in stdout.getvalue()
    verified = io.StringIO()
    call_command("verify_report", str(out), stdout=verified)
    assert verified.getvalue().startswith("OK")
    assert f"on record: report {report.uuid}" in verified.getvalue()
    data = bytearray(out.read_bytes())
    data[data.index(b"stream", 2000) + 20] ^= 1
    bad = tmp_path / "bad.pdf"
    bad.write_bytes(bytes(data))
    with pytest.raises(CommandError) as exc:
        call_command("verify_report", str(bad), stdout=io.StringIO())
    assert exc.value.returncode == 1
    with pytest.raises(CommandError):
        call_command("render_report", "999999", "--out", str(out))
    with pytest.raises(CommandError):
        call_command("verify_report", str(tmp_path / "nope.pdf"))


@pytest.mark.django_db(transaction=True)
def test_verify_report_exits_non_zero_in_a_real_process(tmp_path):
    """The exit status a shell script sees. Transactional: the command appends an audit
    event, which must not wait for a lock held by this test's own transaction."""
    import os
    import subprocess
    import sys

    from django.conf import settings
    from django.db import connection

    db = connection.settings_dict
    env = {
        **os.environ,
        "REPORT_SIGNING_DIR": str(settings.REPORT_SIGNING_DIR),
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
    }
    base = Path(__file__).resolve().parents[2]
    unsigned = tmp_path / "unsigned.pdf"
    unsigned.write_bytes(html_to_pdf("<p>aigsec-report:1 looks like one</p>"))
    proc = subprocess.run(
        [sys.executable, "manage.py", "verify_report", str(unsigned)],
        cwd=base, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "FAILED: The PDF carries no signature." in proc.stdout


def _org_pki(tmp_path: Path) -> dict[str, Path]:
    """An organisation's own root and signing certificate, as PEM files and as PKCS#12."""
    now = dt.datetime.now(dt.UTC)
    root_key = ec.generate_private_key(ec.SECP256R1())
    root_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Acme Root CA")])
    root = (
        x509.CertificateBuilder().subject_name(root_name).issuer_name(root_name)
        .public_key(root_key.public_key()).serial_number(1)
        .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(root_key, hashes.SHA256())
    )  # fmt: skip
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Acme reports")]))
        .issuer_name(root_name).public_key(key.public_key()).serial_number(2)
        .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.KeyUsage(True, True, False, False, False, False, False, False, False),
                       critical=True)
        .sign(root_key, hashes.SHA256())
    )  # fmt: skip
    pem = serialization.Encoding.PEM
    paths = {
        "root": tmp_path / "root.pem",
        "cert": tmp_path / "cert.pem",
        "key": tmp_path / "key.pem",
        "p12": tmp_path / "bundle.p12",
    }
    paths["root"].write_bytes(root.public_bytes(pem))
    paths["cert"].write_bytes(cert.public_bytes(pem))
    paths["key"].write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    paths["p12"].write_bytes(
        pkcs12.serialize_key_and_certificates(
            b"acme", key, cert, [root], serialization.BestAvailableEncryption(b"s3cret")
        )
    )
    return paths


@pytest.mark.parametrize("form", ["pem", "pkcs12"])
def test_an_organisations_own_key_is_used(personas, settings, tmp_path, form):
    pki = _org_pki(tmp_path)
    if form == "pem":
        settings.REPORT_SIGNING_KEY = str(pki["key"])
        settings.REPORT_SIGNING_CERT = str(pki["cert"])
    else:
        settings.REPORT_SIGNING_PKCS12 = str(pki["p12"])
        settings.REPORT_SIGNING_PASSPHRASE = "s3cret"
    settings.REPORT_SIGNING_CHAIN = [str(pki["root"])]
    identity = signing.signing_identity()
    assert not identity.self_managed and "Acme reports" in identity.subject
    chain = tmp_path / "trust.pem"
    call_command("signing_cert", "--out", str(chain), stdout=io.StringIO())
    assert chain.read_bytes() == pki["root"].read_bytes()
    world = make_report_world(personas, bundled=False)
    report = report_run(_report(personas, world).pk)
    result = verify_pdf(report.file.open("rb").read())
    assert result.ok, result.reason
    assert "Acme reports" in result.signer
    # And the self-managed CA was not created for it.
    assert not (Path(settings.AIGSEC_DATA_DIR) / "signing").exists()


class _TSA:
    """A local RFC 3161 timestamp authority over HTTP (pyHanko's DummyTimeStamper inside)."""

    def __init__(self) -> None:
        from pyhanko.sign.timestamps import DummyTimeStamper

        now = dt.datetime.now(dt.UTC)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)  # dummy TSA: RSA only
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test TSA")])
        cert = (
            x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(7)
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=3))
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), True)
            .sign(key, hashes.SHA256())
        )  # fmt: skip
        der = serialization.Encoding.DER
        stamper = DummyTimeStamper(
            tsa_cert=asn1_x509.Certificate.load(cert.public_bytes(der)),
            tsa_key=asn1_keys.PrivateKeyInfo.load(
                key.private_bytes(
                    der, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
                )
            ),
        )
        self.requests = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.requests += 1
                resp = stamper.request_tsa_response(tsp.TimeStampReq.load(body)).dump()
                self.send_response(200)
                self.send_header("Content-Type", "application/timestamp-reply")
                self.send_header("Content-Length", str(len(resp)))
                self.end_headers()
                self.wfile.write(resp)

            def log_message(self, *args) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/tsa"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def test_a_configured_tsa_timestamps_the_signature(personas, settings):
    tsa = _TSA()
    try:
        settings.TSA_URL = tsa.url
        world = make_report_world(personas, bundled=False)
        report = report_run(_report(personas, world).pk)
    finally:
        tsa.server.shutdown()
    assert report.status == ReportStatus.SIGNED, report.failure_reason
    assert tsa.requests >= 1  # pyHanko also asks once to size the signature field
    result = verify_pdf(report.file.open("rb").read())
    assert result.ok and result.timestamped
