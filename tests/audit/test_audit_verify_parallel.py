"""verify_audit_log in segments and worker processes: the same answer as the sequential walk.

The workers read the chain on connections of their own, so these tests commit their events
(transaction=True). Segments are made small (MIN_SEGMENT) so that a few hundred events are
read by three processes.
"""

import json
import multiprocessing
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from aigsec.audit import verify as selectors  # the chain verifier's home (issue 15)
from aigsec.audit.chain import GENESIS_HASH, event_hash, format_at, verify_events, verify_segment
from aigsec.audit.checkpoints import audit_checkpoint_take
from aigsec.audit.models import AuditEvent
from aigsec.audit.services import audit_record
from aigsec.audit.verify import (
    _all_events_for_verify,
    _verify_by_segments,
    audit_verify_db,
    can_fork_for_verify,
    latest_valid_checkpoint,
)

N = 300  # three segments of 100: 1-100, 101-200, 201-300
WORKERS = 3
MIN_SEGMENT = 50

# Values whose canonical form is easy to get wrong by hand: escapes, non-ASCII, floats, big
# integers, nesting, key order that differs between jsonb and sort_keys.
AWKWARD = [
    {},
    {"i": 1, "name": "ünïcode ✓ 😀"},
    {"quote": 'say "hi"', "backslash": "a\\b", "nl": "line\nnext\ttab", "ctl": "\x01\x1f"},
    {"float": 0.1, "exp": 1e-7, "big": 1.5e300, "neg": -0.0, "whole": 2.0},
    {"int": 12345678901234567890123, "neg": -5, "bool": True, "none": None},
    {"bb": 1, "a": 2, "ccc": {"z": [3, {"y": "x", "b": []}], "aa": "é"}},
    {"sep": "\u2028\u2029", "html": "<script>&</script>", "slash": "a/b"},
]
# What the database stores as recorded: jsonb turns -0.0 into 0.0 and 1.5e300 into an integer
# of 301 digits (so such an event would not verify, whatever the verifier).
STORED = [d for d in AWKWARD if "big" not in d] + [{"float": 0.1, "exp": 1e-7, "whole": 2.0}]


def _seed(n: int = N) -> None:
    for i in range(n):
        audit_record(
            f"test.event.{i % 7}",
            actor=i if i % 3 else None,
            team=i % 5 or None,
            target=None if i % 4 == 0 else f"thing:{i}",
            data={"n": i, **STORED[i % len(STORED)]},
        )


def _sequential():
    """The verification as it was before segments: one walk of verify_events."""
    cp, error = latest_valid_checkpoint()
    assert not error
    return verify_events(_all_events_for_verify(), (cp.seq, cp.hash) if cp else None)


def _segments_result():
    cp, _ = latest_valid_checkpoint()
    return _verify_by_segments((cp.seq, cp.hash) if cp else None, WORKERS, MIN_SEGMENT)


def _parallel():
    result, _ = audit_verify_db(WORKERS, min_segment=MIN_SEGMENT)
    return result


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


def _rehash(first: int, prev: str) -> None:
    """Recompute prev_hash and hash of every event from seq `first` on, starting from `prev`:
    the chain after `first` is then consistent again, as a careful forger would leave it."""
    for ev in AuditEvent.objects.filter(seq__gte=first).order_by("seq"):
        digest = event_hash(prev, _body(ev))
        AuditEvent.objects.filter(pk=ev.pk).update(prev_hash=prev, hash=digest)
        prev = digest


def _assert_same_failure(expected_seq: int) -> None:
    # The segments find the doubt (they do not report a tampered chain as intact), and the
    # answer is then the sequential walk's, field for field.
    assert _segments_result() is None
    seq = _sequential()
    assert not seq.ok and seq.bad_seq == expected_seq
    assert _parallel() == seq
    with pytest.raises(CommandError, match=f"FAIL at seq {expected_seq}: "):
        call_command("verify_audit_log", "--workers", str(WORKERS))


@pytest.fixture
def small_segments(monkeypatch):
    monkeypatch.setattr(selectors, "MIN_SEGMENT", MIN_SEGMENT)


# --- The fast row check against canonical_json ----------------------------------------------


