"""aigsec settings: one module, everything from the environment, safe defaults for local use.

Outside DEBUG a missing SECRET_KEY stops start-up; there is never a random fallback, because a
key that changes on restart silently invalidates sessions, reset links and signatures.
"""

import re
from datetime import timedelta
from pathlib import Path

import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").is_file():
    environ.Env.read_env(BASE_DIR / ".env")

DEBUG = env.bool("DJANGO_DEBUG", default=False)

AIGSEC_DATA_DIR = Path(env.str("AIGSEC_DATA_DIR", default=str(BASE_DIR / "var")))

_DEV_SECRET = "dev-only-insecure-key-not-for-production-use-0123456789abcdef"  # noqa: S105
SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is required when DJANGO_DEBUG is off. Set it to 50+ random characters."
        )
    SECRET_KEY = _DEV_SECRET

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "csp",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "aigsec.accounts",
    "aigsec.audit",
    "aigsec.core",
    "assessments",
    "evidence",
    "reviews",
    "reports",
    "ops",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "aigsec.accounts.middleware.CurrentTeamMiddleware",
    # After the team middleware: both read the memberships it loads (no extra query).
    "aigsec.accounts.middleware_security.SessionLifetimeMiddleware",
    "aigsec.accounts.middleware_security.MfaEnforcementMiddleware",
    # Innermost: sees Django's debug 404 page and puts the app's own in its place.
    "aigsec.core.notfound.AppNotFoundPageMiddleware",
]
# With DJANGO_DEBUG, Django's technical 404 page (URL patterns) only when asked for.
DEBUG_404_PAGE = DEBUG and env.bool("DJANGO_DEBUG_404", default=False)
if DEBUG:
    # runserver serves static files itself; WhiteNoise serves the collected ones in production.
    MIDDLEWARE.remove("whitenoise.middleware.WhiteNoiseMiddleware")

ROOT_URLCONF = "aigsec.urls"
WSGI_APPLICATION = "aigsec.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "aigsec.accounts.context_processors.team",
            ],
        },
    }
]

# --- Database -----------------------------------------------------------------------------
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{AIGSEC_DATA_DIR / 'aigsec.sqlite3'}")
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The embedded default: make sure its directory exists, and let writers wait for the lock.
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 20
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DB_CONN_MAX_AGE", default=60))
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # PostgreSQL's JIT compiles any query whose *estimated* cost passes jit_above_cost: the
    # score queries (correlated subqueries) are estimated high and run in ~5 ms, then spent
    # ~55 ms compiling (docs/benchmarks.md). Short OLTP queries never gain from it.
    # random_page_cost 4 (PostgreSQL's default) prices an index probe as a disk seek, so with
    # 160,000 evidence links the planner scanned the whole table instead of probing the index
    # (18 ms instead of 2 ms for the dashboard). 1.1 is the usual value for SSDs and caches.
    # Parallel plans: a page's queries take a few ms, and starting parallel workers cost more
    # than that (the review queue's count: 13-23 ms parallel, 2 ms serial); the workers also
    # take the cores that concurrent requests need. DB_PARALLEL_WORKERS raises it for
    # reporting-only connections.
    _pg_options = DATABASES["default"].setdefault("OPTIONS", {})
    _pg_options["options"] = (
        _pg_options.get("options", "")
        + " -c jit=off -c random_page_cost="
        + env.str("DB_RANDOM_PAGE_COST", default="1.1")
        + " -c max_parallel_workers_per_gather="
        + str(env.int("DB_PARALLEL_WORKERS", default=0))
    ).strip()
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache --------------------------------------------------------------------------------
# `default` holds counters that must be right (rate limits): its errors propagate. The page
# cache (`template_fragments`, Django's alias for `{% cache %}`; aigsec/core/teamcache.py) only
# saves work: its backend turns errors into misses, so pages compute from the database when it
# is down. Its keys carry the release, so a new release never reads the old one's markup: set
# AIGSEC_RELEASE, else the RELEASE file the Docker build writes (a build argument or a digest
# of the image's code), else the package version. Every process of one release shares the keys
# (a worker's write is seen by the web processes), so a developer who edits templates with
# Redis behind clears it.
RELEASE = env.str("AIGSEC_RELEASE", default="")
if not RELEASE and (BASE_DIR / "RELEASE").is_file():
    RELEASE = (BASE_DIR / "RELEASE").read_text().strip()
