"""The Merkle tree of the audit log, exactly as RFC 9162 section 2.1 defines it (the tree of
Certificate Transparency), over SHA-256.

Pure functions over bytes, shared by the server (aigsec/audit/tree.py) and mirrored by the
standalone verifier (docs/verify_audit_bundle.py). Leaf `i` (0-based) of the audit log is the
event with `seq = i + 1`; its input bytes are the event's `export_audit_log` line.

Proofs are built from a `RangeHash`, a function giving MTH(D[lo:hi]) for the ranges the
RFC's PATH and SUBPROOF ask for; an in-memory list of leaves and the stored nodes of the
database (tree.py) both provide one, so the proof algorithms exist once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()  # MTH({}) = SHA-256()

RangeHash = Callable[[int, int], bytes]


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def split_point(n: int) -> int:
    """The largest power of two smaller than n (n > 1): the RFC's k."""
    return 1 << ((n - 1).bit_length() - 1)


def root_of(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH of a list of leaf hashes, in one pass with a stack of complete subtrees."""
    builder = RootBuilder()
    for h in leaf_hashes:
        builder.append(h)
    return builder.root()


class RootBuilder:
    """Leaves appended one by one; the root of the tree so far at any moment (O(log n)).

    Holds one hash per set bit of the size: the complete subtrees, largest first (a "compact
    range"). The root folds them right to left, as MTH splits at the largest power of two."""

    __slots__ = ("_stack", "size")

    def __init__(self) -> None:
        self.size = 0
        self._stack: list[bytes] = []

    def append(self, h: bytes) -> None:
        self.size += 1
        self._stack.append(h)
        # Merge while the new size has trailing zero bits: each is a completed pair.
        n = self.size
        while n & 1 == 0:
            right = self._stack.pop()
            self._stack[-1] = node_hash(self._stack[-1], right)
            n >>= 1

    def stack(self) -> list[bytes]:
        """The complete subtrees so far, largest first (a copy)."""
        return list(self._stack)

    def copy(self) -> RootBuilder:
        other = RootBuilder()
        other.size, other._stack = self.size, list(self._stack)
        return other

    def root(self) -> bytes:
        if not self._stack:
            return EMPTY_ROOT
        acc = self._stack[-1]
        for h in reversed(self._stack[:-1]):
            acc = node_hash(h, acc)
        return acc


def list_range_hash(leaf_hashes: Sequence[bytes]) -> RangeHash:
    """A RangeHash over leaf hashes held in memory (tests, small trees)."""

    def mth(lo: int, hi: int) -> bytes:
        n = hi - lo
        if n == 0:
            return EMPTY_ROOT
        if n == 1:
            return leaf_hashes[lo]
        k = split_point(n)
        return node_hash(mth(lo, lo + k), mth(lo + k, hi))

    return mth


def inclusion_proof(index: int, size: int, mth: RangeHash) -> list[bytes]:
    """PATH(index, D[0:size]) of RFC 9162 2.1.3.1."""
    if not 0 <= index < size:
        raise ValueError(f"index {index} is outside a tree of size {size}")
    proof: list[bytes] = []
    lo, hi, m = 0, size, index
    # Walk down from the root; the siblings are collected top-down, the proof lists them
    # bottom-up.
    while hi - lo > 1:
        k = split_point(hi - lo)
        if m < k:
            proof.append(mth(lo + k, hi))
            hi = lo + k
        else:
            proof.append(mth(lo, lo + k))
            lo, m = lo + k, m - k
    proof.reverse()
    return proof


def consistency_proof(first: int, second: int, mth: RangeHash) -> list[bytes]:
    """PROOF(first, D[0:second]) of RFC 9162 2.1.4.1 (empty when first is 0 or equal)."""
    if not 0 <= first <= second:
        raise ValueError(f"no consistency proof from size {first} to size {second}")
    if first == 0 or first == second:
        return []
    proof: list[bytes] = []
    lo, hi, m, whole = 0, second, first, True
    while m != hi - lo:
        k = split_point(hi - lo)
        if m <= k:
            proof.append(mth(lo + k, hi))
            hi = lo + k
        else:
            proof.append(mth(lo, lo + k))
            lo, m, whole = lo + k, m - k, False
    if not whole:
        proof.append(mth(lo, hi))
    proof.reverse()
    return proof


def root_from_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """The root an inclusion proof leads to (RFC 9162 2.1.3.2); ValueError if it cannot."""
    if not 0 <= index < size:
        raise ValueError(f"index {index} is outside a tree of size {size}")
    if len(leaf) != HASH_SIZE or any(len(p) != HASH_SIZE for p in proof):
        raise ValueError("hashes must be 32 bytes")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise ValueError("proof too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ValueError("proof too short")
    return r


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> bool:
    try:
        return root_from_inclusion(index, size, leaf, proof) == root
    except ValueError:
        return False


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 2.1.4.2, with the trivial cases of transparency-dev/merkle (a tree of size 0
    is consistent with any tree; equal sizes need equal roots and an empty proof)."""
    if first < 0 or first > second:
        return False
    if first == second:
        return not proof and first_root == second_root
    if first == 0:
        return not proof
    if not proof or any(len(p) != HASH_SIZE for p in proof):
        return False
    path = list(proof)
    if first & (first - 1) == 0:  # a power of two: the old root is itself a node of the new
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == first_root and sr == second_root


def roots_at(leaf_hashes: Iterable[bytes], sizes: Iterable[int]) -> dict[int, bytes]:
    """The roots of the prefixes of the given sizes, in one pass over the leaves (stops at the
    largest size; sizes beyond the leaves are missing from the answer)."""
    wanted = sorted(set(sizes))
    out: dict[int, bytes] = {}
    if not wanted:
        return out
    builder, i = RootBuilder(), 0
    if wanted[0] == 0:
        out[0] = EMPTY_ROOT
        i = 1
    for h in leaf_hashes:
        if i >= len(wanted):
            break
        builder.append(h)
        while i < len(wanted) and wanted[i] == builder.size:
            out[builder.size] = builder.root()
            i += 1
    return out
