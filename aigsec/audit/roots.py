"""The Merkle roots of the audit log at given sizes, recomputed from the events themselves (not
from the stored tree), in parallel processes on PostgreSQL: verify_audit_log's Merkle pass.

The leaves are cut into blocks of BLOCK leaves (aligned: a block is a complete subtree), and
the blocks into one contiguous run per worker. A worker hashes its events and returns each
complete block's subtree hash, plus, for every wanted size inside its run, the compact range of
the leaves of that size's last, incomplete block. The parent appends the block hashes in order
to one RootBuilder; the root of size s is then the fold of the builder's stack (the complete
subtrees of the whole blocks before s) followed by that compact range. Only called on a chain
that verified (seq 1..top without a gap), so leaf i is the row of seq i + 1.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field

from django.db import connection, connections

from . import merkle
from .chain import EXPORT_FIELDS, export_line, format_at
from .models import AuditEvent
from .reads import can_fork_for_verify, range_rows

logger = logging.getLogger(__name__)

BLOCK = 1 << 16
_STEP = 10_000


def leaf_hashes(lo: int, hi: int) -> Iterator[bytes]:
    """Leaf hashes of the events of seq lo..hi, in seq order, each row the next leaf."""
    if connection.vendor == "postgresql":
        loads = json.loads
        with closing(range_rows(lo, hi, _STEP)) as rows:
            for row in rows:
                ev = dict(zip(EXPORT_FIELDS, row, strict=True))
                ev["data"] = loads(ev["data"])
                yield merkle.leaf_hash(export_line(ev).encode())
        return
    qs = AuditEvent.objects.filter(seq__gte=lo, seq__lte=hi).order_by("seq")
    for row in qs.values_list(*EXPORT_FIELDS).iterator(chunk_size=5000):
        ev = dict(zip(EXPORT_FIELDS, row, strict=True))
        ev["at"] = format_at(ev["at"])
        yield merkle.leaf_hash(export_line(ev).encode())


@dataclass
class RunResult:
    blocks: list[bytes] = field(default_factory=list)  # complete blocks, in order
    partial: dict[int, list[bytes]] = field(default_factory=dict)  # size -> compact range
    leaves: int = 0


def hash_run(first_leaf: int, last_leaf: int, sizes: list[int], block: int = BLOCK) -> RunResult:
    """Leaves first_leaf..last_leaf - 1 (first_leaf a multiple of `block`)."""
    out, builder = RunResult(), merkle.RootBuilder()
    wanted = {s for s in sizes if first_leaf < s <= last_leaf}
    for h in leaf_hashes(first_leaf + 1, last_leaf):
        builder.append(h)
        out.leaves += 1
        size = first_leaf + out.leaves
        if builder.size == block:
            out.blocks.append(builder.root())
            builder = merkle.RootBuilder()
            if size in wanted:
                out.partial[size] = []
        elif size in wanted:
            out.partial[size] = builder.stack()
    return out


def _hash_run_in_worker(first: int, last: int, sizes: list[int], block: int) -> RunResult:
    try:
        return hash_run(first, last, sizes, block)
    finally:
        connections.close_all()


def _fold(stack: Iterable[bytes]) -> bytes:
    hashes = list(stack)
    if not hashes:
        return merkle.EMPTY_ROOT
    acc = hashes[-1]
    for h in reversed(hashes[:-1]):
        acc = merkle.node_hash(h, acc)
    return acc


def roots_at(
    top: int, sizes: Iterable[int], *, workers: int = 1, block: int = BLOCK
) -> dict[int, bytes]:
    """Roots of the wanted sizes (≤ top, the number of events, all present and contiguous)."""

    wanted = sorted({s for s in sizes if 0 < s <= top})
    out: dict[int, bytes] = {}
    if not wanted:
        return out
    end = wanted[-1]
    blocks = -(-end // block)
    k = max(1, min(workers, blocks))
    cuts = [min(end, block * (blocks * i // k)) for i in range(k + 1)]
    runs = [(cuts[i], cuts[i + 1]) for i in range(k) if cuts[i] < cuts[i + 1]]
    if len(runs) > 1 and can_fork_for_verify():
        connections.close_all()  # each worker opens its own connection
        ctx = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max_workers=len(runs), mp_context=ctx) as pool:
            futures = [pool.submit(_hash_run_in_worker, a, b, wanted, block) for a, b in runs]
            results = [f.result() for f in futures]
    else:
        results = [hash_run(a, b, wanted, block) for a, b in runs]
    builder = merkle.RootBuilder()
    for result in results:
        base = builder.size * block
        for size in sorted(result.partial):
            whole = size // block - (base // block)
            # The block hashes of this run before `size`, appended on a copy of the builder.
            copy = builder.copy()
            for h in result.blocks[:whole]:
                copy.append(h)
            out[size] = _fold([*copy.stack(), *result.partial[size]])
        for h in result.blocks:
            builder.append(h)
    return out