if not RELEASE:
    from importlib import metadata

    try:
        RELEASE = metadata.version("aigsec")
    except metadata.PackageNotFoundError:
        RELEASE = "0"
REDIS_URL = env.str("REDIS_URL", default="")
_CACHE_PREFIX = env.str("CACHE_KEY_PREFIX", default="aigsec")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": _CACHE_PREFIX,
        },
        "template_fragments": {
            "BACKEND": "aigsec.core.cache_backend.ForgivingRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": f"{_CACHE_PREFIX}:pages:{RELEASE}",
        },
    }
else:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        "template_fragments": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "pages",
            "KEY_PREFIX": f"pages:{RELEASE}",
        },
    }

# --- Auth -----------------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Failed logins: after LOGIN_FAILURE_LIMIT failures within the window for one e-mail address from
# one client IP, LOGIN_IP_FAILURE_LIMIT from one IP, or LOGIN_ADDRESS_FAILURE_LIMIT for one
# address from all IPs together, further attempts are refused with the same generic message
# (aigsec/accounts/lockout.py, docs/security.md).
LOGIN_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
LOGIN_FAILURE_WINDOW = env.int("LOGIN_FAILURE_WINDOW", default=900)
LOGIN_IP_FAILURE_LIMIT = env.int("LOGIN_IP_FAILURE_LIMIT", default=20)
LOGIN_ADDRESS_FAILURE_LIMIT = env.int("LOGIN_ADDRESS_FAILURE_LIMIT", default=100)
# How many reverse proxies in front of the app append to X-Forwarded-For (0 = use the peer
# address). Without it, every client behind the TLS proxy would share the proxy's address.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)

# --- Sessions and cookies -----------------------------------------------------------------
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=8 * 3600)
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
# A session ends after this many seconds without a request, and in any case this many seconds
# after log-in (docs/authentication.md).
SESSION_IDLE_TIMEOUT = env.int("SESSION_IDLE_TIMEOUT", default=30 * 60)
SESSION_ABSOLUTE_LIFETIME = env.int("SESSION_ABSOLUTE_LIFETIME", default=12 * 3600)
# The record of an ended session (times, IP, browser) is kept this many days after its last
# activity, then deleted by the daily `prune_sessions` task (docs/operations.md).
SESSION_RECORD_RETENTION_DAYS = env.int("SESSION_RECORD_RETENTION_DAYS", default=90)
if not 1 <= SESSION_RECORD_RETENTION_DAYS <= 3650:
    raise ImproperlyConfigured("SESSION_RECORD_RETENTION_DAYS must be between 1 and 3650.")
# The issuer shown by authenticator apps next to the account.
OTP_TOTP_ISSUER = env.str("OTP_TOTP_ISSUER", default="aigsec")
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
CSRF_COOKIE_SAMESITE = "Lax"

# --- Security headers ---------------------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if not DEBUG:
    # Behind a TLS-terminating proxy that sets X-Forwarded-Proto.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    # __Host- cookies must be Secure, path "/", and carry no Domain: bound to this exact host.
    SESSION_COOKIE_NAME = "__Host-sessionid"
    CSRF_COOKIE_NAME = "__Host-csrftoken"

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# --- Static and media ---------------------------------------------------------------------
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(AIGSEC_DATA_DIR / "staticfiles")))
# Evidence and reports: private, outside the web root, only served through authorised views.
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(AIGSEC_DATA_DIR / "media")))
MEDIA_URL = None
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
if env.str("AWS_STORAGE_BUCKET_NAME", default=""):
    STORAGES["default"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env.str("AWS_STORAGE_BUCKET_NAME"),
            "endpoint_url": env.str("AWS_S3_ENDPOINT_URL", default=None),
            "default_acl": "private",
            "querystring_auth": True,
            "file_overwrite": False,
        },
    }
