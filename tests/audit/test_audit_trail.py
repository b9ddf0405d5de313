"""The audit trail: chain integrity, each tamper kind caught, serialised appends, rollbacks."""

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction

from aigsec.audit.chain import GENESIS_HASH, canonical_json, event_hash, format_at
from aigsec.audit.checkpoints import audit_checkpoint_take
from aigsec.audit.models import AuditCheckpoint, AuditEvent
from aigsec.audit.services import audit_record
from aigsec.audit.verify import audit_verify_db

ROOT = Path(__file__).resolve().parents[2]


def _seed(n: int = 5) -> None:
    for i in range(n):
        audit_record("test.event", target=f"thing:{i}", data={"i": i, "name": "ünïcode"})


def _verify() -> tuple[bool, str]:
    try:
        call_command("verify_audit_log")
    except CommandError as exc:
        return False, str(exc)
    return True, ""


@pytest.mark.django_db
def test_hash_follows_the_documented_formula():
    ev = audit_record(
        "member.role_changed",
        actor=None,
        team=None,
        target="user:1",
        data={"old": "auditor", "new": "manager"},
    )
    body = {
        "seq": ev.seq,
        "at": format_at(ev.at),
        "actor": None,
        "action": "member.role_changed",
        "team": None,
        "target": "user:1",
        "data": {"old": "auditor", "new": "manager"},
    }
    import hashlib

    expected = hashlib.sha256((GENESIS_HASH + "\n" + canonical_json(body)).encode()).hexdigest()
    assert ev.seq == 1 and ev.prev_hash == GENESIS_HASH
    assert ev.hash == expected == event_hash(GENESIS_HASH, body)
    assert format_at(ev.at).endswith("Z")


@pytest.mark.django_db
def test_intact_chain_verifies_and_seqs_have_no_gaps():
    _seed(6)
    assert list(AuditEvent.objects.values_list("seq", flat=True)) == [1, 2, 3, 4, 5, 6]
    result, _ = audit_verify_db()
    assert result.ok and result.count == 6


@pytest.mark.django_db
def test_modified_event_is_caught_naming_its_seq():
    _seed()
    AuditEvent.objects.filter(seq=3).update(data={"i": 999})
    ok, msg = _verify()
    assert not ok and "seq 3" in msg


@pytest.mark.django_db
def test_deleted_event_is_caught():
    _seed()
    AuditEvent.objects.filter(seq=2).delete()
    ok, msg = _verify()
    assert not ok and "seq 2" in msg


@pytest.mark.django_db
def test_inserted_event_is_caught():
    _seed()
    # Make room after seq 2 and insert a forged event that links to seq 2's hash.
    with connection.cursor() as cur:
        cur.execute("UPDATE audit_event SET seq = seq + 100 WHERE seq > 2")
        cur.execute("UPDATE audit_event SET seq = seq - 99 WHERE seq > 100")
    prev = AuditEvent.objects.get(seq=2)
    forged = AuditEvent(seq=3, at=prev.at, action="forged", data={}, prev_hash=prev.hash)
    forged.hash = event_hash(
        prev.hash,
        {
            "seq": 3,
            "at": format_at(prev.at),
            "actor": None,
            "action": "forged",
            "team": None,
            "target": None,
            "data": {},
        },
    )
    forged.save()
    ok, msg = _verify()
    assert not ok and "seq 4" in msg  # the original event 3, now at seq 4, no longer links


@pytest.mark.django_db
def test_reordered_events_are_caught():
    _seed()
    with connection.cursor() as cur:
        cur.execute("UPDATE audit_event SET seq = 1000 WHERE seq = 2")
        cur.execute("UPDATE audit_event SET seq = 2 WHERE seq = 3")
        cur.execute("UPDATE audit_event SET seq = 3 WHERE seq = 1000")
    ok, msg = _verify()
    assert not ok and "seq 2" in msg


@pytest.mark.django_db
def test_truncated_tail_is_caught_by_the_checkpoint():
    _seed(5)
    cp = audit_checkpoint_take()
    assert cp is not None and cp.seq == 5
    assert _verify() == (True, "")
    AuditEvent.objects.filter(seq__gte=4).delete()
    ok, msg = _verify()
    assert not ok and "checkpoint" in msg and "seq 4" in msg


@pytest.mark.django_db
def test_forged_checkpoint_is_refused():
    _seed(3)
    audit_checkpoint_take()
    AuditCheckpoint.objects.update(seq=2)
    ok, msg = _verify()
    assert not ok and "invalid signature" in msg


