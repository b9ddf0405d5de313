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

.PHONY: run test lint format bench deps dev-deps services clean migrate

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

lint: dev-deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: dev-deps
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# The test database is reused between runs (fast), and rebuilt when any migration changes.
MIGRATIONS_HASH = $(shell cat $$(ls aigsec/*/migrations/*.py */migrations/*.py | sort) | sha1sum | cut -c1-12)
DB_STAMP = var/test/.db-$(MIGRATIONS_HASH)

test: dev-deps services
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(TEST_ENV) $(BIN)/python manage.py makemigrations --check --dry-run
	mkdir -p var/test
	if [ -f $(DB_STAMP) ]; then $(TEST_ENV) $(BIN)/pytest; \
	else rm -f var/test/.db-*; $(TEST_ENV) $(BIN)/pytest --create-db && touch $(DB_STAMP); fi

clean:
	rm -rf var/test