WHITENOISE_USE_FINDERS = DEBUG
# Largest evidence file accepted; keep the proxy's request-body limit in line with it.
# Optional: path of clamd's Unix socket; when set, every evidence file is scanned (fail closed).
CLAMD_SOCKET = env.str("CLAMD_SOCKET", default="")
AIGSEC_MAX_UPLOAD_BYTES = env.int("AIGSEC_MAX_UPLOAD_BYTES", default=100 * 1024 * 1024)

# --- E-mail -------------------------------------------------------------------------------
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="aigsec <noreply@localhost>")

# --- i18n ---------------------------------------------------------------------------------
LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Celery -------------------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="")
# No broker configured: run tasks in-process, so `make run` needs neither Redis nor a worker.
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = 120
CELERY_TASK_TIME_LIMIT = 180
CELERY_BEAT_SCHEDULE = {
    "audit-checkpoint-hourly": {
        "task": "aigsec.audit.tasks.take_checkpoint",
        "schedule": crontab(minute=7),
    },
    "evidence-verify-nightly": {
        "task": "evidence.tasks.verify_evidence",
        "schedule": crontab(hour=2, minute=17),
    },
    "sessions-prune-daily": {
        "task": "aigsec.accounts.tasks.prune_sessions",
        "schedule": crontab(hour=3, minute=41),
    },
    "idempotency-keys-prune-daily": {
        "task": "aigsec.core.tasks.prune_idempotency_keys",
        "schedule": crontab(hour=3, minute=47),
    },
}

# --- REST API -----------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "aigsec.accounts.api_auth.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "EXCEPTION_HANDLER": "aigsec.core.api.exception_handler",
    # Per user and per client IP, from RATE_LIMITS below (aigsec/core/ratelimit.py).
    "DEFAULT_THROTTLE_CLASSES": ["aigsec.core.ratelimit.RateLimitThrottle"],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "aigsec API",
    "DESCRIPTION": "Assess AI systems against the NCSC/CISA secure AI guidelines.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1/",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "aigsec.core.schema.document_query_errors",
        "aigsec.core.idempotency.document_idempotency",
    ],
    # Swagger UI from the vendored sidecar package, never from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}
API_TOKEN_DEFAULT_LIFETIME = timedelta(days=env.int("API_TOKEN_DAYS", default=90))
if not 1 <= API_TOKEN_DEFAULT_LIFETIME.days <= 365:
    raise ImproperlyConfigured("API_TOKEN_DAYS must be between 1 and 365 (tokens always expire).")

# --- Rate limits --------------------------------------------------------------------------
# Requests allowed per user and per client IP, counted in the cache: "N/period" with period s,
# m, h or d, optionally counted ("10/15m"); "0" switches one limit off. Past a limit: 429 with
# Retry-After. Failed log-ins have their own lockout (LOGIN_FAILURE_* above).
RATE_LIMITS = {
    "api:user": env.str("RATE_LIMIT_API_USER", default="600/m"),
    "api:ip": env.str("RATE_LIMIT_API_IP", default="1200/m"),
    "upload:user": env.str("RATE_LIMIT_UPLOAD_USER", default="120/h"),
    "upload:ip": env.str("RATE_LIMIT_UPLOAD_IP", default="300/h"),
    "password_reset:ip": env.str("RATE_LIMIT_PASSWORD_RESET_IP", default="20/h"),
    "password_reset:email": env.str("RATE_LIMIT_PASSWORD_RESET_EMAIL", default="5/h"),
    # The audit log's public endpoints (checkpoint, consistency proofs, verifier key).
    "audit_public:ip": env.str("RATE_LIMIT_AUDIT_PUBLIC_IP", default="120/m"),
}
for _name, _rate in RATE_LIMITS.items():
    if not re.fullmatch(r"0|[1-9]\d*/([1-9]\d*)?[smhd]", _rate.strip()):
        raise ImproperlyConfigured(f"Rate limit {_name}: {_rate!r} is not like 60/m, 5/15m or 0.")

