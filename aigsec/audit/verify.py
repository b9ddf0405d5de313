"""Verification of the audit log: the hash chain (in segments, in parallel processes on
PostgreSQL), and the transparency log over it (signed checkpoints, Merkle roots recomputed from
the events, the witness). Reads only; `services.audit_chain_verify` records the result.

The chain-only verifier (audit_verify_db, verify_events in chain.py) is unchanged in meaning:
a chain that verifies there still verifies, and docs/verify_audit_export.py still reads an
export on its own.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection, connections
from django.utils import timezone

from . import merkle, tree
from .chain import (
    EXPORT_FIELDS,
    GENESIS_HASH,
    Segment,
    VerifyResult,
    export_line,
    format_at,
    verify_events,
    verify_segment,
)
from .checkpoints import witness_notes
from .keys import log_origin, verifier
from .models import AuditCheckpoint, AuditEvent
from .note import MAX_NOTE_BYTES, NoteError, open_checkpoint
from .reads import VERIFY_COLUMNS, can_fork_for_verify, range_rows
from .roots import roots_at as merkle_roots_at

logger = logging.getLogger(__name__)


def checkpoint_signature_error(cp: AuditCheckpoint) -> str:
    """ "" when the stored note is signed by this log's key and states the row's size and root."""
    try:
        opened = open_checkpoint(cp.note, verifier())
    except NoteError as exc:
        return f"checkpoint at seq {cp.seq} has an invalid signature ({exc})"
    if opened.size != cp.seq or opened.root.hex() != cp.root:
        return (
            f"checkpoint at seq {cp.seq} has an invalid signature (the signed note is for "
            f"size {opened.size})"
        )
    return ""


def latest_valid_checkpoint() -> tuple[AuditCheckpoint | None, str]:
    """The newest checkpoint, and an error if its signature does not hold."""
    cp = AuditCheckpoint.objects.order_by("-seq", "-id").first()
    if cp is None:
        return None, ""
    return cp, checkpoint_signature_error(cp)


# The whole chain as export dicts, straight from a server-side cursor (reads.py's columns):
# about twice as fast as the ORM path (audit_events_iter), which matters for millions of events.
_VERIFY_SQL = VERIFY_COLUMNS + " ORDER BY seq"
# The extent of the chain, read once: segments are cut from 1 to max(seq), so events appended
# while the workers run are left out. A row below 1 or without a seq would be outside every
# segment, so it sends the check to the sequential walk, which reports it.
_BOUNDS_SQL = (
    "SELECT MIN(seq), MAX(seq), EXISTS (SELECT 1 FROM audit_event WHERE seq IS NULL) "
    "FROM audit_event"
)
# Below this many events a segment is not worth a process (a fork and a connection each).
MIN_SEGMENT = 20_000
MAX_WORKERS = 64


def default_verify_workers() -> int:
    return min(os.cpu_count() or 1, 4)


def _orm_events(chunk_size: int = 5000) -> Iterator[dict[str, Any]]:
    """Every event in seq order as an export dict, through the ORM (any database)."""
    rows = AuditEvent.objects.order_by("seq").values_list(*EXPORT_FIELDS)
    for row in rows.iterator(chunk_size=chunk_size):
        ev = dict(zip(EXPORT_FIELDS, row, strict=True))
        ev["at"] = format_at(ev["at"])
        yield ev


def _all_events_for_verify(chunk_size: int = 10_000) -> Iterator[dict[str, Any]]:
    if connection.vendor != "postgresql":
        yield from _orm_events()
        return
    loads = json.loads
    with connection.chunked_cursor() as cur:
        cur.execute(_VERIFY_SQL)
        while rows := cur.fetchmany(chunk_size):
            for seq, at, actor, action, team, target, data, prev_hash, digest in rows:
                yield {
                    "seq": seq,
                    "at": at,
                    "actor": actor,
                    "action": action,
                    "team": team,
                    "target": target,
                    "data": loads(data),
                    "prev_hash": prev_hash,
                    "hash": digest,
                }


def _verify_range(lo: int, hi: int, checkpoint_seq: int | None) -> Segment:
    """verify_segment over the rows lo..hi, read on this process's connection."""
    with closing(range_rows(lo, hi)) as rows:
        return verify_segment(rows, lo, hi, checkpoint_seq)


def _verify_range_in_worker(lo: int, hi: int, checkpoint_seq: int | None) -> Segment:
    # A forked worker: the parent closed its connections before forking, so this opens its own,
    # and closes it rather than leaving the server to notice the process is gone.
    try:
        return _verify_range(lo, hi, checkpoint_seq)
    finally:
        connections.close_all()


