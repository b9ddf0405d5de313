"""The environment of the benchmark's server and steps: production settings over plain HTTP.

DEBUG off (hashed static files through WhiteNoise, no debug toolbar of any kind), a fixed
throwaway SECRET_KEY, no HTTPS redirect (there is no TLS proxy in front of the bench), and the
rate limits switched off ("0"): eight clients hammering one page would otherwise measure the
429 path, not the page. Everything else (sessions with idle timeout, MFA middleware, CSP,
security headers) stays as in production.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var" / "bench"
PGHOST = os.environ.get("PGHOST", "127.0.0.1")
PGUSER = os.environ.get("PGUSER", "postgres")
DB_LARGE = os.environ.get("BENCH_DB", "aigsec_bench")
DB_TINY = DB_LARGE + "_tiny"
REDIS = os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379")
CACHE_DB = os.environ.get("BENCH_REDIS_CACHE_DB", "13")
BROKER_DB = os.environ.get("BENCH_REDIS_BROKER_DB", "14")
PYTHON = str(ROOT / ".venv" / "bin" / "python")
RATE_LIMITS = (
    "RATE_LIMIT_API_USER",
    "RATE_LIMIT_API_IP",
    "RATE_LIMIT_UPLOAD_USER",
    "RATE_LIMIT_UPLOAD_IP",
    "RATE_LIMIT_PASSWORD_RESET_IP",
    "RATE_LIMIT_PASSWORD_RESET_EMAIL",
    "RATE_LIMIT_AUDIT_PUBLIC_IP",
)


def bench_env(db: str, *, upload_mb: int = 200, data_dir: Path | None = None) -> dict[str, str]:
    data = data_dir or VAR / "data"
    env = dict(os.environ)
    env.update(
        DJANGO_DEBUG="0",
        SECRET_KEY="bench-only-secret-key-" + "x" * 40,
        SECURE_SSL_REDIRECT="0",
        ALLOWED_HOSTS="127.0.0.1,testserver",
        DATABASE_URL=f"postgres://{PGUSER}@{PGHOST}:5432/{db}",
        REDIS_URL=f"{REDIS}/{CACHE_DB}",
        CELERY_BROKER_URL=f"{REDIS}/{BROKER_DB}",
        CACHE_KEY_PREFIX=f"bench-{db}",
        AIGSEC_DATA_DIR=str(data),
        MEDIA_ROOT=str(data / "media"),
        STATIC_ROOT=str(VAR / "static"),
        # The audit log's Ed25519 key is generated into the data dir on first use.
        AIGSEC_MAX_UPLOAD_BYTES=str((upload_mb + 16) * 1024 * 1024),
        LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
    )
    env.update(dict.fromkeys(RATE_LIMITS, "0"))
    return env