# --- Signed reports -----------------------------------------------------------------------
# The organisation's own signing identity: a PEM key and certificate (plus the chain up to the
# root a verifier should trust), or a PKCS#12 bundle. Without either, a local CA and signing
# certificate are generated once under REPORT_SIGNING_DIR ("self-managed"; see docs/reports.md).
REPORT_SIGNING_DIR = Path(env.str("REPORT_SIGNING_DIR", default=str(AIGSEC_DATA_DIR / "signing")))
REPORT_SIGNING_KEY = env.str("REPORT_SIGNING_KEY", default="")
REPORT_SIGNING_CERT = env.str("REPORT_SIGNING_CERT", default="")
REPORT_SIGNING_CHAIN = env.list("REPORT_SIGNING_CHAIN", default=[])
REPORT_SIGNING_PKCS12 = env.str("REPORT_SIGNING_PKCS12", default="")
REPORT_SIGNING_PASSPHRASE = env.str("REPORT_SIGNING_PASSPHRASE", default="")
# An RFC 3161 timestamp authority; when set, every signature carries a timestamp.
TSA_URL = env.str("TSA_URL", default="")
TSA_TIMEOUT = env.int("TSA_TIMEOUT", default=10)
# Per render: the task is stopped (and the report marked failed) past these limits.
REPORT_SOFT_TIME_LIMIT = env.int("REPORT_SOFT_TIME_LIMIT", default=90)
REPORT_TIME_LIMIT = env.int("REPORT_TIME_LIMIT", default=120)

# --- Audit trail --------------------------------------------------------------------------
# The transparency log (docs/audit-trail.md): the origin line of its checkpoints (default: the
# first host of ALLOWED_HOSTS + "/audit"), the Ed25519 signer key of checkpoints (a signed-note
# "PRIVATE+KEY+..." string; unset = generated on first use into the data dir), the witness
# directory (one append-only file of checkpoints per day; best on another disk or host), an
# optional S3-compatible witness bucket, how long after a write burst a checkpoint is taken,
# and how old the newest checkpoint may be behind the newest event before verify_audit_log
# fails.
AUDIT_LOG_ORIGIN = env.str("AUDIT_LOG_ORIGIN", default="")
AUDIT_LOG_SIGNING_KEY = env.str("AUDIT_LOG_SIGNING_KEY", default="")
AUDIT_WITNESS_DIR = env.str("AUDIT_WITNESS_DIR", default="")  # "" = <AIGSEC_DATA_DIR>/witness
AUDIT_WITNESS_S3_BUCKET = env.str("AUDIT_WITNESS_S3_BUCKET", default="")
AUDIT_WITNESS_S3_PREFIX = env.str("AUDIT_WITNESS_S3_PREFIX", default="aigsec-witness/")
AUDIT_WITNESS_S3_ENDPOINT_URL = env.str("AUDIT_WITNESS_S3_ENDPOINT_URL", default="")
AUDIT_CHECKPOINT_DEBOUNCE = env.float("AUDIT_CHECKPOINT_DEBOUNCE", default=3.0)
AUDIT_CHECKPOINT_MAX_LAG = env.int("AUDIT_CHECKPOINT_MAX_LAG", default=3900)

# --- Logging ------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        # WeasyPrint's font subsetting logs every table of every font at INFO.
        "fontTools": {"level": "WARNING"},
        "weasyprint": {"level": "WARNING"},
    },
}