@pytest.mark.parametrize("data", AWKWARD)
@pytest.mark.parametrize(
    "fields",
    [
        (None, None, None),
        (7, 3, "user:7"),
        (-1, 0, 'ünï "quoted" \\ target\n'),
    ],
)
def test_segment_check_hashes_exactly_what_event_hash_hashes(data, fields):
    actor, team, target = fields
    at = "2026-11-23T09:41:07.123456Z"
    text = json.dumps(data, indent=1)  # any layout: the check parses it, as the walk does
    prev = "a" * 64
    digest = event_hash(
        prev,
        {
            "seq": 5,
            "at": at,
            "actor": actor,
            "action": "x.y",
            "team": team,
            "target": target,
            "data": json.loads(text),
        },
    )
    row = (5, at, actor, "x.y", team, target, text, prev, digest)
    seg = verify_segment([row], 5, 5, checkpoint_seq=5)
    assert seg.ok and seg.first_prev_hash == prev and seg.last_hash == seg.checkpoint_hash == digest
    assert not verify_segment([(*row[:8], "b" * 64)], 5, 5).ok


def test_segment_check_rejects_wrong_types_instead_of_guessing():
    # "7" as an actor would be written 7 by a careless formatter; canonical_json writes "7".
    at, prev = "2026-11-23T09:41:07.123456Z", GENESIS_HASH
    body = {"seq": 1, "at": at, "actor": "7", "action": "a", "team": None, "target": None}
    digest = event_hash(prev, {**body, "data": {}})
    assert not verify_segment([(1, at, "7", "a", None, None, "{}", prev, digest)], 1, 1).ok


@pytest.mark.parametrize("text", [" {}", "{} ", "{}x", "{", ""])
def test_segment_check_takes_only_a_whole_json_text(text):
    # json.loads would refuse or accept some of these; the check proves nothing on any of them
    # and leaves the verdict to the walk.
    at, prev = "2026-11-23T09:41:07.123456Z", GENESIS_HASH
    body = {"seq": 1, "at": at, "actor": None, "action": "a", "team": None, "target": None}
    digest = event_hash(prev, {**body, "data": {}})
    assert verify_segment([(1, at, None, "a", None, None, "{}", prev, digest)], 1, 1).ok
    assert not verify_segment([(1, at, None, "a", None, None, text, prev, digest)], 1, 1).ok


def test_segment_check_needs_every_seq_of_its_range():
    assert not verify_segment([], 1, 3).ok


# --- The database, in worker processes --------------------------------------------------------


# The workers are forked only from a process running no other thread; the test process may
# have some (the browser tests' live server), so these two run in a fresh one, on the test
# database (committed rows: transaction=True).
_IN_A_FRESH_PROCESS = """
import json, sys, django
django.setup()
from django.core.management import call_command
from aigsec.audit import verify as selectors  # the chain verifier's home (issue 15)
selectors.MIN_SEGMENT = int(sys.argv[1])
if sys.argv[2] == "command":
    call_command("verify_audit_log", "--workers", "3", "-v", "2")
else:
    r, _ = selectors.audit_verify_db(3)
    print(json.dumps([r.ok, r.count, r.head_seq, r.head_hash, r.bad_seq, r.reason, r.workers]))
"""