@pytest.mark.django_db
def test_chain_rewritten_after_checkpoint_is_caught():
    _seed(4)
    audit_checkpoint_take()
    # Rewrite event 4 and re-hash it: the chain itself is consistent again, the checkpoint is not.
    ev = AuditEvent.objects.get(seq=4)
    body = {
        "seq": 4,
        "at": format_at(ev.at),
        "actor": None,
        "action": "rewritten",
        "team": None,
        "target": None,
        "data": {},
    }
    AuditEvent.objects.filter(seq=4).update(
        action="rewritten", target=None, data={}, hash=event_hash(ev.prev_hash, body)
    )
    ok, msg = _verify()
    assert not ok and "checkpoint" in msg


@pytest.mark.django_db
def test_rolled_back_change_leaves_no_event():
    _seed(2)

    class Boom(Exception):
        pass

    with pytest.raises(Boom), transaction.atomic():
        audit_record("test.rolled_back")
        raise Boom
    assert not AuditEvent.objects.filter(action="test.rolled_back").exists()
    audit_record("test.after")
    assert AuditEvent.objects.get(action="test.after").seq == 3
    assert _verify()[0]


@pytest.mark.django_db
def test_export_and_file_verification(tmp_path):
    _seed(4)
    out = tmp_path / "audit.jsonl"
    call_command("export_audit_log", "--out", str(out))
    lines = out.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 4
    first = json.loads(lines[0])
    assert sorted(first) == sorted(
        ["seq", "at", "actor", "action", "team", "target", "data", "prev_hash", "hash"]
    )
    call_command("verify_audit_log", "--file", str(out))
    # The stand-alone script an auditor runs without the app agrees.
    script = ROOT / "docs" / "verify_audit_export.py"
    ok = subprocess.run([sys.executable, str(script), str(out)], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    # One changed character in the export is caught by both.
    lines[2] = lines[2].replace('"i":2', '"i":3')
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(CommandError, match="seq 3"):
        call_command("verify_audit_log", "--file", str(out))
    bad = subprocess.run([sys.executable, str(script), str(out)], capture_output=True, text=True)
    assert bad.returncode == 1 and "seq 3" in bad.stdout


@pytest.mark.django_db
def test_export_with_missing_field_or_garbage_is_refused(tmp_path):
    f = tmp_path / "x.jsonl"
    f.write_text('{"seq": 1}\n')
    with pytest.raises(CommandError, match="line 1"):
        call_command("verify_audit_log", "--file", str(f))
    f.write_text("not json\n")
    with pytest.raises(CommandError, match="line 1"):
        call_command("verify_audit_log", "--file", str(f))


WRITER = """
import django, sys
django.setup()
from aigsec.audit.services import audit_record
for i in range(int(sys.argv[1])):
    audit_record("test.concurrent", data={"writer": sys.argv[2], "i": i})
"""


@pytest.mark.django_db(transaction=True)
def test_two_processes_appending_at_once_make_one_valid_chain():
    assert connection.vendor == "postgresql", "this test needs PostgreSQL's row locks"
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "aigsec.settings",
        "DJANGO_DEBUG": "1",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "CELERY_BROKER_URL": "",
        "AUDIT_CHECKPOINT_DEBOUNCE": "0",  # no checkpoint at exit, signed with another key
    }
    n = 60
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(n), name],
            cwd=ROOT,
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("a", "b")
    ]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    writers = list(
        AuditEvent.objects.filter(action="test.concurrent").values_list("data__writer", flat=True)
    )
    assert writers.count("a") == n and writers.count("b") == n
    # Interleaved, not one after the other, or the test proved nothing about concurrency.
    switches = sum(1 for x, y in itertools.pairwise(writers) if x != y)
    assert switches >= 1
    result, _ = audit_verify_db()
    assert result.ok and result.count == 2 * n


@pytest.mark.django_db(transaction=True)
def test_chain_head_survives_a_flush():
    # A flush (as transactional tests do between tests) emits post_migrate, which restores the
    # head row that every append locks.
    call_command("flush", "--noinput")
    assert audit_record("test.after_flush").seq == 1


@pytest.mark.django_db(transaction=True)
def test_numbers_that_jsonb_rewrites_still_verify():
    """PostgreSQL keeps JSON numbers as numerics: 1e16 comes back as an integer, -0.0 as 0.0.
    The event is hashed as stored, so the chain still verifies."""
    data = {"big": 1e16, "huge": 1.5e300, "neg_zero": -0.0, "tiny": 1e-7, "plain": 3.25}
    event = audit_record("test.numbers", data=data)
    event.refresh_from_db()
    assert event.data["big"] == 10**16 and isinstance(event.data["big"], int)
    assert event.data["huge"] == 15 * 10**299
    assert event.data["plain"] == 3.25 and event.data["tiny"] == 1e-7
    result, _ = audit_verify_db()
    assert result.ok, result.reason


def test_not_a_number_is_refused_before_anything_is_written(db):
    before = AuditEvent.objects.count()
    with pytest.raises(ValueError):
        audit_record("test.nan", data={"x": float("nan")})
    assert AuditEvent.objects.count() == before