def _segments(top: int, k: int) -> list[tuple[int, int]]:
    """1..top cut into k contiguous ranges of nearly equal size."""
    cuts = [1 + top * i // k for i in range(k + 1)]
    return [(cuts[i], cuts[i + 1] - 1) for i in range(k)]


def _verify_by_segments(
    checkpoint: tuple[int, str] | None, workers: int, min_segment: int
) -> VerifyResult | None:
    """The chain verified in segments, in `workers` processes when that is safe. None at any
    doubt (a segment not proven, two segments not linked, the checkpoint not reached): the
    caller then walks the chain with verify_events, whose result names the problem."""
    with connection.cursor() as cur:
        cur.execute(_BOUNDS_SQL)
        low, top, has_null = cur.fetchone()
    if top is None or low != 1 or has_null:
        return None
    if checkpoint is not None and checkpoint[0] > top:
        return None
    cp_seq = checkpoint[0] if checkpoint else None
    k = max(1, min(workers, -(-top // max(1, min_segment))))
    if k > 1 and not can_fork_for_verify():
        k = 1
    if k == 1:
        segments = [_verify_range(1, top, cp_seq)]
    else:
        connections.close_all()  # each worker opens its own; a shared socket would mix replies
        try:
            ctx = multiprocessing.get_context("fork")
            with ProcessPoolExecutor(max_workers=k, mp_context=ctx) as pool:
                futures = [
                    pool.submit(_verify_range_in_worker, lo, hi, cp_seq)
                    for lo, hi in _segments(top, k)
                ]
                segments = [f.result() for f in futures]
        except Exception:  # a worker that died or failed proves nothing; the walk will say why
            logger.warning("audit verification: a worker failed", exc_info=True)
            return None
    prev, cp_hash = GENESIS_HASH, None
    for seg in segments:
        if not seg.ok or seg.first_prev_hash != prev:
            return None
        prev = seg.last_hash
        if seg.checkpoint_hash is not None:
            cp_hash = seg.checkpoint_hash
    if checkpoint is not None and cp_hash != checkpoint[1]:
        return None
    return VerifyResult(True, top, top, prev, workers=k)


def audit_verify_db(
    workers: int = 1, *, min_segment: int | None = None
) -> tuple[VerifyResult, AuditCheckpoint | None]:
    """Verify the whole chain in the database against the latest checkpoint.

    On PostgreSQL the chain is first checked in segments (`workers` processes when the caller
    allows more than one and forking is safe, see can_fork_for_verify); an intact chain is
    reported from that. At any doubt, and on other databases, the chain is walked in order by
    verify_events, so a failure is reported the same way whatever `workers` is."""
    cp, error = latest_valid_checkpoint()
    if error:
        assert cp is not None
        return VerifyResult(False, 0, 0, "", cp.seq, error), cp
    checkpoint = (cp.seq, cp.hash) if cp else None
    if connection.vendor == "postgresql":
        result = _verify_by_segments(checkpoint, workers, min_segment or MIN_SEGMENT)
        if result is not None:
            return result, cp
    return verify_events(_all_events_for_verify(), checkpoint), cp


# --- The transparency log ---------------------------------------------------------------------


@dataclass
class LogVerifyResult:
    """verify_audit_log's answer: the chain's result, and every problem found, chain first."""

    chain: VerifyResult
    newest: AuditCheckpoint | None
    problems: list[str] = field(default_factory=list)
    roots_checked: int = 0  # checkpoint sizes whose Merkle root was recomputed from the events
    witnessed: int = 0  # checkpoints read from the witness

    @property
    def ok(self) -> bool:
        return not self.problems


def _leaf_hashes(upto: int) -> Iterator[bytes]:
    """The leaf hash of every stored event up to seq `upto`, in seq order (gaps are the
    chain's to report: here each row is simply the next leaf)."""
    if connection.vendor == "postgresql":
        loads, keys = json.loads, EXPORT_FIELDS
        with closing(range_rows(1, upto)) as rows:
            for row in rows:
                ev = dict(zip(keys, row, strict=True))
                ev["data"] = loads(ev["data"])
                yield merkle.leaf_hash(export_line(ev).encode())
        return
    for ev in _orm_events():
        if ev["seq"] > upto:
            return
        yield merkle.leaf_hash(export_line(ev).encode())


def read_checkpoint_file(path: Path) -> str:
    if not path.is_file():
        raise NoteError(f"{path}: no such file")
    if path.stat().st_size > MAX_NOTE_BYTES:
        raise NoteError(f"{path}: too large for a checkpoint")
    return path.read_text(encoding="utf-8")


def audit_log_verify(
    *,
    workers: int = 1,
    external: list[str] | None = None,
    witness: Path | None = None,
    now: datetime | None = None,
) -> LogVerifyResult:
    """The chain, then the transparency log over it:

    - every stored checkpoint's signature, and its root recomputed from the events (so every
      two successive checkpoints are consistent: both are prefixes of the same leaves);
    - every checkpoint the witness holds is in the database, with the same root;
    - each `external` checkpoint (signed notes kept elsewhere) verifies and matches the log;
    - the newest checkpoint is not older than the newest events by more than
      AUDIT_CHECKPOINT_MAX_LAG seconds;
    - the consistency proof between the two newest checkpoints, built from the stored tree
      nodes (what the API serves), verifies."""
    chain, newest = audit_verify_db(workers)
    result = LogVerifyResult(chain, newest)
    problems = result.problems
    if not chain.ok:
        problems.append(f"FAIL at seq {chain.bad_seq}: {chain.reason}")
    v = verifier()
    stored: dict[int, str] = {}
    for cp in AuditCheckpoint.objects.order_by("seq").iterator(chunk_size=2000):
        error = checkpoint_signature_error(cp)
        if error:
            problems.append(error)
        stored[cp.seq] = cp.root
    wanted: dict[int, list[tuple[str, str]]] = {}  # size -> [(root hex, where it came from)]
    for size, root in stored.items():
        wanted.setdefault(size, []).append((root, "stored checkpoint"))
    for note in witness_notes(witness):
        result.witnessed += 1
        try:
            cp = open_checkpoint(note, v)
        except NoteError as exc:
            problems.append(f"the witness holds a checkpoint that does not verify ({exc})")
            continue
        if cp.size not in stored:
            problems.append(
                f"checkpoint at size {cp.size} held by the witness is missing from the database"
            )
        elif stored[cp.size] != cp.root.hex():
            problems.append(f"checkpoint at size {cp.size} differs from the witness's copy")
        wanted.setdefault(cp.size, []).append((cp.root.hex(), "witnessed checkpoint"))
    for i, note in enumerate(external or [], start=1):
        try:
            cp = open_checkpoint(note, v, origin=log_origin())
        except NoteError as exc:
            problems.append(f"checkpoint {i} given does not verify: {exc}")
            continue
        wanted.setdefault(cp.size, []).append((cp.root.hex(), f"checkpoint {i} given"))
    events = AuditEvent.objects.count()
    top = max(wanted, default=0)
    if chain.ok:
        # Seq 1..events without a gap (events appended since the chain check included): the
        # roots in parallel segments (roots.py).
        roots = merkle_roots_at(events, wanted, workers=workers)
    else:  # each remaining row is simply the next leaf; the chain's failure says why
        roots = merkle.roots_at(_leaf_hashes(top), wanted) if wanted else {}
    for size in sorted(wanted):
        for root_hex, where in wanted[size]:
            if size not in roots:
                problems.append(
                    f"the log has {events} events, fewer than the {where} at size {size} "
                    "(events removed)"
                )
            elif roots[size].hex() != root_hex:
                problems.append(
                    f"the Merkle root of the first {size} events differs from the {where} "
                    "(history rewritten)"
                )
            else:
                result.roots_checked += 1
    sizes = sorted(stored)
    if len(sizes) >= 2 and not problems:
        first, second = sizes[-2], sizes[-1]
        try:
            proof = tree.consistency_proof(first, second)
        except tree.TreeIncomplete as exc:
            problems.append(f"stored tree incomplete: {exc}")
        else:
            a, b = bytes.fromhex(stored[first]), bytes.fromhex(stored[second])
            if not merkle.verify_consistency(first, second, a, b, proof):
                problems.append(f"the stored tree gives no valid proof from {first} to {second}")
    lag = _checkpoint_lag(newest, now or timezone.now())
    if lag:
        problems.append(lag)
    return result


def _checkpoint_lag(newest: AuditCheckpoint | None, now: datetime) -> str:
    first_uncovered = (
        AuditEvent.objects.filter(seq__gt=newest.seq if newest else 0)
        .order_by("seq")
        .values_list("seq", "at")
        .first()
    )
    if first_uncovered is None:
        return ""
    seq, at = first_uncovered
    limit = settings.AUDIT_CHECKPOINT_MAX_LAG
    if (now - at).total_seconds() <= limit:
        return ""
    return (
        f"events from seq {seq} (at {format_at(at)}) have had no checkpoint for more than "
        f"{limit} s (AUDIT_CHECKPOINT_MAX_LAG): checkpoints are not being taken"
    )
