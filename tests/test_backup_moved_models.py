"""A backup taken before reviews and comments moved from the evidence app to the reviews app
restores after the move (ops/backup_compat.py).

tests/fixtures/backup-before-reviews-app was made once with `backup_create` on the code before
the move (commit 1691897): one team, two answers, a note, three reviews (one rejected) and a
comment, its rows labelled `evidence.review` and `evidence.responsecomment`, its migrations
without the state-only moves. It is restored into an empty PostgreSQL database migrated by
this code, in a subprocess, as an operator would.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from ops.backup import applied_migrations
from ops.backup_compat import (
    MOVED_MODELS,
    STATE_ONLY_MIGRATIONS,
    only_state_missing,
    relabel_lines,
)

from .test_backup import ROOT, _pg, empty_instance, manage, migrated_template  # noqa: F401

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "backup-before-reviews-app"

pytestmark = pytest.mark.django_db(transaction=True)


def _copy(tmp_path: Path) -> Path:
    out = tmp_path / "old-backup"
    shutil.copytree(FIXTURE, out)
    return out


def test_the_fixture_is_in_the_old_format():
    manifest = json.loads((FIXTURE / "manifest.json").read_bytes())
    labels = {t["model"] for t in manifest["tables"]}
    assert {"evidence.review", "evidence.responsecomment"} <= labels
    assert not any(label.startswith("reviews.") for label in labels)
    assert not STATE_ONLY_MIGRATIONS & set(manifest["migrations"])
    # Everything else this code has applied, the old backup has too.
    assert set(applied_migrations()) - set(manifest["migrations"]) == STATE_ONLY_MIGRATIONS


def test_a_backup_from_before_the_move_restores_with_its_reviews_and_comments(
    empty_instance,  # noqa: F811
    tmp_path,
):
    env, _data, name = empty_instance
    done = manage(env, "restore", str(_copy(tmp_path)))
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    assert "Audit trail OK" in done.stdout, done.stdout
    with psycopg.connect(**{**_pg(), "dbname": name}) as conn:
        reviews = conn.execute(
            "SELECT id, decision, comment FROM evidence_review ORDER BY id"
        ).fetchall()
        comments = conn.execute("SELECT body FROM evidence_responsecomment").fetchall()
        latest = conn.execute(
            "SELECT latest_review_id FROM assessments_response ORDER BY id"
        ).fetchall()
    assert [r[1] for r in reviews] == ["accepted", "accepted", "rejected"]
    assert reviews[2][2] == "No evidence linked."
    assert comments == [("Evidence follows tomorrow.",)]
    assert latest == [(2,), (3,)]
    # And the restored rows read through the reviews app's own models and rule.
    check = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "shell",
            "-c",
            "from reviews.models import Review, ResponseComment\n"
            "from reviews.selectors import current_decisions_for_responses\n"
            "from assessments.models import Response\n"
            "ids = list(Response.objects.order_by('id').values_list('id', flat=True))\n"
            "d = current_decisions_for_responses(ids)\n"
            "print(Review.objects.count(), ResponseComment.objects.count(),"
            " [d[i].decision for i in ids])",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert check.returncode == 0, check.stderr[-3000:]
    assert "3 1 ['accepted', 'rejected']" in check.stdout


def test_an_old_backup_missing_a_migration_that_changes_tables_is_still_refused(
    empty_instance,  # noqa: F811
    tmp_path,
):
    env, _data, name = empty_instance
    out = _copy(tmp_path)
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["migrations"].remove("evidence.0004_evidenceitem_latest_review_revision")
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2))
    done = manage(env, "restore", str(out))
    assert done.returncode != 0
    assert "evidence.0004_evidenceitem_latest_review_revision" in done.stdout + done.stderr
    with psycopg.connect(**{**_pg(), "dbname": name}) as conn:
        assert conn.execute("SELECT count(*) FROM evidence_review").fetchone() == (0,)


def test_relabel_lines_maps_only_moved_models():
    lines = [
        '{"model": "evidence.review","pk": 1,"fields": {"comment": "evidence.review"}}\n',
        '{"model": "evidence.evidenceitem","pk": 1,"fields": {}}\n',
    ]
    out = [json.loads(x) for x in relabel_lines(lines)]
    assert out[0]["model"] == "reviews.review"
    assert out[0]["fields"]["comment"] == "evidence.review"  # data is data
    assert out[1]["model"] == "evidence.evidenceitem"
    assert set(MOVED_MODELS.values()) == {"reviews.review", "reviews.responsecomment"}
    assert only_state_missing(set(STATE_ONLY_MIGRATIONS))
    assert not only_state_missing({"evidence.0004_evidenceitem_latest_review_revision"})
