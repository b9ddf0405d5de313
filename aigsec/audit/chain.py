"""Pure functions of the hash chain, shared by the recorder, the verifier and the exporter."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

GENESIS_HASH = "0" * 64
EXPORT_FIELDS = ("seq", "at", "actor", "action", "team", "target", "data", "prev_hash", "hash")


# One encoder, reused: json.dumps with options builds a new encoder per call, a third of the
# cost of hashing an event (verify_audit_log walks every event; docs/benchmarks.md).
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_json(obj: Any) -> str:
    return _CANONICAL.encode(obj)


def format_at(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def event_hash(prev_hash: str, body: dict[str, Any]) -> str:
    """body holds seq, at (formatted), actor, action, team, target, data."""
    payload = prev_hash + "\n" + canonical_json(body)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def checkpoint_mac(key: bytes, seq: int, head_hash: str) -> str:
    return hmac.new(
        key, f"aigsec-checkpoint:{seq}:{head_hash}".encode(), hashlib.sha256
    ).hexdigest()


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    count: int
    head_seq: int
    head_hash: str
    bad_seq: int | None = None
    reason: str = ""


def verify_events(
    events: Iterable[dict[str, Any]], checkpoint: tuple[int, str] | None = None
) -> VerifyResult:
    """Walk the chain in order; stop at the first event that does not fit.

    Each event is a dict with the nine export fields (`at` already formatted). Deletions show up
    as a seq gap, insertions and reorders as a broken prev_hash or seq, modifications as a hash
    that no longer recomputes, and a cut tail as a chain that stops short of the checkpoint.
    """
    expected_seq, prev, count = 1, GENESIS_HASH, 0
    checkpoint_seen = checkpoint is None
    for ev in events:
        seq = ev.get("seq")
        if seq != expected_seq:
            return VerifyResult(
                False,
                count,
                expected_seq - 1,
                prev,
                expected_seq,
                f"expected seq {expected_seq}, found {seq}",
            )
        if ev.get("prev_hash") != prev:
            return VerifyResult(False, count, seq - 1, prev, seq, "prev_hash does not link")
        body = {k: ev.get(k) for k in ("seq", "at", "actor", "action", "team", "target", "data")}
        if event_hash(prev, body) != ev.get("hash"):
            return VerifyResult(False, count, seq - 1, prev, seq, "hash does not match content")
        prev, count, expected_seq = ev["hash"], count + 1, seq + 1
        if checkpoint and seq == checkpoint[0]:
            if prev != checkpoint[1]:
                return VerifyResult(False, count, seq, prev, seq, "hash differs from checkpoint")
            checkpoint_seen = True
    if not checkpoint_seen:
        assert checkpoint is not None
        return VerifyResult(
            False,
            count,
            expected_seq - 1,
            prev,
            expected_seq,
            f"chain ends at seq {expected_seq - 1}, below checkpoint "
            f"seq {checkpoint[0]} (events removed from the tail)",
        )
    return VerifyResult(True, count, expected_seq - 1, prev)


def read_jsonl(lines: Iterable[str]) -> Iterator[dict[str, Any]]:
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"line {n}: not valid JSON ({exc.msg})") from exc
        if not isinstance(obj, dict) or set(obj) != set(EXPORT_FIELDS):
            raise ValueError(f"line {n}: expected exactly the fields {', '.join(EXPORT_FIELDS)}")
        yield obj
