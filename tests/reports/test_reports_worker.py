"""The report task through a real Celery worker on Redis: request in the web app, render and
sign in another process, no second report when the message is delivered twice, and the soft
time limit turning a slow render into a failed report with a reason."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.urls import reverse

from aigsec.audit.models import AuditEvent
from aigsec.celery import app
from assessments.models import Response
from reports.models import Report, ReportStatus
from reports.pdfsign import verify_pdf
from reports.tasks import render_report
from tests.factories import make_report_world

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not os.environ.get("CELERY_BROKER_URL"), reason="needs the Redis broker of make test"
    ),
]
BASE = Path(__file__).resolve().parents[2]


class Worker:
    """A `celery worker` process on the test database, the test's media and signing dirs."""

    def __init__(self, queue: str, log: Path, **env: str) -> None:
        db = connection.settings_dict
        self.env = {
            **os.environ,
            "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
            "MEDIA_ROOT": str(settings.MEDIA_ROOT),
            "AIGSEC_DATA_DIR": str(settings.AIGSEC_DATA_DIR),
            "REPORT_SIGNING_DIR": str(settings.REPORT_SIGNING_DIR),
            "AUDIT_LOG_SIGNING_KEY": settings.AUDIT_LOG_SIGNING_KEY,
            "AUDIT_CHECKPOINT_DEBOUNCE": "0",
            **env,
        }
        self.queue, self.log = queue, log

    def __enter__(self) -> Worker:
        cmd = [
            sys.executable, "-m", "celery", "-A", "aigsec", "worker",
            "--pool=prefork", "--concurrency=1",
            "-Q", self.queue, "--without-gossip", "--without-mingle", "--without-heartbeat",
            "-l", "info", "-n", f"{self.queue}@%h",
        ]  # fmt: skip
        self.fh = open(self.log, "w")
        self.proc = subprocess.Popen(cmd, cwd=BASE, env=self.env, stdout=self.fh, stderr=self.fh)
        return self

    def __exit__(self, *exc) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.fh.close()


def _wait(report: Report, log: Path, timeout: float = 90) -> Report:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        report.refresh_from_db()
        if report.status in (ReportStatus.SIGNED, ReportStatus.FAILED):
            return report
        time.sleep(0.3)
    pytest.fail(f"report stayed {report.status}; worker log:\n{log.read_text()[-3000:]}")


def test_request_is_rendered_by_a_real_worker_once(personas, tmp_path):
    world = make_report_world(personas, bundled=False)
    queue = f"test-reports-{os.getpid()}"
    app.control.purge()
    c = personas.client(personas.manager)
    # The web request only queues; nothing renders in this process.
    render_report.app.conf.task_routes = {"reports.tasks.render_report": {"queue": queue}}
    try:
        resp = c.post(reverse("report_request", args=[world.assessment.pk]))
        assert resp.status_code == 302
        report = Report.objects.get(assessment=world.assessment)
        assert report.status == ReportStatus.QUEUED
        # The same message a second time, as a broker redelivery would.
        render_report.apply_async(args=[report.pk], queue=queue)
        with Worker(queue, tmp_path / "worker.log"):
            report = _wait(report, tmp_path / "worker.log")
            time.sleep(1.0)  # let the duplicate message be processed too
    finally:
        render_report.app.conf.task_routes = None
    assert report.status == ReportStatus.SIGNED, report.failure_reason
    assert report.attempts == 1
    data = report.file.open("rb").read()
    assert verify_pdf(data).ok
    assert AuditEvent.objects.filter(action="report.rendered").count() == 1
    files = list((Path(settings.MEDIA_ROOT) / "reports").rglob("*.pdf"))
    assert [f.name for f in files] == [f"{report.uuid}.pdf"]


def test_soft_time_limit_fails_the_report_with_a_reason(personas, tmp_path):
    world = make_report_world(personas)
    # Long answers everywhere make the render take far longer than the 1 s limit below, on
    # any machine (a quiet one renders the plain report in under a second).
    Response.objects.filter(assessment=world.assessment).update(
        status="partial", justification="A long and detailed justification. " * 3000
    )
    queue = f"test-reports-slow-{os.getpid()}"
    report = Report.objects.create(
        team=personas.team, assessment=world.assessment, requested_by=personas.manager
    )
    # Limits travel with the message (the sender's task options), as in production.
    render_report.apply_async(args=[report.pk], queue=queue, soft_time_limit=1, time_limit=30)
    with Worker(queue, tmp_path / "worker.log"):
        report = _wait(report, tmp_path / "worker.log")
    assert report.status == ReportStatus.FAILED
    assert "longer than 1 s" in report.failure_reason
    assert not report.file and not report.sha256
    assert not list((Path(settings.MEDIA_ROOT) / "reports").rglob("*.pdf"))
    assert AuditEvent.objects.filter(action="report.failed").count() == 1