def _fresh_process(what: str) -> str:
    from tests.ops.test_backup import _env

    name = connection.settings_dict["NAME"]
    env = _env(name, Path(settings.AIGSEC_DATA_DIR), key=settings.AUDIT_LOG_SIGNING_KEY)
    done = subprocess.run(
        [sys.executable, "-c", _IN_A_FRESH_PROCESS, str(MIN_SEGMENT), what],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.mark.django_db(transaction=True)
def test_intact_chain_same_result_in_three_processes():
    _seed()
    audit_checkpoint_take()
    audit_record("test.after_checkpoint")
    seq = _sequential()
    assert seq.ok and seq.count == N + 1
    par = json.loads(_fresh_process("result"))
    assert par == [seq.ok, seq.count, seq.head_seq, seq.head_hash, seq.bad_seq, seq.reason, 3]
    one, _ = audit_verify_db(1)
    assert one == seq and one.workers == 1


@pytest.mark.django_db(transaction=True)
def test_command_uses_the_workers():
    _seed(120)
    out = _fresh_process("command")
    assert "read by 3 process(es)" in out
    assert "OK: 120 events, head seq 120" in out


@pytest.mark.django_db(transaction=True)
def test_modified_data_in_the_middle_of_a_segment():
    _seed()
    AuditEvent.objects.filter(seq=150).update(data={"n": 999})
    _assert_same_failure(150)


@pytest.mark.django_db(transaction=True)
def test_deleted_event_in_the_middle():
    _seed()
    AuditEvent.objects.filter(seq=150).delete()
    _assert_same_failure(150)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("gone", [100, 101, 201])
def test_deleted_event_at_a_segment_boundary(gone):
    _seed()
    AuditEvent.objects.filter(seq=gone).delete()
    _assert_same_failure(gone)


@pytest.mark.django_db(transaction=True)
def test_deleted_tail_below_the_checkpoint():
    _seed()
    audit_checkpoint_take()
    AuditEvent.objects.filter(seq__gt=280).delete()
    _assert_same_failure(281)
    assert "below checkpoint" in _parallel().reason


@pytest.mark.django_db(transaction=True)
def test_reordered_events_across_a_boundary():
    _seed()
    with connection.cursor() as cur:
        cur.execute("UPDATE audit_event SET seq = 1000 WHERE seq = 100")
        cur.execute("UPDATE audit_event SET seq = 100 WHERE seq = 101")
        cur.execute("UPDATE audit_event SET seq = 101 WHERE seq = 1000")
    _assert_same_failure(100)


@pytest.mark.django_db(transaction=True)
def test_inserted_event_linked_to_its_predecessor():
    _seed()
    with connection.cursor() as cur:
        cur.execute("UPDATE audit_event SET seq = seq + 1000 WHERE seq > 150")
        cur.execute("UPDATE audit_event SET seq = seq - 999 WHERE seq > 1000")
    prev = AuditEvent.objects.get(seq=150)
    forged = AuditEvent(seq=151, at=prev.at, action="forged", data={}, prev_hash=prev.hash)
    forged.hash = event_hash(prev.hash, _body(forged))
    forged.save()
    _assert_same_failure(152)  # the original 151, now 152, no longer links


@pytest.mark.django_db(transaction=True)
def test_broken_link_at_a_boundary_with_both_segments_consistent():
    # Event 101 (first of segment 2) is re-hashed from a forged prev_hash, and everything after
    # it too: each segment checks out on its own; only the link from 100 to 101 is wrong.
    _seed()
    _rehash(101, "f" * 64)
    _assert_same_failure(101)
    assert _parallel().reason == "prev_hash does not link"


@pytest.mark.django_db(transaction=True)
def test_last_event_of_a_segment_rewritten_and_rehashed():
    # Event 200 rewritten and re-hashed: segment 2 still checks out on its own, segment 3's
    # first prev_hash no longer matches it.
    _seed()
    ev = AuditEvent.objects.get(seq=200)
    ev.data = {"rewritten": True}
    AuditEvent.objects.filter(pk=ev.pk).update(
        data=ev.data, hash=event_hash(ev.prev_hash, _body(ev))
    )
    _assert_same_failure(201)


@pytest.mark.django_db(transaction=True)
def test_history_rewritten_consistently_is_caught_by_the_checkpoint():
    _seed()
    audit_checkpoint_take()  # at 300
    ev = AuditEvent.objects.get(seq=250)
    AuditEvent.objects.filter(pk=ev.pk).update(action="rewritten")
    _rehash(250, ev.prev_hash)  # the chain is whole again; only the checkpoint knows
    _assert_same_failure(300)
    assert _parallel().reason == "hash differs from checkpoint"


# --- When the workers must not be used -------------------------------------------------------


@pytest.mark.django_db
def test_inside_a_transaction_the_chain_is_read_on_this_connection():
    # A test transaction: these events are not committed, a worker would not see them.
    _seed(120)
    assert not can_fork_for_verify()
    result, _ = audit_verify_db(WORKERS, min_segment=10)
    assert result.ok and result.count == 120 and result.workers == 1


def _report_can_fork(conn) -> None:
    conn.send(can_fork_for_verify())
    conn.close()


@pytest.mark.parametrize("daemon", [True, False])
def test_no_workers_from_a_daemonic_process(daemon):
    # A Celery prefork worker is a daemonic process, which may not start children.
    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_report_can_fork, args=(child,), daemon=daemon)
    proc.start()
    allowed = parent.recv()
    proc.join(timeout=30)
    assert allowed is (not daemon)


@pytest.mark.parametrize("value", ["0", "-2", "abc", "1.5", "65", ""])
def test_bad_workers_value_is_a_clear_error(value):
    with pytest.raises(CommandError, match="--workers: expected a whole number from 1 to 64"):
        call_command("verify_audit_log", "--workers", value)
