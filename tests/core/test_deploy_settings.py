"""Production settings: `check --deploy` is clean, the security headers and cookies are what
the issue asks for, and a missing SECRET_KEY stops start-up.

Settings are read once, at import, from the environment, so each case runs in a fresh Python
process with an explicit environment (explicit values also win over a developer's .env file,
which settings.py reads with setdefault semantics)."""

from __future__ import annotations

import json
import os
import re
import secrets
import string
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HOST = "aigsec.example.com"


def _secret_key() -> str:
    alphabet = string.ascii_letters + string.digits + "!#%&()*+,-./:;<=>?@[]^_{|}~"
    return "".join(secrets.choice(alphabet) for _ in range(60))


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", str(tmp_path)),
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "DJANGO_SETTINGS_MODULE": "aigsec.settings",
        "AIGSEC_DATA_DIR": str(tmp_path / "data"),
        "DJANGO_DEBUG": "0",
        "SECRET_KEY": _secret_key(),
        "ALLOWED_HOSTS": HOST,
        # In-process tasks: these checks need no broker.
        "CELERY_BROKER_URL": "",
    }
    if os.environ.get("DATABASE_URL"):
        env["DATABASE_URL"] = os.environ["DATABASE_URL"]
    env.update(extra)
    return env


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180
    )


def _python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return _run(["-c", code], env)


PRINT_SETTINGS = """
import json, django
django.setup()
from django.conf import settings as s
names = [
    "DEBUG", "SESSION_COOKIE_NAME", "CSRF_COOKIE_NAME", "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE", "SESSION_COOKIE_HTTPONLY", "CSRF_COOKIE_HTTPONLY",
    "SESSION_COOKIE_DOMAIN", "CSRF_COOKIE_DOMAIN", "SESSION_COOKIE_PATH", "CSRF_COOKIE_PATH",
    "SECURE_PROXY_SSL_HEADER", "SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS", "PASSWORD_HASHERS",
]
print(json.dumps({n: getattr(s, n) for n in names}))
"""

FETCH = """
import json, django
django.setup()
from django.test import Client

def dump(r):
    return {
        "status": r.status_code,
        "headers": {k.lower(): v for k, v in r.headers.items()},
        "cookies": {k: dict(v.items(), value=v.value) for k, v in r.cookies.items()},
        "body": r.content.decode(),
    }

c = Client(HTTP_HOST="%(host)s")
print(json.dumps({
    # HTTPS as the TLS proxy reports it to gunicorn.
    "proxied": dump(c.get("/accounts/login/", HTTP_X_FORWARDED_PROTO="https")),
    "api_404": dump(c.get("/api/v1/no-such-endpoint/", HTTP_X_FORWARDED_PROTO="https")),
    # Plain HTTP reaching the app: redirected to HTTPS.
    "plain": dump(c.get("/accounts/login/")),
}))
"""


# --- check --deploy ----------------------------------------------------------------------------


def test_check_deploy_has_no_warnings(tmp_path):
    result = _run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], _env(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout + result.stderr


def test_check_deploy_notices_a_weak_secret_key(tmp_path):
    # The check is real: the same command fails on a bad setting.
    env = _env(tmp_path, SECRET_KEY="short-key")
    result = _run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], env)
    assert result.returncode != 0
    assert "security.W009" in result.stdout + result.stderr


# --- SECRET_KEY ------------------------------------------------------------------------------


def test_missing_secret_key_stops_start_up(tmp_path):
    result = _python("import django; django.setup()", _env(tmp_path, SECRET_KEY=""))
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "SECRET_KEY" in result.stderr


