"""Rate limits: the counter (aigsec/core/ratelimit.py) and a clear 429 with Retry-After on
log-in, password reset, API use and uploads (HTML and API), per user and per client IP; a
different user or IP is not affected.

Counters live in the test's Redis (REDIS_URL), cleared per test by conftest. Limits are set
small per test through settings.RATE_LIMITS.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from aigsec.accounts.forms import GENERIC_LOCKED
from aigsec.accounts.services import api_token_create
from aigsec.audit.models import AuditEvent
from aigsec.core import ratelimit
from evidence.models import EvidenceItem
from tests.factories import PASSWORD

ROOT = Path(__file__).resolve().parents[2]
PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
CSRF_TOKEN = re.compile(r"\b[A-Za-z0-9]{64}\b")


@pytest.fixture
def limits(settings):
    """Set some limits for the test, leaving the others as configured.

    The counters are fixed windows (minutes, hours, days): a test whose requests straddle the
    start of a new window would see its count reset half-way, as the limiter means it to, and
    every window here starts on a minute. So a test starts no later than 10 s before the
    minute ends (a wait of at most 10 s)."""
    left = 60 - time.time() % 60
    if left < 10:
        time.sleep(left + 0.05)

    def set_(**rates: str) -> None:
        settings.RATE_LIMITS = {
            **settings.RATE_LIMITS,
            **{k.replace("__", ":"): v for k, v in rates.items()},
        }

    return set_


def assert_retry_after(r, window: int) -> int:
    wait = int(r["Retry-After"])
    assert 1 <= wait <= window
    return wait


# --- The counter ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "rate"),
    [
        ("60/m", (60, 60)),
        ("20/h", (20, 3600)),
        ("5/15m", (5, 900)),
        ("1/d", (1, 86400)),
        ("0", None),
        ("", None),
    ],
)
def test_parse_rate(text, rate):
    assert ratelimit.parse_rate(text) == rate


@pytest.mark.parametrize("text", ["abc", "10", "10/x", "-1/m", "0/m", "5/0m", "5/m/s"])
def test_parse_rate_refuses_nonsense(text):
    with pytest.raises(ValueError):
        ratelimit.parse_rate(text)


def test_hit_counts_per_key_and_refuses_past_the_limit(settings):
    if settings.REDIS_URL:
        assert settings.CACHES["default"]["BACKEND"].endswith("RedisCache")
    results = [ratelimit.hit("t", "a", 3, 60) for _ in range(5)]
    assert [r.allowed for r in results] == [True, True, True, False, False]
    assert [r.count for r in results] == [1, 2, 3, 4, 5]
    assert all(1 <= r.retry_after <= 60 for r in results)
    assert ratelimit.hit("t", "b", 3, 60).allowed  # another key
    assert ratelimit.hit("u", "a", 3, 60).allowed  # another scope


def test_hit_is_atomic_under_concurrency():
    """Twelve threads hit one key 100 times in all: exactly `limit` are allowed (no lost
    increment, as a get-then-set counter would give)."""
    allowed: list[bool] = []
    lock = threading.Lock()

    def worker():
        for _ in range(25):
            r = ratelimit.hit("race", "k", 40, 60)
            with lock:
                allowed.append(r.allowed)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(allowed) == 100
    assert allowed.count(True) == 40


def test_a_bad_rate_in_the_environment_stops_start_up():
    env = {**os.environ, "DJANGO_DEBUG": "1", "RATE_LIMIT_API_USER": "lots"}
    r = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django, os; os.environ['DJANGO_SETTINGS_MODULE']="
            "'aigsec.settings'; django.setup()",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode != 0
    assert "RATE_LIMIT" in r.stderr or "api:user" in r.stderr


# --- Log-in (the lockout answers 429) ---------------------------------------------------------


def _login(email: str, password: str = PASSWORD, ip: str = "10.0.0.1"):
    return Client().post(
        reverse("login"), {"username": email, "password": password}, REMOTE_ADDR=ip
    )


def test_login_lockout_is_a_429_with_retry_after_the_same_for_unknown_addresses(personas, settings):
    known, unknown = personas.risk_owner.email, "nobody@acme.test"
    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        assert _login(known, "wrong-password-1", ip="10.5.0.1").status_code == 200
        assert _login(unknown, "wrong-password-1", ip="10.5.0.2").status_code == 200

    r_known = _login(known, ip="10.5.0.1")  # the right password, refused
    r_unknown = _login(unknown, ip="10.5.0.2")

    for r in (r_known, r_unknown):
        assert r.status_code == 429
        assert int(r["Retry-After"]) == settings.LOGIN_FAILURE_WINDOW
        assert GENERIC_LOCKED in r.content.decode()
    assert not AuditEvent.objects.filter(action="auth.login").exists()
    # Another person from the same IP signs in.
    assert _login(personas.admin.email, ip="10.5.0.1").status_code == 302


def test_login_per_ip_limit_does_not_touch_other_ips(personas, settings):
    for i in range(settings.LOGIN_IP_FAILURE_LIMIT):
        _login(f"guess{i}@acme.test", "wrong-password-1", ip="10.6.0.1")
    assert _login(personas.manager.email, ip="10.6.0.1").status_code == 429
    assert _login(personas.manager.email, ip="10.6.0.2").status_code == 302


# --- Password reset -------------------------------------------------------------------------


def _reset(email: str, ip: str = "10.7.0.1"):
    return Client().post(reverse("password_reset"), {"email": email}, REMOTE_ADDR=ip)


def test_password_reset_is_limited_per_address_the_same_whether_or_not_it_exists(personas, limits):
    limits(password_reset__email="2/h", password_reset__ip="100/h")
    known, unknown = personas.auditor.email, "nobody@acme.test"
    for email in (known, unknown):
        for _ in range(2):
            assert _reset(email).status_code == 302
    assert len(mail.outbox) == 2

    r_known, r_unknown = _reset(known.upper()), _reset(unknown)

    for r in (r_known, r_unknown):
        assert r.status_code == 429
        assert_retry_after(r, 3600)
        text = r.content.decode()
        assert "Too many requests" in text and "Too many password reset requests" in text
        assert "Back to the dashboard" in text  # the site's error page
    assert len(mail.outbox) == 2  # nothing more was sent
    # No enumeration: the two refusals are the same page.
    norm = [CSRF_TOKEN.sub("", r.content.decode()) for r in (r_known, r_unknown)]
    assert norm[0] == norm[1]
    # Another address from the same IP is not affected.
    assert _reset(personas.manager.email).status_code == 302


def test_password_reset_is_limited_per_ip(personas, limits):
    limits(password_reset__email="100/h", password_reset__ip="3/h")
    for i in range(3):
        assert _reset(f"someone{i}@acme.test", ip="10.8.0.1").status_code == 302
    r = _reset(personas.auditor.email, ip="10.8.0.1")
    assert r.status_code == 429
    assert_retry_after(r, 3600)
    assert mail.outbox == []
    assert _reset(personas.auditor.email, ip="10.8.0.2").status_code == 302
    assert len(mail.outbox) == 1


def test_password_reset_page_itself_is_not_limited(personas, limits):
    limits(password_reset__ip="1/h")
    _reset("a@acme.test")
    for _ in range(3):
        assert Client().get(reverse("password_reset"), REMOTE_ADDR="10.7.0.1").status_code == 200


# --- API use --------------------------------------------------------------------------------


def _bearer(user, ip: str = "10.9.0.1") -> APIClient:
    _, secret = api_token_create(user=user, name="t")
    client = APIClient(REMOTE_ADDR=ip)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def test_api_token_use_is_limited_per_user_with_json_429(personas, limits, caplog):
    limits(api__user="3/m", api__ip="1000/m")
    client = _bearer(personas.risk_owner)
    for _ in range(3):
        assert client.get("/api/v1/ai-systems/").status_code == 200

    with caplog.at_level(logging.WARNING, logger="aigsec.ratelimit"):
        r = client.get("/api/v1/ai-systems/")

    assert r.status_code == 429
    body = r.json()
    assert set(body) == {"detail", "retry_after"}
    assert "Too many API requests" in body["detail"]
    assert body["retry_after"] == assert_retry_after(r, 60)
    # Logged with scope and key, not written to the audit trail.
    assert "scope=api" in caplog.text and f"user={personas.risk_owner.pk}" in caplog.text
    assert not AuditEvent.objects.filter(action__icontains="rate").exists()
    # Any token of the same user shares the budget; another user from the same IP does not.
    assert _bearer(personas.risk_owner).get("/api/v1/ai-systems/").status_code == 429
    assert _bearer(personas.auditor).get("/api/v1/ai-systems/").status_code == 200


def test_api_is_limited_per_ip_and_other_ips_are_not_affected(personas, limits):
    limits(api__user="1000/m", api__ip="4/m")
    a, b = _bearer(personas.risk_owner, "10.9.1.1"), _bearer(personas.auditor, "10.9.1.1")
    for client in (a, b, a, b):
        assert client.get("/api/v1/assessments/").status_code == 200
    r = b.get("/api/v1/assessments/")
    assert r.status_code == 429 and r.json()["retry_after"] >= 1
    assert _bearer(personas.manager, "10.9.1.2").get("/api/v1/assessments/").status_code == 200


def test_client_ip_behind_a_trusted_proxy_comes_from_x_forwarded_for(personas, limits, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    limits(api__user="1000/m", api__ip="2/m")
    client = _bearer(personas.risk_owner, ip="172.16.0.1")  # the proxy

    def get(xff: str):
        return client.get("/api/v1/ai-systems/", HTTP_X_FORWARDED_FOR=xff)

    assert get("spoofed, 203.0.113.5").status_code == 200
    assert get("other-spoof, 203.0.113.5").status_code == 200
    assert get("203.0.113.5").status_code == 429  # the left-hand entries are not trusted
    assert get("203.0.113.6").status_code == 200  # another client behind the same proxy


# --- Uploads --------------------------------------------------------------------------------


def _note(client: Client, title: str, ip: str = "10.10.0.1"):
    return client.post(
        reverse("evidence_create"), {"kind": "note", "title": title, "note": "x"}, REMOTE_ADDR=ip
    )


def test_html_upload_limit_per_user_shows_a_form_level_429(personas, limits):
    limits(upload__user="2/h", upload__ip="1000/h")
    c = personas.client(personas.risk_owner)
    assert _note(c, "one").status_code == 302
    f = SimpleUploadedFile("p.pdf", PDF)
    assert (
        c.post(
            reverse("evidence_create"),
            {"kind": "file", "title": "two", "file": f},
            REMOTE_ADDR="10.10.0.1",
        ).status_code
        == 302
    )

    r = _note(c, "three")

    assert r.status_code == 429
    assert_retry_after(r, 3600)
    assert r.context["form"].non_field_errors()[0].startswith("Too many uploads. Try again in")
    assert 'class="form-errors"' in r.content.decode()
    assert sorted(EvidenceItem.objects.values_list("title", flat=True)) == ["one", "two"]
    # Reading is not an upload.
    assert c.get(reverse("evidence_create")).status_code == 200
    # Another user from the same IP uploads.
    assert _note(personas.client(personas.admin), "admin's").status_code == 302


def test_html_revision_upload_is_limited_too(personas, limits):
    limits(upload__user="1/h", upload__ip="1000/h")
    c = personas.client(personas.risk_owner)
    f = SimpleUploadedFile("p.pdf", PDF)
    assert (
        c.post(reverse("evidence_create"), {"kind": "file", "title": "P", "file": f}).status_code
        == 302
    )
    item = EvidenceItem.objects.get()

    r = c.post(
        reverse("evidence_revision", args=[item.pk]), {"file": SimpleUploadedFile("v2.pdf", PDF)}
    )

    assert r.status_code == 429
    assert_retry_after(r, 3600)
    assert "Too many uploads" in r.content.decode()
    assert item.revisions.count() == 1
    # The door comes first: a stranger still gets a 404, not a 429.
    stranger = personas.client(personas.stranger)
    assert _note(stranger, "theirs").status_code == 302
    assert stranger.post(reverse("evidence_revision", args=[item.pk])).status_code == 404


def test_html_upload_limit_per_ip(personas, limits):
    limits(upload__user="1000/h", upload__ip="2/h")
    assert _note(personas.client(personas.risk_owner), "a", ip="10.11.0.1").status_code == 302
    assert _note(personas.client(personas.admin), "b", ip="10.11.0.1").status_code == 302
    assert _note(personas.client(personas.manager), "c", ip="10.11.0.1").status_code == 403  # role
    assert _note(personas.client(personas.stranger), "d", ip="10.11.0.1").status_code == 429
    assert _note(personas.client(personas.stranger), "e", ip="10.11.0.2").status_code == 302


def test_api_upload_limit_is_json_429_and_leaves_reads_alone(personas, limits):
    limits(upload__user="2/h", upload__ip="1000/h", api__user="1000/m")
    client = _bearer(personas.risk_owner)
    for i in range(2):
        r = client.post("/api/v1/evidence/", {"title": f"N{i}", "note": "x"}, format="multipart")
        assert r.status_code == 201
    item_id = r.json()["id"]

    r = client.post("/api/v1/evidence/", {"title": "N3", "note": "x"}, format="multipart")

    assert r.status_code == 429
    assert r.json()["detail"].startswith("Too many uploads.")
    assert r.json()["retry_after"] == assert_retry_after(r, 3600)
    rev = client.post(
        f"/api/v1/evidence/{item_id}/revisions/",
        {"file": SimpleUploadedFile("v.pdf", PDF)},
        format="multipart",
    )
    assert rev.status_code == 429
    assert EvidenceItem.objects.count() == 2
    assert client.get("/api/v1/evidence/").status_code == 200
    other = _bearer(personas.admin)
    assert (
        other.post("/api/v1/evidence/", {"title": "A", "note": "x"}, format="multipart").status_code
        == 201
    )


def test_default_limits_leave_normal_use_alone(personas):
    client = _bearer(personas.risk_owner)
    for _ in range(50):
        assert client.get("/api/v1/ai-systems/").status_code == 200
    c = personas.client(personas.risk_owner)
    for i in range(20):
        assert _note(c, f"n{i}").status_code == 302
