"""The API on the embedded database (SQLite, what `make run` uses), not only on PostgreSQL.

An id filter past 64 bits (`?assessment=9223372036854775808`) was a 500 on SQLite only: its
driver cannot bind such an integer, PostgreSQL's sends it as numeric. One parser
(`aigsec.core.api.id_param`) turns it into an id no row has, on both databases.

`test_api_on_sqlite` runs, in a child pytest on a fresh SQLite database, the id-filter tests
and a bounded fuzz of every GET operation of the schema (the operations that take id
filters); the same tests also run here on PostgreSQL.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import schemathesis
from django.db import connection
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from rest_framework.test import APIClient

from aigsec.accounts.models import User
from tests.core.test_api_fuzz import CHECKS, aim_at_seeded_objects, api_schema, seeded  # noqa: F401
from tests.core.test_api_query_ids import world  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]
API = "/api/v1"
# 2**63, the first id past bigint, and one far past it.
PAST_64_BITS = ["9223372036854775808", "18446744073709551616", "9" * 40]

CHILD_TESTS = [
    "tests/core/test_api_sqlite.py",
    "tests/core/test_api_query_ids.py",
    "-k",
    "not test_api_on_sqlite",
]

gets = schemathesis.from_pytest_fixture(
    "api_schema", method="GET", endpoint=None, tag=None, operation_id=None
)


def _filters(w, personas) -> list[tuple[str, str]]:
    a, item = w.assessment, w.items[0]
    return [
        (f"{API}/evidence/", "assessment"),
        (f"{API}/evidence/", "response"),
        (f"{API}/reviews/", "evidence"),
        (f"{API}/reviews/", "response"),
        (f"{API}/assessments/", "ai_system"),
        (f"{API}/assessments/{a.pk}/responses/", "owner"),
        (f"{API}/reports/", "assessment"),
        (f"{API}/evidence/{item.pk}/download/", "revision"),
    ]


@pytest.mark.django_db
def test_an_id_past_64_bits_is_never_a_500(personas, world):  # noqa: F811
    client = APIClient()
    client.force_authenticate(user=User.objects.get(pk=personas.admin.pk))
    for url, name in _filters(world, personas):
        for value in PAST_64_BITS:
            resp = client.get(url, {name: value})
            if name == "revision":
                assert resp.status_code == 404, (url, name, value, resp.status_code)
            else:
                assert resp.status_code == 200, (url, name, value, resp.status_code)
                assert resp.json()["count"] == 0, (url, name, value)


@gets.parametrize()
@hypothesis_settings(
    max_examples=10,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_get_operations_conform(case, seeded):  # noqa: F811
    """A bounded run of the schema fuzz (tests/core/test_api_fuzz.py): GET operations only."""
    from django.core.cache import cache

    aim_at_seeded_objects(case, seeded)
    cache.clear()
    response = case.call(headers=seeded.auth("admin"))
    case.validate_response(response, checks=CHECKS)


def test_api_on_sqlite(tmp_path):
    if connection.vendor == "sqlite":
        pytest.skip("already on SQLite: the tests above are the run")
    env = {
        **os.environ,
        "DJANGO_DEBUG": "1",
        "AIGSEC_DATA_DIR": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "CELERY_BROKER_URL": "",
        "REDIS_URL": "",
    }
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--create-db", "-x", *CHILD_TESTS],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    summary = done.stdout.strip().splitlines()[-1]
    # Nothing skipped: the child really ran on SQLite, all seven tests.
    assert summary.startswith("7 passed") and "skipped" not in summary, done.stdout[-2000:]
