"""The audit chain read in ranges of seq, straight from PostgreSQL: shared by the chain
verifier (verify.py) and the Merkle roots (roots.py), each possibly in forked workers."""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Iterator

from django.db import connection

from .chain import Row

# PostgreSQL formats `at` exactly as format_at does and hands `data` over as text.
VERIFY_COLUMNS = (
    "SELECT seq, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), actor, "
    "action, team, target, data::text, prev_hash, hash FROM audit_event"
)
_RANGE_SQL = VERIFY_COLUMNS + " WHERE seq BETWEEN %s AND %s ORDER BY seq"
STEP = 10_000


def range_rows(lo: int, hi: int, step: int = STEP) -> Iterator[Row]:
    # One plain query per `step` events rather than one server-side cursor: outside a
    # transaction Django declares that cursor WITH HOLD, so PostgreSQL first copies the whole
    # result aside before the first FETCH (server CPU ~1.1 s against ~0.65 s for 500,000
    # events, docs/benchmarks.md). A step's rows (~4 MB) are all the memory this holds. Appends
    # only add events above hi, so reading lo..hi in several statements reads the same events.
    with connection.cursor() as cur:
        for start in range(lo, hi + 1, step):
            cur.execute(_RANGE_SQL, [start, min(start + step - 1, hi)])
            yield from cur.fetchall()


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
