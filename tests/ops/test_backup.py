"""Backups: backup -> restore into a second, empty PostgreSQL database -> both verifiers pass,
rows and files come back identical; tampering, a non-empty directory or database, and the wrong
checkpoint key are refused with nothing changed.

The restore runs in subprocesses against a database created here (not pytest's test database),
with its own data dir, as an operator's restore drill would.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from psycopg import sql

from aigsec.audit.checkpoints import audit_checkpoint_take
from aigsec.audit.models import AuditEvent
from aigsec.audit.note import Signer
from assessments.models import Response, ResponseStatus
from assessments.services import response_save
from evidence.models import EvidenceItem, EvidenceRevision
from evidence.services import evidence_add_revision, evidence_create
from ops.backup import backup_create
from reviews.services import comment_add, review_create
from tests.conftest import TEST_AUDIT_SKEY
from tests.factories import make_assessment, make_framework_version

ROOT = Path(__file__).resolve().parents[2]
KEY = TEST_AUDIT_SKEY  # the audit log key conftest gives the test process
OTHER_SKEY = Signer("test.aigsec/audit", b"\x07" * 32).skey  # a valid key, but another one
PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 40


# --- A second PostgreSQL database for the restored instance -----------------------------------


def _pg():
    db = settings.DATABASES["default"]
    return {
        "host": db["HOST"] or "127.0.0.1",
        "port": db["PORT"] or 5432,
        "user": db["USER"],
        "password": db["PASSWORD"] or None,
        "dbname": "postgres",
    }


def _admin(statement: sql.Composed) -> None:
    with psycopg.connect(**_pg(), autocommit=True) as conn:
        conn.execute(statement)


def _url(name: str) -> str:
    p = _pg()
    auth = p["user"] + (f":{p['password']}" if p["password"] else "")
    return f"postgres://{auth}@{p['host']}:{p['port']}/{name}"


def _env(name: str, data_dir: Path, key: str | None = KEY) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "aigsec.settings",
            "DJANGO_DEBUG": "1",
            "DATABASE_URL": _url(name),
            "AIGSEC_DATA_DIR": str(data_dir),
            "MEDIA_ROOT": str(data_dir / "media"),
            "AUDIT_LOG_SIGNING_KEY": key or "",
            "AUDIT_CHECKPOINT_DEBOUNCE": "0",  # checkpoints only where a test takes them
            "CELERY_BROKER_URL": "",
            "REDIS_URL": "",
        }
    )
    return env


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    # --skip-checks: the system checks import every URL module (seconds per run on a busy
    # machine) and are tested elsewhere; here only the commands themselves matter.
    return subprocess.run(
        [sys.executable, "manage.py", *args, "--skip-checks"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def migrated_template(tmp_path_factory):
    """An empty, migrated database, copied (CREATE DATABASE … TEMPLATE) for each restore."""
    name = f"{settings.DATABASES['default']['NAME']}_restore_tpl_{uuid.uuid4().hex[:8]}"
    _admin(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        done = manage(_env(name, tmp_path_factory.mktemp("tpl")), "migrate", "--noinput", "-v0")
        assert done.returncode == 0, done.stderr[-3000:]
        yield name
    finally:
        _admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def empty_instance(migrated_template, tmp_path):
    """(env, data dir, database name) of a new instance: migrated, empty, own data dir."""
    name = f"{settings.DATABASES['default']['NAME']}_restore_{uuid.uuid4().hex[:8]}"
    _admin(
        sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
            sql.Identifier(name), sql.Identifier(migrated_template)
        )
    )
    data = tmp_path / "restored-data"
    try:
        yield _env(name, data), data, name
    finally:
        _admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def count_rows(name: str, tables: list[str]) -> dict[str, int]:
    p = {**_pg(), "dbname": name}
    with psycopg.connect(**p) as conn:
        return {
            t: conn.execute(
                sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(t))
            ).fetchone()[0]
            for t in tables
        }


def tree_hashes(root: Path) -> dict[str, str]:
    if not root.exists():
        return {}
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in root.rglob("*")
        if p.is_file()
    }


# --- A team's work: assessment, answers, evidence files, reviews, comments --------------------


def build_world(personas) -> dict:
    version = make_framework_version(3, 2, 2)
    a = make_assessment(team=personas.team, actor=personas.risk_owner, version=version)
    responses = list(a.responses.order_by("control__order"))
    statuses = [ResponseStatus.FULL, ResponseStatus.LARGELY, ResponseStatus.PARTIAL]
    for i, r in enumerate(responses[:9]):
        response_save(
            response=r,
            expected_version=r.version,
            actor=personas.risk_owner,
            status=statuses[i % 3],
            justification=f"Because of control {i} — ünïcode",
        )
    items = []
    for i in range(4):
        data, name = (PDF, f"policy-{i}.pdf") if i % 2 == 0 else (PNG, f"diagram-{i}.png")
        items.append(
            evidence_create(
                team=personas.team,
                actor=personas.risk_owner,
                kind="file",
                title=f"Evidence {i}",
                uploaded_file=SimpleUploadedFile(name, data + bytes([i]) * 7),
                responses=[responses[i]],
                tags=["backup", f"n{i}"],
            )
        )
    evidence_add_revision(
        item=items[0], actor=personas.risk_owner, uploaded_file=SimpleUploadedFile("v2.pdf", PDF)
    )
    evidence_create(
        team=personas.team,
        actor=personas.risk_owner,
        kind="note",
        title="A note",
        note="We rotate keys.",
        responses=[responses[5]],
    )
    review_create(reviewer=personas.auditor, decision="accepted", comment="", evidence=items[1])
    review_create(
        reviewer=personas.auditor,
        decision="changes_requested",
        comment="Add the signed copy.",
        response=responses[0],
    )
    comment_add(response=responses[1], author=personas.auditor, body="Which policy covers this?")
    # A FileField on a model the backup code does not name: discovered on its own.
    from reports.models import Report

    report_name = default_storage.save(f"reports/{personas.team.pk}/r.pdf", ContentFile(PDF))
    Report.objects.create(team=personas.team, assessment=a, file=report_name)
    audit_checkpoint_take()
    return {"assessment": a, "items": items, "report_name": report_name}


def media_root() -> Path:
    return Path(settings.MEDIA_ROOT)


# --- The round trip ----------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_backup_then_restore_into_an_empty_database_verifies_and_loses_nothing(
    personas, tmp_path, empty_instance, capsys
):
    assert connection.vendor == "postgresql"
    world = build_world(personas)
    out = tmp_path / "backup"

    t0 = time.monotonic()
    call_command("backup", out=str(out), stdout=io.StringIO())
    backup_seconds = time.monotonic() - t0
    manifest = json.loads((out / "manifest.json").read_text())

    # The manifest's head is the backup.created event: the backup contains its own record.
    created = AuditEvent.objects.get(action="backup.created")
    assert (manifest["audit"]["head_seq"], manifest["audit"]["head_hash"]) == (
        created.seq,
        created.hash,
    )
    assert manifest["backup_id"] == created.data["backup_id"]
    assert manifest["audit"]["checkpoint"]["seq"] == created.seq - 1
    # Row counts match the source, for every model of every app (reports included).
    by_model = {t["model"]: t for t in manifest["tables"]}
    assert by_model["audit.auditevent"]["rows"] == created.seq
    assert by_model["reports.report"]["rows"] == 1
    assert by_model["evidence.evidencerevision"]["rows"] == 5
    assert "sessions.session" not in by_model and "auth.permission" not in by_model
    # Every evidence file is there with the hash evidence recorded at upload, plus the report.
    for rev in EvidenceRevision.objects.all():
        assert manifest["files"][f"files/{rev.storage_name}"]["sha256"] == rev.sha256
        assert (out / "files" / rev.storage_name).read_bytes() == (
            media_root() / rev.storage_name
        ).read_bytes()
    assert f"files/{world['report_name']}" in manifest["files"]
    assert manifest["missing_files"] == []
    # No secret from the environment anywhere in the backup.
    for path in out.rglob("*"):
        if path.is_file():
            blob = path.read_bytes()
            assert settings.SECRET_KEY.encode() not in blob
            assert KEY.encode() not in blob
    assert all(os.stat(p).st_mode & 0o077 == 0 for p in out.rglob("*") if p.is_file())

    # Activity after the backup is not in it (what a restore cannot recover).
    evidence_create(
        team=personas.team, actor=personas.risk_owner, kind="note", title="Later", note="After."
    )
    source_files = tree_hashes(media_root())
    source_export = tmp_path / "source-audit.jsonl"
    call_command("export_audit_log", out=str(source_export), stdout=io.StringIO())

    env, data, name = empty_instance
    t0 = time.monotonic()
    done = manage(env, "restore", str(out))
    restore_seconds = time.monotonic() - t0
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    assert "Audit trail OK" in done.stdout, done.stdout
    assert "5 revisions checked, 0 failed" in done.stdout

    # Rows: as in the manifest; the audit trail has two more (evidence.verified,
    # backup.restored) written by the restore itself.
    counts = count_rows(name, [t["table"] for t in manifest["tables"]])
    for t in manifest["tables"]:
        extra = 2 if t["model"] == "audit.auditevent" else 0
        assert counts[t["table"]] == t["rows"] + extra, t["model"]
    # The denormalised latest review and revision (evidence/models.py) come back as they were.
    with psycopg.connect(**{**_pg(), "dbname": name}) as conn:
        restored_items = conn.execute(
            "SELECT id, latest_review_id, latest_revision_id FROM evidence_evidenceitem"
        ).fetchall()
        restored_responses = conn.execute(
            "SELECT id, latest_review_id FROM assessments_response"
        ).fetchall()
    assert sorted(restored_items) == sorted(
        EvidenceItem.objects.filter(pk__in=[i for i, *_ in restored_items]).values_list(
            "pk", "latest_review", "latest_revision"
        )
    )
    assert sorted(restored_responses) == sorted(Response.objects.values_list("pk", "latest_review"))
    assert sum(1 for _, review, revision in restored_items if review and revision) == 1
    # Files: exactly those referenced at backup time, byte for byte.
    restored_files = tree_hashes(data / "media")
    assert restored_files == {
        k: v for k, v in source_files.items() if f"files/{k}" in manifest["files"]
    }
    assert len(restored_files) == 6

    # The verifiers of the restored instance pass, as separate runs.
    for command in ("verify_audit_log", "verify_evidence"):
        check = manage(env, command)
        assert check.returncode == 0, command + check.stdout + check.stderr[-2000:]

    # The restored audit trail is byte-identical to the source up to the backup's head.
    restored_export = tmp_path / "restored-audit.jsonl"
    assert manage(env, "export_audit_log", "--out", str(restored_export)).returncode == 0
    head = manifest["audit"]["head_seq"]
    src_lines = source_export.read_text().splitlines()
    dst_lines = restored_export.read_text().splitlines()
    assert dst_lines[:head] == src_lines[:head]
    assert [json.loads(line)["action"] for line in dst_lines[head:]] == [
        "evidence.verified",
        "backup.restored",
        "evidence.verified",  # the verify_evidence run above
    ]
    restored_event = json.loads(dst_lines[head + 1])
    assert restored_event["data"]["backup_id"] == manifest["backup_id"]

    # A second restore into the now non-empty instance is refused.
    again = manage(env, "restore", str(out))
    assert again.returncode != 0
    assert "already holds data" in again.stderr

    rows = sum(t["rows"] for t in manifest["tables"])
    with capsys.disabled():
        print(
            f"\n[backup] {rows} rows in {len(manifest['tables'])} tables, "
            f"{len(restored_files)} files: backup {backup_seconds:.2f} s (in-process), "
            f"restore {restore_seconds:.2f} s (subprocess incl. start-up); "
            f"restore's own report: {done.stdout.splitlines()[0]}"
        )


# --- Refusals that change nothing --------------------------------------------------------------


def _tampered(src: Path, dst: Path, how) -> Path:
    shutil.copytree(src, dst)
    how(dst)
    return dst


def _edit_manifest(path: Path, change) -> None:
    manifest = json.loads((path / "manifest.json").read_text())
    change(manifest)
    (path / "manifest.json").write_text(json.dumps(manifest))


def _flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.django_db(transaction=True)
def test_tampered_backups_and_a_wrong_key_are_refused_and_change_nothing(
    personas, tmp_path, empty_instance
):
    build_world(personas)
    out = tmp_path / "backup"
    result = backup_create(out=out)
    manifest = json.loads((out / "manifest.json").read_text())
    rev = EvidenceRevision.objects.order_by("pk").first()
    env, data, name = empty_instance
    tables = [t["table"] for t in manifest["tables"]]

    def set_rows(m):
        next(t for t in m["tables"] if t["model"] == "reviews.review")["rows"] += 1

    def edit_dump(p: Path):
        dump = p / "db" / "accounts.team.jsonl"
        dump.write_text(dump.read_text().replace("Acme AI", "Acme AJ"))

    cases = [
        # (backup dir, extra args, env, words the refusal must contain)
        (
            _tampered(out, tmp_path / "t1", lambda p: _flip_byte(p / "files" / rev.storage_name)),
            [],
            env,
            [f"files/{rev.storage_name}", "does not match the manifest"],
        ),
        (
            _tampered(out, tmp_path / "t2", edit_dump),
            [],
            env,
            ["db/accounts.team.jsonl", "does not match the manifest"],
        ),
        (
            _tampered(
                out,
                tmp_path / "t3",
                lambda p: _edit_manifest(
                    p, lambda m: m["files"][f"files/{rev.storage_name}"].update(sha256="0" * 64)
                ),
            ),
            [],
            env,
            [f"files/{rev.storage_name}"],
        ),
        (
            _tampered(out, tmp_path / "t4", lambda p: (p / "files" / "stray.txt").write_text("x")),
            [],
            env,
            ["files/stray.txt", "not in the manifest"],
        ),
        # Consistent files, but the manifest claims one row more: found while loading, so this
        # exercises the rollback (and the removal of the files already put back).
        (
            _tampered(out, tmp_path / "t5", lambda p: _edit_manifest(p, set_rows)),
            [],
            env,
            ["reviews.review", "the manifest says"],
        ),
        (out, ["--manifest-sha256", "ab" * 32], env, ["SHA-256", result.manifest_sha256]),
        (out, [], {**env, "AUDIT_LOG_SIGNING_KEY": OTHER_SKEY}, ["not the one that signed"]),
        (out, [], {**env, "AUDIT_LOG_SIGNING_KEY": ""}, ["no audit log signing key"]),
    ]
    for backup_dir, args, case_env, words in cases:
        done = manage(case_env, "restore", str(backup_dir), *args)
        assert done.returncode != 0, done.stdout
        for word in words:
            assert word in done.stderr, (word, done.stderr[-2000:])
        # Nothing changed: database empty (only migrate's genesis head), no file, no key made.
        counts = count_rows(name, tables)
        assert counts.pop("audit_chain_head") == 1
        assert set(counts.values()) == {0}, counts
        assert tree_hashes(data / "media") == {}
        assert not (data / "audit-log-signing.key").exists()

    # The same untouched instance then takes the genuine backup.
    done = manage(env, "restore", str(out), "--manifest-sha256", result.manifest_sha256)
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]


@pytest.mark.django_db
def test_backup_refuses_a_non_empty_directory(tmp_path):
    out = tmp_path / "old"
    out.mkdir()
    (out / "keep.txt").write_text("an older backup")
    before = AuditEvent.objects.count()
    with pytest.raises(CommandError, match="is not empty"):
        call_command("backup", out=str(out))
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    assert (out / "keep.txt").read_text() == "an older backup"
    assert AuditEvent.objects.count() == before


@pytest.mark.django_db(transaction=True)
def test_restore_refuses_a_database_that_holds_data(personas, tmp_path):
    build_world(personas)
    out = tmp_path / "backup"
    backup_create(out=out)
    before = {
        "events": AuditEvent.objects.count(),
        "revisions": EvidenceRevision.objects.count(),
        "files": tree_hashes(media_root()),
    }
    with pytest.raises(CommandError, match=r"already holds data: accounts\.user"):
        call_command("restore", str(out))
    assert AuditEvent.objects.count() == before["events"]
    assert EvidenceRevision.objects.count() == before["revisions"]
    assert tree_hashes(media_root()) == before["files"]


@pytest.mark.django_db(transaction=True)
def test_backup_query_count_does_not_grow_with_rows(personas, tmp_path):
    build_world(personas)
    with CaptureQueriesContext(connection) as small:
        backup_create(out=tmp_path / "b1")
    # Twice the work: another assessment with answers, evidence and reviews.
    build_world(personas)
    with CaptureQueriesContext(connection) as large:
        backup_create(out=tmp_path / "b2")
    # Per model: one streamed SELECT (plus one prefetch per many-to-many), per storage column
    # one SELECT; audit append and head/checkpoint reads. Rows are fetched from server-side
    # cursors in chunks, which do not add queries.
    assert len(large.captured_queries) == len(small.captured_queries)


@pytest.mark.django_db(transaction=True)
def test_a_missing_evidence_file_fails_the_backup_but_keeps_the_rest(personas, tmp_path):
    build_world(personas)
    gone = EvidenceRevision.objects.order_by("pk").first().storage_name
    default_storage.delete(gone)
    out = tmp_path / "backup"
    with pytest.raises(CommandError, match="1 referenced files were missing"):
        call_command("backup", out=str(out), stdout=io.StringIO())
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["missing_files"] == [gone]
    assert f"files/{gone}" not in manifest["files"]
    assert len([k for k in manifest["files"] if k.startswith("files/")]) == 5


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        (None, "no manifest"),
        ("{not json", "not valid JSON"),
        ({"format": "something-else"}, "not an aigsec backup manifest"),
        ({"format": "aigsec-backup", "format_version": 99}, "format version 99"),
        (
            {"format": "aigsec-backup", "format_version": 1, "backup_id": "x", "files": []},
            "damaged: files, tables, migrations, audit",
        ),
        (
            {
                "format": "aigsec-backup",
                "format_version": 1,
                "backup_id": "x",
                "files": {"../../etc/passwd": {"sha256": "0" * 64, "size": 1}},
                "tables": [],
                "migrations": [],
                "audit": {"checkpoint": None},
            },
            "unsafe file name '../../etc/passwd'",
        ),
    ],
)
def test_restore_refuses_a_damaged_manifest_with_a_reason(tmp_path, manifest, message):
    src = tmp_path / "backup"
    src.mkdir()
    if manifest is not None:
        body = manifest if isinstance(manifest, str) else json.dumps(manifest)
        (src / "manifest.json").write_text(body)
    before = AuditEvent.objects.count()
    with pytest.raises(CommandError, match="Restore refused") as exc:
        call_command("restore", str(src))
    assert message in str(exc.value)
    assert AuditEvent.objects.count() == before
