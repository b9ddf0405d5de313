"""The transparency log in operation: concurrent writers and checkpoint takers on PostgreSQL
leave a log whose every proof verifies; a checkpoint follows each burst of writes (also
without a broker, as in `make run`); a restored backup stays verifiable and extends.
"""

from __future__ import annotations

import io
import itertools
import random
import shutil
import threading
import time

import pytest
from django.core.management import call_command
from django.db import connection, connections

from aigsec.audit import debounce, merkle, tree
from aigsec.audit.checkpoints import audit_checkpoint_take, witness_dir, witness_notes
from aigsec.audit.models import AuditCheckpoint
from aigsec.audit.selectors import audit_export_lines
from aigsec.audit.services import audit_record
from aigsec.audit.verify import audit_log_verify
from tests.ops.test_backup import empty_instance, manage, migrated_template  # noqa: F401 (fixtures)


def _leaves() -> list[bytes]:
    return [merkle.leaf_hash(line.rstrip("\n").encode()) for line in audit_export_lines()]


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_and_checkpoints_leave_a_log_whose_proofs_all_verify():
    assert connection.vendor == "postgresql"
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def writer(n: int) -> None:
        try:
            start.wait()
            for i in range(30):
                audit_record("test.concurrent", target=f"w{n}:{i}", data={"i": i})
                if i % 6 == 5:
                    audit_checkpoint_take()
        except BaseException as exc:  # reported below, with the thread's own traceback
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    audit_checkpoint_take()
    leaves = _leaves()
    assert len(leaves) == 180
    cps = list(AuditCheckpoint.objects.order_by("seq"))
    assert len(cps) >= 2 and cps[-1].seq == 180
    mth = merkle.list_range_hash(leaves)
    for cp in cps:
        assert bytes.fromhex(cp.root) == merkle.root_of(leaves[: cp.seq]), cp.seq
    for a, b in itertools.pairwise(cps):
        proof = tree.consistency_proof(a.seq, b.seq)
        roots = bytes.fromhex(a.root), bytes.fromhex(b.root)
        assert merkle.verify_consistency(a.seq, b.seq, *roots, proof)
    rng = random.Random(7)
    for cp in cps:
        for index in rng.sample(range(cp.seq), min(cp.seq, 10)):
            proof = tree.inclusion_proof(index, cp.seq)
            assert proof == merkle.inclusion_proof(index, cp.seq, mth)
            assert merkle.verify_inclusion(
                index, cp.seq, leaves[index], proof, bytes.fromhex(cp.root)
            )
    result = audit_log_verify()
    assert result.ok, result.problems


@pytest.mark.django_db(transaction=True)
def test_a_burst_of_writes_gets_one_checkpoint_without_a_broker(settings):
    # `make run`: no broker, tasks in-process; a timer thread takes the checkpoint.
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.AUDIT_CHECKPOINT_DEBOUNCE = 0.3
    for i in range(5):
        audit_record("test.burst", target=f"b:{i}")  # five commits
    assert not AuditCheckpoint.objects.exists()  # not per write
    deadline = time.monotonic() + 10
    while not AuditCheckpoint.objects.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    cps = list(AuditCheckpoint.objects.all())
    assert [cp.seq for cp in cps] == [5]
    assert witness_notes() == [cps[0].note]  # witnessed after its commit
    debounce._timer.join(5)


@pytest.mark.django_db(transaction=True)
def test_a_burst_of_writes_queues_one_delayed_checkpoint_with_a_broker(settings, monkeypatch):
    from aigsec.audit import tasks

    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.AUDIT_CHECKPOINT_DEBOUNCE = 5
    queued: list[dict] = []
    # The broker itself is not under test: record what would be queued.
    monkeypatch.setattr(tasks.take_checkpoint, "apply_async", lambda **kw: queued.append(kw))
    for i in range(4):
        audit_record("test.burst", target=f"b:{i}")
    assert queued == [{"countdown": 5}]
    tasks.take_checkpoint()  # what the worker runs when the countdown ends
    assert AuditCheckpoint.objects.get().seq == 4


@pytest.mark.django_db(transaction=True)
def test_a_restored_backup_stays_verifiable_and_extends(tmp_path, empty_instance):  # noqa: F811
    for i in range(25):
        audit_record("test.before_backup", target=f"x:{i}")
    audit_checkpoint_take()  # witnessed at once: this test commits as it goes
    out = tmp_path / "backup"
    call_command("backup", out=str(out), stdout=io.StringIO())

    env, data, _name = empty_instance
    done = manage(env, "restore", str(out))
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    # The witness moves with the instance (or stays where it was kept): same checkpoints.
    shutil.copytree(witness_dir(), data / "witness")
    done = manage(env, "verify_audit_log", "--workers", "1")
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    assert "1 witnessed checkpoint(s) found in the database" in done.stdout
    # The restored log goes on: a new checkpoint extends the old one.
    done = manage(env, "audit_checkpoint")
    assert done.returncode == 0, done.stderr[-3000:]
    done = manage(env, "verify_audit_log", "--workers", "1")
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    assert "2 witnessed checkpoint(s)" in done.stdout
    # Restoring the backup over a log that had gone further is noticed: the witness holds a
    # checkpoint the restored database does not have.
    for i in range(3):
        audit_record("test.after_backup", target=f"y:{i}")
    later = audit_checkpoint_take()
    shutil.copytree(witness_dir(), data / "witness", dirs_exist_ok=True)
    done = manage(env, "verify_audit_log", "--workers", "1")
    assert done.returncode != 0
    assert f"checkpoint at size {later.seq} held by the witness" in done.stderr
