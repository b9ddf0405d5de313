# aigsec production image: one image for web (gunicorn), worker and beat (celery), migrate.
# Build: docker build -t aigsec .      Run: docker compose up -d   (see docker-compose.yml)
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=aigsec.settings \
    AIGSEC_DATA_DIR=/data \
    STATIC_ROOT=/app/staticfiles \
    WEB_CONCURRENCY=3

# WeasyPrint renders the PDF reports with Pango/HarfBuzz; it needs these libraries and fonts.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 \
        fonts-dejavu-core fonts-liberation \
    && rm -rf /var/lib/apt/lists/*

# A fixed, unprivileged user; /data is the volume for evidence, reports and keys.
RUN groupadd --system --gid 10001 aigsec \
    && useradd --system --uid 10001 --gid aigsec --home-dir /app --shell /usr/sbin/nologin aigsec \
    && mkdir -p /app /data \
    && chown aigsec:aigsec /data

WORKDIR /app

# Dependencies first (only pyproject.toml), so code changes do not reinstall them. The project
# declares no importable packages: `pip install .` installs exactly the dependencies.
COPY pyproject.toml ./
RUN pip install .

COPY --chown=root:root . .

# The release id keys the page cache (aigsec/settings.py, RELEASE): a build argument when the
# pipeline has one (a git revision), else a digest of this image's code, taken once here.
ARG AIGSEC_RELEASE=""
RUN if [ -n "$AIGSEC_RELEASE" ]; then echo "$AIGSEC_RELEASE" > RELEASE; \
    else find . -path ./var -prune -o \( -name '*.py' -o -name '*.html' \) -print0 | sort -z \
        | xargs -0 cat | sha256sum | cut -c1-16 > RELEASE; fi

# Static files into the image (not the volume). DEBUG off selects the hashed, compressed
# storage; the dummy key exists only for this one command and is never in the image's env.
RUN DJANGO_DEBUG=0 SECRET_KEY=build-time-only-dummy-key-used-for-collectstatic-never-at-runtime \
        AIGSEC_DATA_DIR=/tmp/build-data \
        python manage.py collectstatic --noinput -v 0 \
    && rm -rf /tmp/build-data

USER aigsec
VOLUME ["/data"]
EXPOSE 8000

# gunicorn reads the worker count from WEB_CONCURRENCY. The TLS proxy in front sets
# X-Forwarded-Proto; only it can reach port 8000 (see docker-compose.yml).
CMD ["gunicorn", "aigsec.wsgi:application", \
     "--bind", "0.0.0.0:8000", \
     "--forwarded-allow-ips", "*", \
     "--timeout", "60", \
     "--access-logfile", "-"]
