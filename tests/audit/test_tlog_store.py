"""The transparency log in the database: the stored tree gives the RFC 9162 answers, checkpoints
are signed and witnessed, and verify_audit_log catches every kind of tampering while the
witness holds the checkpoints — including deleting the checkpoints first, and rewriting the
whole log and re-signing it.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import Count, F
from django.utils import timezone

from aigsec.audit import merkle, tree
from aigsec.audit.chain import GENESIS_HASH, event_hash, format_at
from aigsec.audit.checkpoints import audit_checkpoint_take, witness_dir, witness_notes
from aigsec.audit.keys import log_origin, signing_key, verifier
from aigsec.audit.models import (
    AuditChainHead,
    AuditCheckpoint,
    AuditEvent,
    AuditTreeNode,
    AuditTreeState,
)
from aigsec.audit.note import Checkpoint, open_checkpoint, sign_note
from aigsec.audit.selectors import audit_export_lines
from aigsec.audit.services import audit_record
from aigsec.audit.verify import audit_log_verify

pytestmark = pytest.mark.django_db


def _seed(n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        audit_record("test.event", team=None, target=f"thing:{i}", data={"i": i, "name": "ünï"})


def _leaves() -> list[bytes]:
    return [merkle.leaf_hash(line.rstrip("\n").encode()) for line in audit_export_lines()]


@pytest.fixture
def take(django_capture_on_commit_callbacks):
    """Take a checkpoint as production does: stored, then witnessed once committed."""

    def _take() -> AuditCheckpoint:
        with django_capture_on_commit_callbacks(execute=True):
            cp = audit_checkpoint_take()
        assert cp is not None
        return cp

    return _take


def _verify(*args: str) -> tuple[bool, str]:
    try:
        call_command("verify_audit_log", *args)
    except CommandError as exc:
        return False, str(exc)
    return True, ""


def _body(ev: AuditEvent) -> dict:
    return {
        "seq": ev.seq,
        "at": format_at(ev.at),
        "actor": ev.actor,
        "action": ev.action,
        "team": ev.team,
        "target": ev.target,
        "data": ev.data,
    }


def _rehash_from(first: int) -> None:
    """Make the chain from `first` on consistent again, as a careful forger would."""
    prev = (
        AuditEvent.objects.filter(seq__lt=first).order_by("-seq").values_list("hash", flat=True)
    ).first() or GENESIS_HASH
    for ev in AuditEvent.objects.filter(seq__gte=first).order_by("seq"):
        digest = event_hash(prev, _body(ev))
        AuditEvent.objects.filter(pk=ev.pk).update(prev_hash=prev, hash=digest)
        prev = digest
    last = AuditEvent.objects.order_by("-seq").first()
    AuditChainHead.objects.filter(pk=1).update(seq=last.seq, hash=last.hash)


# --- The stored tree --------------------------------------------------------------------------


def test_stored_tree_gives_the_same_roots_and_proofs_as_the_rfc_algorithms():
    _seed(300)
    leaves = _leaves()
    mth = merkle.list_range_hash(leaves)
    # Caught up in uneven steps, as checkpoints after bursts would do.
    for size in (1, 15, 17, 100, 256, 257, 300):
        tree.tree_extend(size)
        assert tree.root(size) == merkle.root_of(leaves[:size]), size
    assert AuditTreeState.objects.get(pk=1).size == 300  # whole blocks of 4 only
    counts = dict(
        AuditTreeNode.objects.values_list("level").annotate(n=Count("id")).order_by("level")
    )
    assert counts == {2: 75, 4: 18, 6: 4, 8: 1}  # every second level; 8 covers 0..255
    for size in (1, 2, 16, 17, 255, 256, 257, 299, 300):
        for index in {0, size // 3, size // 2, size - 1}:
            assert tree.inclusion_proof(index, size) == merkle.inclusion_proof(index, size, mth)
        for first in {1, size // 2, size - 1, size} - {0}:
            assert tree.consistency_proof(first, size) == merkle.consistency_proof(first, size, mth)
    root, proofs = tree.inclusion_proofs([0, 150, 299], 300)
    assert root == merkle.root_of(leaves)
    assert proofs[1] == merkle.inclusion_proof(150, 300, mth)


def test_a_proof_reads_a_bounded_number_of_rows(django_assert_max_num_queries):
    _seed(300)
    tree.tree_extend(300)
    # The state row, the stored nodes (one query for all levels), the events of the lowest
    # levels: whatever the size of the log.
    with django_assert_max_num_queries(3):
        tree.inclusion_proof(150, 300)


# --- Checkpoints and the witness ------------------------------------------------------------


def test_a_checkpoint_is_a_signed_tlog_checkpoint_and_is_witnessed(take):
    assert audit_checkpoint_take() is None  # an empty log has nothing to sign
    _seed(20)
    cp = take()
    leaves = _leaves()
    body = open_checkpoint(cp.note, verifier(), origin=log_origin())
    assert body == Checkpoint(log_origin(), 20, merkle.root_of(leaves))
    assert cp.root == body.root.hex() and cp.seq == 20
    assert cp.note.startswith(f"{log_origin()}\n20\n")
    # Nothing new: the same checkpoint, not a second one of the same size.
    assert take() == cp and AuditCheckpoint.objects.count() == 1
    _seed(3, start=20)
    second = take()
    assert witness_notes() == [cp.note, second.note]
    files = list(witness_dir().glob("checkpoints-*.txt"))
    assert len(files) == 1 and files[0].read_text() == cp.note + "\n" + second.note + "\n"
    ok, msg = _verify()
    assert ok, msg


def test_the_vkey_command_prints_the_verifier_key(capsys):
    call_command("audit_checkpoint", "--vkey")
    out = capsys.readouterr().out.strip()
    assert out == verifier().vkey
    name, key_hash, _key = out.split("+", 2)
    assert name == signing_key().name and len(key_hash) == 8


def test_the_key_is_generated_once_into_the_data_dir(settings, tmp_path):
    settings.AUDIT_LOG_SIGNING_KEY = ""
    settings.AIGSEC_DATA_DIR = tmp_path / "fresh"
    first = signing_key()
    path = Path(settings.AIGSEC_DATA_DIR) / "audit-log-signing.key"
    assert path.stat().st_mode & 0o777 == 0o600
    assert signing_key() == first  # read back, not made again
    assert first.name == log_origin()


# --- Tampering, caught with the witness present ---------------------------------------------


@pytest.fixture
def witnessed_log(take):
    _seed(40)
    take()
    _seed(20, start=40)
    cp = take()
    assert _verify() == (True, "")
    return cp


def test_modified_event(witnessed_log):
    AuditEvent.objects.filter(seq=10).update(target="thing:forged")
    ok, msg = _verify()
    assert not ok and "FAIL at seq 10" in msg


def test_modified_event_with_the_chain_rehashed(witnessed_log):
    AuditEvent.objects.filter(seq=10).update(target="thing:forged")
    _rehash_from(10)
    ok, msg = _verify()
    assert not ok and "differs from checkpoint" in msg and "history rewritten" in msg


def test_deleted_event(witnessed_log):
    AuditEvent.objects.filter(seq=30).delete()
    ok, msg = _verify()
    assert not ok and "FAIL at seq 30" in msg


def test_inserted_event(witnessed_log):
    # Make room at 30 (in two steps: seq is unique at every row of the update).
    AuditEvent.objects.filter(seq__gte=30).update(seq=F("seq") + 100_000)
    AuditEvent.objects.filter(seq__gte=100_000).update(seq=F("seq") - 99_999)
    ev = AuditEvent.objects.get(seq=29)
    AuditEvent.objects.create(
        seq=30, at=ev.at, action="test.inserted", data={}, prev_hash=ev.hash, hash="0" * 64
    )
    ok, msg = _verify()
    assert not ok and "FAIL at seq 30" in msg


def test_reordered_events(witnessed_log):
    a, b = AuditEvent.objects.get(seq=11), AuditEvent.objects.get(seq=12)
    AuditEvent.objects.filter(pk=a.pk).update(seq=10**9)
    AuditEvent.objects.filter(pk=b.pk).update(seq=11)
    AuditEvent.objects.filter(pk=a.pk).update(seq=12)
    ok, msg = _verify()
    assert not ok and "FAIL at seq 11" in msg


def test_truncated_tail(witnessed_log):
    AuditEvent.objects.filter(seq__gt=50).delete()
    _rehash_from(50)
    ok, msg = _verify()
    assert not ok and "below checkpoint" in msg


def test_checkpoints_deleted_then_tail_truncated(witnessed_log):
    AuditCheckpoint.objects.all().delete()
    AuditEvent.objects.filter(seq__gt=50).delete()
    _rehash_from(50)
    ok, msg = _verify()
    assert not ok
    assert "checkpoint at size 60 held by the witness is missing from the database" in msg
    assert "fewer than the witnessed checkpoint at size 60 (events removed)" in msg


def test_everything_rewritten_and_re_signed(witnessed_log, take):
    # A forger with the database and the signing key: new history, new checkpoints at the same
    # sizes, the tree rebuilt. Only the witness still holds what was signed before.
    AuditEvent.objects.filter(seq=5).update(action="test.rewritten")
    _rehash_from(1)
    AuditCheckpoint.objects.all().delete()
    AuditTreeNode.objects.all().delete()
    AuditTreeState.objects.update(size=0)
    tree.tree_extend(60)
    for size in (40, 60):
        root = tree.root(size)
        note = sign_note(Checkpoint(log_origin(), size, root).text(), signing_key())
        head = AuditEvent.objects.get(seq=size).hash
        AuditCheckpoint.objects.create(seq=size, hash=head, root=root.hex(), note=note)
    ok, msg = _verify()
    assert not ok and "differs from the witness's copy" in msg


def test_a_checkpoint_kept_elsewhere_pins_the_log(witnessed_log, tmp_path):
    kept = tmp_path / "kept.txt"
    kept.write_text(witnessed_log.note)
    assert _verify("--checkpoint", str(kept))[0]
    # Without the witness and without the database's checkpoints, the file still catches it.
    AuditCheckpoint.objects.all().delete()
    for path in witness_dir().glob("*"):
        path.unlink()
    AuditEvent.objects.filter(seq__gt=50).delete()
    _rehash_from(50)
    ok, msg = _verify("--checkpoint", str(kept))
    assert not ok and "fewer than the checkpoint 1 given at size 60" in msg
    kept.write_text(witnessed_log.note.replace("\n60\n", "\n61\n"))
    ok, msg = _verify("--checkpoint", str(kept))
    assert not ok and "does not verify" in msg
    ok, msg = _verify("--checkpoint", str(tmp_path / "missing.txt"))
    assert not ok and "no such file" in msg


def test_a_witness_entry_signed_by_another_key_fails(witnessed_log):
    from aigsec.audit.note import Signer

    other = Signer(log_origin(), b"\x09" * 32)
    forged = sign_note(Checkpoint(log_origin(), 60, b"\x00" * 32).text(), other)
    path = next(witness_dir().glob("checkpoints-*.txt"))
    with path.open("a") as fh:
        fh.write(forged + "\n")
    ok, msg = _verify()
    assert not ok and "does not verify" in msg


def test_a_stale_newest_checkpoint_fails(witnessed_log, settings):
    _seed(2, start=60)
    assert audit_log_verify().ok  # just written: not stale yet
    later = timezone.now() + timedelta(seconds=settings.AUDIT_CHECKPOINT_MAX_LAG + 1)
    result = audit_log_verify(now=later)
    assert not result.ok and "events from seq 61" in result.problems[0]


def test_the_chain_only_verifier_still_reads_an_export(witnessed_log, tmp_path):
    out = tmp_path / "export.jsonl"
    call_command("export_audit_log", out=str(out))
    assert _verify("--file", str(out))[0]
    lines = out.read_text().splitlines()
    assert json.loads(lines[0])["seq"] == 1 and len(lines) == 60


def test_the_roots_recomputed_in_segments_match_one_pass():
    from aigsec.audit import roots

    _seed(150)
    leaves = _leaves()
    sizes = [1, 7, 16, 17, 32, 33, 64, 100, 128, 149, 150]
    expected = {s: merkle.root_of(leaves[:s]) for s in sizes}
    # Small blocks and several runs: the same combination as the forked workers' (run here in
    # this process, which has other threads and a transaction, so it does not fork).
    for block, workers in [(16, 1), (16, 3), (4, 4), (64, 2), (1 << 16, 4)]:
        assert roots.roots_at(150, sizes, workers=workers, block=block) == expected
    assert roots.roots_at(150, [151, 0]) == {}