def test_debug_defaults_to_off_so_missing_key_fails(tmp_path):
    env = _env(tmp_path, SECRET_KEY="")
    env["DJANGO_DEBUG"] = ""  # present but empty: the default (off) applies
    result = _python("import django; django.setup()", env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr


def test_debug_key_is_fixed_not_random(tmp_path):
    # In DEBUG a development key is used; it is the same in every process (no random fallback
    # that would silently log everyone out on restart).
    code = (
        "import hashlib, django; django.setup(); from django.conf import settings; "
        "print(hashlib.sha256(settings.SECRET_KEY.encode()).hexdigest())"
    )
    env = _env(tmp_path, DJANGO_DEBUG="1", SECRET_KEY="")
    first, second = _python(code, env), _python(code, env)
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout


# --- Cookies and proxy -----------------------------------------------------------------------


def test_production_cookie_settings(tmp_path):
    result = _python(PRINT_SETTINGS, _env(tmp_path))
    assert result.returncode == 0, result.stderr
    s = json.loads(result.stdout)
    assert s["DEBUG"] is False
    assert s["SESSION_COOKIE_NAME"].startswith("__Host-")
    assert s["CSRF_COOKIE_NAME"].startswith("__Host-")
    # __Host- cookies are only accepted by browsers when Secure, Path=/ and without Domain.
    assert s["SESSION_COOKIE_SECURE"] is True and s["CSRF_COOKIE_SECURE"] is True
    assert s["SESSION_COOKIE_HTTPONLY"] is True and s["CSRF_COOKIE_HTTPONLY"] is True
    assert s["SESSION_COOKIE_DOMAIN"] is None and s["CSRF_COOKIE_DOMAIN"] is None
    assert s["SESSION_COOKIE_PATH"] == "/" and s["CSRF_COOKIE_PATH"] == "/"
    assert s["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert s["SECURE_SSL_REDIRECT"] is True
    assert s["SECURE_HSTS_SECONDS"] == 31_536_000
    assert s["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is True
    assert s["PASSWORD_HASHERS"][0].endswith("Argon2PasswordHasher")


def test_debug_cookie_names_are_plain(tmp_path):
    # Over plain http://127.0.0.1 (make run) a __Host- cookie would be refused by browsers.
    result = _python(PRINT_SETTINGS, _env(tmp_path, DJANGO_DEBUG="1"))
    assert result.returncode == 0, result.stderr
    s = json.loads(result.stdout)
    assert not s["SESSION_COOKIE_NAME"].startswith("__Host-")
    assert not s["CSRF_COOKIE_NAME"].startswith("__Host-")


# --- Response headers ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def production_responses(tmp_path_factory):
    """Responses of a DEBUG=False process, after collectstatic (as the Docker image does)."""
    tmp = tmp_path_factory.mktemp("deploy")
    env = _env(tmp, STATIC_ROOT=str(tmp / "static"))
    collected = _run(["manage.py", "collectstatic", "--noinput", "-v", "0"], env)
    assert collected.returncode == 0, collected.stderr
    assert (tmp / "static" / "staticfiles.json").is_file()
    result = _python(FETCH % {"host": HOST}, env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _csp(headers: dict[str, str]) -> dict[str, list[str]]:
    policy = headers["content-security-policy"]
    out: dict[str, list[str]] = {}
    for part in policy.split(";"):
        name, *values = part.split()
        out[name] = values
    return out


@pytest.mark.parametrize("which", ["proxied", "api_404"])
def test_security_headers(production_responses, which):
    r = production_responses[which]
    h = r["headers"]
    assert r["status"] == (200 if which == "proxied" else 404)
    assert h["strict-transport-security"].startswith("max-age=31536000; includeSubDomains")
    assert h["x-frame-options"] == "DENY"
    assert h["x-content-type-options"] == "nosniff"
    assert h["referrer-policy"] == "same-origin"
    csp = _csp(h)
    assert csp["script-src"] == ["'self'"]
    assert csp["style-src"] == ["'self'"]
    assert csp["default-src"] == ["'self'"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert "'unsafe-inline'" not in h["content-security-policy"]
    assert "'unsafe-eval'" not in h["content-security-policy"]


def test_csrf_cookie_is_a_host_cookie(production_responses):
    cookies = production_responses["proxied"]["cookies"]
    [(name, cookie)] = cookies.items()
    assert name.startswith("__Host-")
    assert cookie["secure"] is True
    assert cookie["httponly"] is True
    assert cookie["path"] == "/"
    assert not cookie["domain"]
    assert cookie["samesite"] == "Lax"


def test_login_page_has_nothing_the_policy_would_block(production_responses):
    # script-src and style-src 'self' block inline scripts, handlers and styles: a page that
    # relied on them would break silently in production.
    body = production_responses["proxied"]["body"]
    assert re.search(r"<script(?![^>]*\bsrc=)", body) is None
    assert re.search(r"\son[a-z]+=", body) is None
    assert "<style" not in body
    assert re.search(r"\sstyle=", body) is None
    assert re.search(r"(src|href)=\"(https?:)?//", body) is None  # no CDN
    assert '<script src="/static/' in body


def test_plain_http_is_redirected_to_https(production_responses):
    r = production_responses["plain"]
    assert r["status"] == 301
    assert r["headers"]["location"] == f"https://{HOST}/accounts/login/"
