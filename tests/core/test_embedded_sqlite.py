"""`make run` uses SQLite, tests use PostgreSQL: this smoke test runs the embedded mode for
real (migrate, load_framework, seed_demo, every main page for each demo role), so nothing
PostgreSQL-only slips into a page."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = r"""
from django.test import Client
from django.conf import settings
settings.ALLOWED_HOSTS = ["testserver"]
from assessments.models import Assessment, Response
from evidence.models import EvidenceItem
from aigsec.accounts.models import User
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice
a = Assessment.objects.get(title="Support chatbot — 2026 baseline")
final = Assessment.objects.get(status="final")  # the demo's signed-off assessment
r = Response.objects.filter(assessment=a).exclude(status="not_started").first()
e = EvidenceItem.objects.first()
pages = ["/", "/ai-systems/", f"/ai-systems/{a.ai_system_id}/", f"/assessments/{a.pk}/",
         f"/assessments/{a.pk}/pillars/1/", f"/assessments/{a.pk}/pillars/4/?open=all", "/my-work/",
         "/frameworks/", "/evidence/", f"/evidence/{e.pk}/", "/accounts/tokens/",
         "/api/v1/assessments/", f"/api/v1/assessments/{a.pk}/responses/", "/healthz",
         f"/assessments/{final.pk}/", f"/api/v1/assessments/{final.pk}/"]
extra = {"auditor@demo.test": ["/reviews/", "/audit/"],
         "manager@demo.test": [f"/assessments/{a.pk}/sign-off/"],
         "admin@demo.test": [f"/accounts/teams/{a.team_id}/members/",
                             f"/assessments/{final.pk}/sign-off/"]}
bad = []
for email in ["risk@demo.test", "auditor@demo.test", "manager@demo.test", "admin@demo.test"]:
    c = Client()
    user = User.objects.get(email=email)
    c.force_login(user)
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    if email == "admin@demo.test":
        # Admins need a second factor: without a verified one, every page is the set-up page.
        if device is None or c.get("/").status_code != 302:
            bad.append((email, "admin without second factor", None))
        elif device is not None:
            c.force_login(user)
            s = c.session
            s[DEVICE_ID_SESSION_KEY] = device.persistent_id
            s.save()
    for url in pages + extra.get(email, []):
        status = c.get(url).status_code
        if status != 200:
            bad.append((email, url, status))
c = Client()
c.force_login(User.objects.get(email="auditor@demo.test"))
resp = c.post("/reviews/new/", {"target_type": "response", "target_id": r.pk,
                                "decision": "accepted", "comment": ""})
if resp.status_code != 302:
    bad.append(("auditor", "review", resp.status_code))
print("BAD", bad)
"""


def test_embedded_sqlite_mode_serves_every_main_page(tmp_path):
    env = {
        **os.environ,
        "DJANGO_DEBUG": "1",
        "AIGSEC_DATA_DIR": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "CELERY_BROKER_URL": "",
        "REDIS_URL": "",
        "DEMO_PASSWORD": "demo-passphrase-for-tests-42",
    }

    def manage(*args: str, stdin: str | None = None) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout

    manage("migrate", "--noinput", "-v0")
    manage("load_framework")
    seeded = manage("seed_demo")
    assert "Support chatbot" in seeded
    assert "otpauth://totp/" in seeded  # the demo admin's second factor, printed
    out = manage("shell", stdin=SCRIPT)
    assert "BAD []" in out, out[-3000:]
