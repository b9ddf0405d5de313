"""Reads of the audit trail: export rows, the team's filtered pages, verification."""

from __future__ import annotations

import csv
import hmac
import json
import logging
import multiprocessing
import os
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection, connections
from django.db.models import QuerySet

from .chain import (
    EXPORT_FIELDS,
    GENESIS_HASH,
    Row,
    Segment,
    VerifyResult,
    canonical_json,
    checkpoint_mac,
    format_at,
    verify_events,
    verify_segment,
)
from .models import AuditCheckpoint, AuditEvent
from .services import checkpoint_key

PAGE_SIZE = 50
logger = logging.getLogger(__name__)


def audit_events_iter(
    chunk_size: int = 5000, events: QuerySet[AuditEvent] | None = None
) -> Iterator[dict[str, Any]]:
    """Events (all of them by default) in seq order as export dicts, streamed in chunks."""
    qs = AuditEvent.objects.all() if events is None else events
    rows = qs.order_by("seq").values_list(*EXPORT_FIELDS)
    for row in rows.iterator(chunk_size=chunk_size):
        ev = dict(zip(EXPORT_FIELDS, row, strict=True))
        ev["at"] = format_at(ev["at"])
        yield ev


def audit_export_lines(events: QuerySet[AuditEvent] | None = None) -> Iterator[str]:
    """The verifiable JSON-lines export: one canonical JSON object per line, in seq order.

    The one writer of this format (the CLI and the web export both use it), so a file from
    either is read by `verify_audit_log --file` and docs/verify_audit_export.py alike."""
    for ev in audit_events_iter(events=events):
        yield canonical_json(ev) + "\n"


# --- CSV for people -------------------------------------------------------------------------

CSV_FIELDS = ("seq", "at", "actor", "actor_email", "action", "team", "target", "data")
CSV_FIELDS += ("prev_hash", "hash")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> str:
    """A cell a spreadsheet will not run: text starting like a formula gets a leading '."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


class _Echo:
    def write(self, value: str) -> str:
        return value


def _batched(it: Iterable[Any], n: int) -> Iterator[list[Any]]:
    it = iter(it)
    while batch := list(islice(it, n)):
        yield batch


def audit_csv_lines(events: QuerySet[AuditEvent], batch: int = 2000) -> Iterator[str]:
    """The same events as CSV lines, with the actor's e-mail (one user query per batch).

    Not verifiable as a chain (cells are guarded and `data` is re-serialised): the JSON-lines
    export is the evidence, the CSV is for reading."""
    writer = csv.writer(_Echo())
    yield "\ufeff" + writer.writerow(CSV_FIELDS)  # BOM: spreadsheets then read UTF-8 right
    for chunk in _batched(audit_events_iter(events=events), batch):
        emails = _emails({ev["actor"] for ev in chunk})
        for ev in chunk:
            row = ev | {"actor_email": emails.get(ev["actor"], "")}
            row["data"] = canonical_json(ev["data"])
            yield writer.writerow([csv_cell(row[f]) for f in CSV_FIELDS])


def _emails(ids: set[int | None]) -> dict[int, str]:
    ids = {i for i in ids if i is not None}
    if not ids:
        return {}
    return dict(get_user_model().objects.filter(pk__in=ids).order_by().values_list("pk", "email"))


# --- The team's trail, filtered and paged ---------------------------------------------------


@dataclass(frozen=True)
class AuditFilters:
    actor_email: str = ""  # part of the actor's e-mail address
    action: str = ""  # an action, or a prefix ending in "." ("evidence.")
    target: str = ""  # part of the target ("assessment:12")
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive


def audit_events_for_team(team_id: int, f: AuditFilters) -> QuerySet[AuditEvent]:
    """The team's events matching the filters. Events without a team (sign-ins, system events)
    belong to no team and are never included."""
    qs = AuditEvent.objects.filter(team=team_id)
    if f.actor_email:
        users = get_user_model().objects.filter(email__icontains=f.actor_email)
        qs = qs.filter(actor__in=users.values("pk"))
    if f.action.endswith("."):
        qs = qs.filter(action__startswith=f.action)
    elif f.action:
        qs = qs.filter(action=f.action)
    if f.target:
        qs = qs.filter(target__icontains=f.target)
    if f.since is not None:
        qs = qs.filter(at__gte=f.since)
    if f.until is not None:
        qs = qs.filter(at__lt=f.until)
    return qs


# The distinct actions of a team, one index probe each on (team, action): a recursive query
# that jumps from one action to the next greater one instead of reading every event
# (SELECT DISTINCT read a team's ~5,000 events, 20 ms at benchmark scale, for ~30 names).
# Plain SQL that PostgreSQL and SQLite both run.
_ACTIONS_SQL = """
WITH RECURSIVE walk(action) AS (
    SELECT MIN(action) FROM {table} WHERE team = %s
    UNION ALL
    SELECT (SELECT MIN(action) FROM {table} WHERE team = %s AND action > walk.action)
    FROM walk WHERE walk.action IS NOT NULL
)
SELECT action FROM walk WHERE action IS NOT NULL
"""


def audit_actions_for_team(team_id: int) -> list[str]:
    """The distinct actions present in the team's trail, sorted (one query), for the filter's
    select."""
    sql = _ACTIONS_SQL.format(table=connection.ops.quote_name(AuditEvent._meta.db_table))
    with connection.cursor() as cursor:
        cursor.execute(sql, [team_id, team_id])
        return [row[0] for row in cursor.fetchall()]


@dataclass
class AuditPage:
    events: list[AuditEvent]  # newest first; each has .actor_email ("" if unknown), .data_text
    newer_after: int | None = None  # ?after= for the page of newer events
    older_before: int | None = None  # ?before= for the page of older events


def audit_page(
    team_id: int,
    f: AuditFilters,
    *,
    before: int | None = None,
    after: int | None = None,
    size: int = PAGE_SIZE,
) -> AuditPage:
    """One page of the team's events, newest first, keyset-paged on seq.

    Two queries whatever the trail's length: the events (one row more than the page, to know
    whether there is another page; served by the (team, -seq) index) and the actors' e-mails.
    """
    qs = audit_events_for_team(team_id, f)
    if after is not None:
        rows = list(qs.filter(seq__gt=after).order_by("seq")[: size + 1])
        more_newer = len(rows) > size
        events = rows[:size][::-1]
        page = AuditPage(events, newer_after=events[0].seq if more_newer and events else None)
        page.older_before = events[-1].seq if events else after + 1
    else:
        if before is not None:
            qs = qs.filter(seq__lt=before)
        rows = list(qs.order_by("-seq")[: size + 1])
        events = rows[:size]
        page = AuditPage(events, older_before=events[-1].seq if len(rows) > size else None)
        if before is not None:
            page.newer_after = events[0].seq if events else before - 1
    emails = _emails({ev.actor for ev in events})
    for ev in events:
        ev.actor_email = emails.get(ev.actor, "")
        ev.data_text = canonical_json(ev.data) if ev.data else ""
    return page


def audit_newest_seq(team_id: int) -> int:
    """The seq of the team's newest event, 0 for none: one probe of the (team, -seq) index."""
    return (
        AuditEvent.objects.filter(team=team_id).order_by("-seq").values_list("seq", flat=True)
    ).first() or 0


