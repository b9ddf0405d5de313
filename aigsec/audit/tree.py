"""The audit log's Merkle tree in the database: stored nodes, their catch-up, roots and proofs.

Leaf `i` is the event `seq = i + 1` hashed over its export line (merkle.py). Complete subtree
hashes are kept at every second level (`AuditTreeNode`, about one row per three events): a hash
at an odd level is two stored nodes, a hash below level 2 at most 4 events. A root, an
inclusion proof or a consistency proof therefore reads a few dozen rows in three queries,
whatever the size of the log. (Every fourth level stores 5x fewer rows but a bundle of
thousands of scattered events then reads 16 events and up to 15 nodes per proof level: 3-4x
slower; every level doubles the work of a checkpoint. Measured with bench/tlog.py.)

Nodes are added lazily, under the lock of the `AuditTreeState` row, up to the last complete
block of 4 leaves of a size whose events are committed (tree_extend). Appends never wait for
it: the chain head's lock orders the events, and events are never changed afterwards, so the
nodes of the first N leaves are the same whoever computes them and whenever.

Every read first plans which stored nodes and events it needs (running the computation once
with placeholders: the shape of a Merkle computation never depends on the hash values), reads
them in bulk, then runs it again with the values.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from django.db import transaction
from django.db.models import Q

from . import merkle
from .chain import EXPORT_FIELDS, export_line, format_at
from .models import AuditEvent, AuditTreeNode, AuditTreeState

TILE = 2  # stored levels are the multiples of TILE above the leaves
BLOCK = 1 << TILE  # leaves under one node of the lowest stored level
_CHUNK = 1 << 16  # leaves per transaction while catching up (a multiple of BLOCK)
_IN_CHUNK = 5000  # ids per IN (...) list
_PLACEHOLDER = b"\x00" * 32

T = TypeVar("T")
NodeFn = Callable[[int, int], bytes]


class TreeIncomplete(RuntimeError):
    """Stored nodes or events that the tree needs are missing (a damaged or partial restore)."""


def _stored(level: int) -> bool:
    return level > 0 and level % TILE == 0


def mth_over(node: NodeFn) -> merkle.RangeHash:
    """MTH(D[lo:hi]) from complete aligned subtree hashes node(level, index)."""

    def mth(lo: int, hi: int) -> bytes:
        n = hi - lo
        if n == 0:
            return merkle.EMPTY_ROOT
        if n & (n - 1) == 0 and lo % n == 0:
            return node(n.bit_length() - 1, lo // n)
        k = merkle.split_point(n)
        return merkle.node_hash(mth(lo, lo + k), mth(lo + k, hi))

    return mth


def _events_rows(seqs: Iterable[int] | None = None, lo: int = 0, hi: int = 0) -> Iterator[dict]:
    qs = AuditEvent.objects.order_by("seq")
    qs = qs.filter(seq__in=list(seqs)) if seqs is not None else qs.filter(seq__gt=lo, seq__lte=hi)
    for row in qs.values_list(*EXPORT_FIELDS).iterator(chunk_size=5000):
        ev = dict(zip(EXPORT_FIELDS, row, strict=True))
        ev["at"] = format_at(ev["at"])
        yield ev


def leaf_hashes_between(lo: int, hi: int) -> Iterator[bytes]:
    """Leaf hashes of leaves lo..hi-1 (events lo+1..hi) in order; TreeIncomplete on a gap."""
    expected = lo + 1
    for ev in _events_rows(lo=lo, hi=hi):
        if ev["seq"] != expected:
            raise TreeIncomplete(f"event seq {expected} is missing")
        yield merkle.leaf_hash(export_line(ev).encode())
        expected += 1
    if expected != hi + 1:
        raise TreeIncomplete(f"event seq {expected} is missing")


def _leaves(indices: set[int]) -> dict[int, bytes]:
    out: dict[int, bytes] = {}
    ordered = sorted(indices)
    for i in range(0, len(ordered), _IN_CHUNK):
        chunk = ordered[i : i + _IN_CHUNK]
        for ev in _events_rows(seqs=[j + 1 for j in chunk]):
            out[ev["seq"] - 1] = merkle.leaf_hash(export_line(ev).encode())
    if len(out) != len(indices):
        missing = min(indices - set(out))
        raise TreeIncomplete(f"event seq {missing + 1} is missing")
    return out


def _nodes(keys: set[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
    """Stored nodes by (level, index): one query per 5,000 keys, whatever the levels."""
    ordered = sorted(keys)
    out: dict[tuple[int, int], bytes] = {}
    for i in range(0, len(ordered), _IN_CHUNK):
        by_level: dict[int, list[int]] = {}
        for level, index in ordered[i : i + _IN_CHUNK]:
            by_level.setdefault(level, []).append(index)
        where = Q()
        for level, indices in by_level.items():
            where |= Q(level=level, index__in=indices)
        rows = AuditTreeNode.objects.filter(where).values_list("level", "index", "hash")
        for level, index, digest in rows:
            out[(level, index)] = bytes(digest)
    if len(out) != len(keys):
        level, index = min(keys - set(out))
        raise TreeIncomplete(f"stored tree node {level}/{index} is missing")
    return out


def covered_size() -> int:
    state = AuditTreeState.objects.filter(pk=1).values_list("size", flat=True).first()
    return state or 0


def compute(fn: Callable[[merkle.RangeHash], T], covered: int | None = None) -> T:
    """fn(mth) over the stored tree: planned, read in bulk (two or three queries), computed."""
    covered = covered_size() if covered is None else covered
    want_nodes: set[tuple[int, int]] = set()
    want_leaves: set[int] = set()
    seen: set[tuple[int, int]] = set()

    def plan(level: int, index: int) -> bytes:
        key = (level, index)
        if key in seen:
            return _PLACEHOLDER
        seen.add(key)
        if level == 0:
            want_leaves.add(index)
        elif _stored(level) and (index + 1) << level <= covered:
            want_nodes.add(key)
        else:
            plan(level - 1, 2 * index)
            plan(level - 1, 2 * index + 1)
        return _PLACEHOLDER

    fn(mth_over(plan))
    nodes = _nodes(want_nodes)
    leaves = _leaves(want_leaves)
    memo: dict[tuple[int, int], bytes] = {}

    def node(level: int, index: int) -> bytes:
        if level == 0:
            return leaves[index]
        key = (level, index)
        found = nodes.get(key) or memo.get(key)
        if found is None:
            found = merkle.node_hash(node(level - 1, 2 * index), node(level - 1, 2 * index + 1))
            memo[key] = found
        return found

    return fn(mth_over(node))


def root(size: int) -> bytes:
    return compute(lambda mth: mth(0, size))


def inclusion_proof(index: int, size: int) -> list[bytes]:
    return compute(lambda mth: merkle.inclusion_proof(index, size, mth))


def inclusion_proofs(indices: list[int], size: int) -> tuple[bytes, list[list[bytes]]]:
    """The root of `size` and one proof per index, planned and read together (a bundle)."""
    return compute(
        lambda mth: (mth(0, size), [merkle.inclusion_proof(i, size, mth) for i in indices])
    )


def consistency_proof(first: int, second: int) -> list[bytes]:
    return compute(lambda mth: merkle.consistency_proof(first, second, mth))


@dataclass(frozen=True)
class Extended:
    before: int
    after: int


def _combine(hashes: list[bytes]) -> bytes:
    """The root of a complete subtree over len(hashes) == 2**TILE aligned equal-level hashes."""
    while len(hashes) > 1:
        hashes = [merkle.node_hash(hashes[i], hashes[i + 1]) for i in range(0, len(hashes), 2)]
    return hashes[0]


def tree_extend(size: int) -> Extended:
    """Store the nodes of the first `size` leaves (rounded down to whole blocks of BLOCK).

    The caller must know that events 1..size are committed. Each chunk of leaves is added
    under the state row's lock in a transaction of its own, so a long first build (a large log
    after the upgrade that introduced the tree) keeps its progress if it is interrupted; work is
    proportional to the new leaves (plus at most BLOCK - 1 older nodes per level)."""
    target = size - size % BLOCK
    AuditTreeState.objects.get_or_create(pk=1)
    before = None
    while True:
        with transaction.atomic():
            done = AuditTreeState.objects.select_for_update().get(pk=1).size
            before = done if before is None else before
            if done >= target:
                return Extended(before, done)
            upto = min(target, done + _CHUNK)
            _extend_chunk(done, upto)
            AuditTreeState.objects.filter(pk=1).update(size=upto)


def _extend_chunk(lo: int, hi: int) -> None:
    """Add the nodes that become complete when the covered leaves grow from lo to hi (both
    multiples of BLOCK)."""
    leaves = list(leaf_hashes_between(lo, hi))
    new: list[AuditTreeNode] = []
    # Level TILE from the leaves.
    level_hashes = [_combine(leaves[i : i + BLOCK]) for i in range(0, len(leaves), BLOCK)]
    first = lo >> TILE
    new += [AuditTreeNode(level=TILE, index=first + i, hash=h) for i, h in enumerate(level_hashes)]
    known = {(TILE, first + i): h for i, h in enumerate(level_hashes)}
    level = TILE
    while (hi >> (level + TILE)) > (lo >> (level + TILE)):
        up = level + TILE
        start, end = lo >> up, hi >> up  # new complete nodes at `up`: start..end-1
        below = set(range(start * BLOCK, end * BLOCK))
        missing = {(level, i) for i in below if (level, i) not in known}
        known |= _nodes(missing)
        for j in range(start, end):
            h = _combine([known[(level, i)] for i in range(j * BLOCK, (j + 1) * BLOCK)])
            known[(up, j)] = h
            new.append(AuditTreeNode(level=up, index=j, hash=h))
        level = up
    AuditTreeNode.objects.bulk_create(new, batch_size=2000)
