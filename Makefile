# aigsec: `make run` (embedded, SQLite, in-process tasks) and `make test` (PostgreSQL + Redis).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Reinstall only when pyproject.toml changes ("install nothing twice").
DEPS_HASH := $(shell cat pyproject.toml | sha1sum | cut -c1-12)
STAMP_RUN := $(VENV)/.run-$(DEPS_HASH)
STAMP_DEV := $(VENV)/.dev-$(DEPS_HASH)

PGHOST ?= 127.0.0.1
TEST_ENV := DJANGO_DEBUG=1 \
	DATABASE_URL=postgres://postgres@$(PGHOST):5432/aigsec \
	REDIS_URL=redis://127.0.0.1:6379/1 \
	CELERY_BROKER_URL=redis://127.0.0.1:6379/2 \
	AIGSEC_DATA_DIR=$(CURDIR)/var/test

.PHONY: run test lint format bench deps dev-deps services browser screenshots clean migrate security-static sbom

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(STAMP_RUN): | $(BIN)/python
	$(BIN)/pip install -q -e .
	rm -f $(VENV)/.run-*; touch $@

$(STAMP_DEV): | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'
	rm -f $(VENV)/.dev-* $(VENV)/.run-*; touch $@ $(STAMP_RUN)

deps: $(STAMP_RUN)
dev-deps: $(STAMP_DEV)

run: deps
	mkdir -p var
	DJANGO_DEBUG=1 $(BIN)/python manage.py migrate --noinput
	DJANGO_DEBUG=1 $(BIN)/python manage.py load_framework
	DJANGO_DEBUG=1 $(BIN)/python manage.py seed_demo
	@echo "aigsec is starting on http://127.0.0.1:8000 (Ctrl-C to stop)"
	DJANGO_DEBUG=1 $(BIN)/python manage.py runserver 127.0.0.1:8000

services:
	bash .ci/services.sh

# Debian's Chromium for the browser tests (tests/e2e), installed with apt-get when missing.
browser:
	bash .ci/browser.sh

lint: dev-deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: dev-deps
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# The test database is reused between runs (fast), and rebuilt when any migration changes.
MIGRATIONS_HASH = $(shell cat $$(ls aigsec/*/migrations/*.py */migrations/*.py | sort) | sha1sum | cut -c1-12)
DB_STAMP = var/test/.db-$(MIGRATIONS_HASH)

# The app's Python packages: every top-level directory with an __init__.py except tests.
APP_PACKAGES = $(filter-out tests,$(patsubst %/__init__.py,%,$(wildcard */__init__.py)))

# bandit over the app: any finding of medium or high severity and confidence fails the build.
# (ruff's S rules run with `ruff check`; bandit adds the checks ruff does not have.)
security-static: dev-deps
	$(BIN)/bandit -q -r $(APP_PACKAGES) --severity-level medium --confidence-level medium

# CycloneDX SBOM of the runtime dependencies (pyproject's `dependencies`, no dev tools),
# resolved into a venv of their own that is rebuilt only when pyproject.toml changes.
SBOM_VENV := var/sbom/runtime-venv
SBOM_STAMP := $(SBOM_VENV)/.deps-$(DEPS_HASH)
SBOM_OUT ?= var/sbom/aigsec-sbom.cdx.json

$(SBOM_STAMP): | $(BIN)/python
	rm -rf $(SBOM_VENV)
	$(PYTHON) -m venv --without-pip $(SBOM_VENV)
	$(BIN)/python -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))' > $(SBOM_VENV)/requirements.txt
	$(BIN)/pip --python $(SBOM_VENV)/bin/python install -q -r $(SBOM_VENV)/requirements.txt
	touch $@

sbom: dev-deps $(SBOM_STAMP)
	mkdir -p $(dir $(SBOM_OUT))
	$(BIN)/cyclonedx-py environment --pyproject pyproject.toml --output-reproducible \
		--of JSON -o $(SBOM_OUT) $(SBOM_VENV)/bin/python
	@echo "SBOM: $(SBOM_OUT)"

test: dev-deps services browser security-static
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	PYTHONPATH=. $(BIN)/lint-imports --no-cache
	$(TEST_ENV) $(BIN)/python manage.py makemigrations --check --dry-run
	mkdir -p var/test
	if [ -f $(DB_STAMP) ]; then $(TEST_ENV) $(BIN)/pytest; \
	else rm -f var/test/.db-*; $(TEST_ENV) $(BIN)/pytest --create-db && touch $(DB_STAMP); fi

# Refresh the README's screenshots (docs/screenshots/) from the demo data, in the browser.
screenshots: dev-deps services browser
	mkdir -p var/test
	if [ -f $(DB_STAMP) ]; then $(TEST_ENV) AIGSEC_SCREENSHOTS=docs $(BIN)/pytest tests/e2e/test_screenshots.py; \
	else rm -f var/test/.db-*; $(TEST_ENV) AIGSEC_SCREENSHOTS=docs $(BIN)/pytest tests/e2e/test_screenshots.py --create-db \
		&& touch $(DB_STAMP); fi

# The benchmark (issue 8, docs/benchmarks.md): its own databases (aigsec_bench, *_tiny), Redis
# dbs 13 and 14, files under var/bench/. SCALE=small runs in under 10 minutes, SCALE=full is
# the real one. Never part of `make test`: speed is measured here, not asserted in tests.
SCALE ?= small
.PHONY: bench-deps bench-scaleout
bench-deps: dev-deps services
	@command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
	@$(BIN)/python -c "import pyinstrument" 2>/dev/null || $(BIN)/pip install -q pyinstrument py-spy

bench: bench-deps
	$(BIN)/python -m bench.run --scale $(SCALE)

# Two app instances, two Celery workers, 50 concurrent writers for 60 s, then the checks.
bench-scaleout: bench-deps
	$(BIN)/python -m bench.scaleout

clean:
	rm -rf var/test
