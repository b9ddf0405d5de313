"""The transparency log at scale, measured by hand (issue 18): N synthetic events loaded with
COPY into a database of its own, then the operations whose budgets the issue sets.

    BENCH_TLOG_DB=aigsec_tlog BENCH_TLOG_EVENTS=5000000 .venv/bin/python -m bench.tlog

Prints one line per measurement. Not part of the test suite; numbers go to docs/benchmarks.md.
"""

from __future__ import annotations

import os
import random
import shutil
import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

DB = os.environ.get("BENCH_TLOG_DB", "aigsec_tlog")
N = int(os.environ.get("BENCH_TLOG_EVENTS", "5000000"))
TEAMS = int(os.environ.get("BENCH_TLOG_TEAMS", max(1, N // 10_000)))  # ~10,000 events each
ROOT = Path(__file__).resolve().parent.parent


def _setup() -> None:
    # A fresh data dir: the witness of an earlier run (another database) would rightly fail
    # the verification of this one.
    shutil.rmtree(ROOT / "var" / "bench-tlog", ignore_errors=True)
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)')
        c.execute(f'CREATE DATABASE "{DB}"')
    os.environ.update(
        DJANGO_SETTINGS_MODULE="aigsec.settings",
        DJANGO_DEBUG="1",
        DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{DB}",
        AIGSEC_DATA_DIR=str(ROOT / "var" / "bench-tlog"),
        CELERY_BROKER_URL="",
        REDIS_URL="",
        AUDIT_CHECKPOINT_DEBOUNCE="0",
        LOG_LEVEL="WARNING",
    )
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def _load() -> None:
    from django.db import connection

    from aigsec.audit.chain import GENESIS_HASH, event_hash, format_at
    from aigsec.audit.models import AuditChainHead

    base = datetime.now(UTC) - timedelta(hours=2)
    prev = GENESIS_HASH
    cols = "seq, at, actor, action, team, target, data, prev_hash, hash"
    with connection.cursor() as cur, cur.cursor.copy(f"COPY audit_event ({cols}) FROM STDIN") as cp:
        for seq in range(1, N + 1):
            at = base + timedelta(microseconds=seq * 1000)
            team = seq % TEAMS + 1
            body = {
                "seq": seq,
                "at": format_at(at),
                "actor": None,
                "action": "bench.event",
                "team": team,
                "target": f"thing:{seq}",
                "data": {"i": seq},
            }
            digest = event_hash(prev, body)
            cp.write_row(
                (
                    seq,
                    at,
                    None,
                    "bench.event",
                    team,
                    f"thing:{seq}",
                    f'{{"i": {seq}}}',
                    prev,
                    digest,
                )
            )
            prev = digest
    AuditChainHead.objects.update_or_create(pk=1, defaults={"seq": N, "hash": prev})


def _timed(label: str, fn, repeat: int = 1):
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    ms = statistics.median(times) * 1000
    print(f"{label}: median {ms:.1f} ms over {repeat}", flush=True)
    return result


def main() -> None:
    _setup()
    t0 = time.perf_counter()
    _load()
    print(f"loaded {N} events in {time.perf_counter() - t0:.0f} s", flush=True)
    from aigsec.audit import logproofs, tree

    if os.environ.get("BENCH_TLOG_TILE"):  # compare layouts of the stored tree
        tree.TILE = int(os.environ["BENCH_TLOG_TILE"])
        tree.BLOCK = 1 << tree.TILE
    from aigsec.audit.checkpoints import audit_checkpoint_take
    from aigsec.audit.selectors import AuditFilters
    from aigsec.audit.services import audit_record
    from aigsec.audit.verify import audit_log_verify

    _timed("first tree build (all events, once)", lambda: tree.tree_extend(N))
    _timed("first checkpoint", audit_checkpoint_take)
    for i in range(1000):
        audit_record("bench.more", team=1, target=f"more:{i}")
    _timed("checkpoint after 1,000 new events", audit_checkpoint_take)
    size = N + 1000
    rng = random.Random(1)  # noqa: S311 (which leaves are proven, not a secret)
    _timed("inclusion proof", lambda: tree.inclusion_proof(rng.randrange(size), size), 50)

    class Form:
        def filters(self):
            return AuditFilters()

    bundle = _timed(
        f"team bundle (~{N // TEAMS} events)",
        lambda: logproofs.team_bundle(actor=None, team_id=2, form=Form(), filters={}),
    )
    print(f"  bundle events: {len(bundle['events'])}")
    result = _timed("verify_audit_log (4 workers)", lambda: audit_log_verify(workers=4))
    print(f"  ok={result.ok} problems={result.problems[:3]}")


if __name__ == "__main__":
    main()
