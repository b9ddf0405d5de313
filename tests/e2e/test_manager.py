"""Journey 3, the manager: from the dashboard, requests a signed report, watches its row go to
"Signed" without reloading (htmx polling) while a real Celery worker renders and signs it, and
downloads it; the downloaded PDF's PAdES signature is then validated with pyHanko against the
instance's trust roots."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from reports.models import Report
from reports.tasks import render_report
from tests.reports.test_reports_worker import Worker

from .helpers import off_the_loop

pytestmark = pytest.mark.skipif(
    not os.environ.get("CELERY_BROKER_URL"), reason="needs the Redis broker of make test"
)
RENDER_TIMEOUT_MS = 90_000


@pytest.fixture
def report_worker(tmp_path) -> Path:
    """A worker process on a queue of its own; the live server (this process) routes the report
    task there. Yields the worker's log file."""
    queue = f"e2e-reports-{os.getpid()}"
    log = tmp_path / "worker.log"
    render_report.app.conf.task_routes = {"reports.tasks.render_report": {"queue": queue}}
    try:
        with Worker(queue, log):
            yield log
    finally:
        render_report.app.conf.task_routes = None


def _validate(data: bytes):
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    from reports.signing import signing_identity

    (sig,) = PdfFileReader(io.BytesIO(data)).embedded_signatures
    vc = ValidationContext(trust_roots=signing_identity().trust_roots(), allow_fetching=False)
    return validate_pdf_signature(sig, vc)


def test_manager_requests_watches_and_downloads_a_signed_report(demo, open_page, report_worker):
    a = demo.assessment
    page = open_page("manager@demo.test")
    expect(page.get_by_role("heading", level=1)).to_have_text(demo.team.name)  # the dashboard
    page.get_by_role("link", name=a.title).click()
    page.get_by_role("button", name="Signed reports").click()  # a link styled as a button
    page.get_by_role("button", name="Request a signed report").click()
    expect(page.get_by_role("status")).to_contain_text("Report requested")

    report = Report.objects.filter(assessment=a).latest("pk")
    row = page.locator(f"#report-{report.pk}")
    status = row.locator("[data-status]")
    assert status.get_attribute("data-status") in ("queued", "rendering")
    page.evaluate("window.e2eSamePage = true")  # gone if the page reloads
    try:
        expect(status).to_have_attribute("data-status", "signed", timeout=RENDER_TIMEOUT_MS)
    except AssertionError:
        pytest.fail(f"report not signed; worker log:\n{report_worker.read_text()[-3000:]}")
    expect(status).to_have_text("Signed")
    assert page.evaluate("window.e2eSamePage") is True

    button = row.get_by_role("button", name="Download PDF")
    expect(button).to_be_in_viewport()  # not hidden behind the table's sideways scroll
    with page.expect_download() as info:
        button.click()
    download = info.value
    data = Path(download.path()).read_bytes()
    assert data.startswith(b"%PDF")
    report.refresh_from_db()
    assert download.suggested_filename.endswith(".pdf")
    assert len(data) == report.size

    result = off_the_loop(_validate, data)  # pyHanko validates with asyncio.run()
    assert result.intact and result.valid and result.trusted, result.pretty_print_details()
    assert result.coverage.name == "ENTIRE_FILE"