def audit_actor_email(event: AuditEvent) -> str:
    return _emails({event.actor}).get(event.actor, "") if event.actor else ""


# --- Verification ---------------------------------------------------------------------------


def latest_valid_checkpoint() -> tuple[AuditCheckpoint | None, str]:
    """The newest checkpoint, and an error if its signature does not hold."""
    cp = AuditCheckpoint.objects.order_by("-seq", "-id").first()
    if cp is None:
        return None, ""
    expected = checkpoint_mac(checkpoint_key(), cp.seq, cp.hash)
    if not hmac.compare_digest(expected, cp.mac):
        return cp, f"checkpoint at seq {cp.seq} has an invalid signature"
    return cp, ""


# The whole chain as export dicts, straight from a server-side cursor: PostgreSQL formats `at`
# exactly as format_at does and hands `data` over as text. About twice as fast as the ORM path
# (audit_events_iter), which matters for a chain of millions of events (docs/benchmarks.md).
_VERIFY_COLUMNS = (
    "SELECT seq, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), actor, "
    "action, team, target, data::text, prev_hash, hash FROM audit_event"
)
_VERIFY_SQL = _VERIFY_COLUMNS + " ORDER BY seq"
_VERIFY_RANGE_SQL = _VERIFY_COLUMNS + " WHERE seq BETWEEN %s AND %s ORDER BY seq"
# The extent of the chain, read once: segments are cut from 1 to max(seq), so events appended
# while the workers run are left out. A row below 1 or without a seq would be outside every
# segment, so it sends the check to the sequential walk, which reports it.
_BOUNDS_SQL = (
    "SELECT MIN(seq), MAX(seq), EXISTS (SELECT 1 FROM audit_event WHERE seq IS NULL) "
    "FROM audit_event"
)
# Below this many events a segment is not worth a process (a fork and a connection each).
MIN_SEGMENT = 20_000
_VERIFY_STEP = 10_000
MAX_WORKERS = 64


def default_verify_workers() -> int:
    return min(os.cpu_count() or 1, 4)


def _all_events_for_verify(chunk_size: int = 10_000) -> Iterator[dict[str, Any]]:
    if connection.vendor != "postgresql":
        yield from audit_events_iter()
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


def _range_rows(lo: int, hi: int, step: int = _VERIFY_STEP) -> Iterator[Row]:
    # One plain query per `step` events rather than one server-side cursor: outside a
    # transaction Django declares that cursor WITH HOLD, so PostgreSQL first copies the whole
    # result aside before the first FETCH (server CPU ~1.1 s against ~0.65 s for 500,000
    # events, docs/benchmarks.md). A step's rows (~4 MB) are all the memory this holds. Appends
    # only add events above hi, so reading lo..hi in several statements reads the same events.
    with connection.cursor() as cur:
        for start in range(lo, hi + 1, step):
            cur.execute(_VERIFY_RANGE_SQL, [start, min(start + step - 1, hi)])
            yield from cur.fetchall()


def _verify_range(lo: int, hi: int, checkpoint_seq: int | None) -> Segment:
    """verify_segment over the rows lo..hi, read on this process's connection."""
    with closing(_range_rows(lo, hi)) as rows:
        return verify_segment(rows, lo, hi, checkpoint_seq)


def _verify_range_in_worker(lo: int, hi: int, checkpoint_seq: int | None) -> Segment:
    # A forked worker: the parent closed its connections before forking, so this opens its own,
    # and closes it rather than leaving the server to notice the process is gone.
    try:
        return _verify_range(lo, hi, checkpoint_seq)
    finally:
        connections.close_all()


def can_fork_for_verify() -> bool:
    """Whether the chain may be read by forked processes, each on its own connection.

    Not on SQLite; not inside a transaction (its uncommitted events, a test's among them, are
    invisible to other connections, and closing the connection to fork would end it); not in
    a daemonic process (a Celery prefork worker may not have children); not with other threads
    running (a fork copies their locks, held or not)."""
    return (
        connection.vendor == "postgresql"
        and not connection.in_atomic_block
        and not multiprocessing.current_process().daemon
        and "fork" in multiprocessing.get_all_start_methods()
        and threading.active_count() == 1
    )


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
