"""Pure functions of the hash chain, shared by the recorder, the verifier and the exporter."""

from __future__ import annotations

import hashlib
import json
import json.decoder
import json.encoder
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
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


def export_line(ev: dict[str, Any]) -> str:
    """An event's line in export_audit_log (without the newline): the canonical JSON of its
    nine export fields. Also the input of the event's leaf in the Merkle tree (merkle.py)."""
    return canonical_json(ev)


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    count: int
    head_seq: int
    head_hash: str
    bad_seq: int | None = None
    reason: str = ""
    # How many processes read the chain (audit_verify_db); not part of the result's meaning,
    # so two results are equal whatever path produced them.
    workers: int = field(default=1, compare=False)


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


# --- The database's fast path ---------------------------------------------------------------
#
# verify_events spends most of its time on Python bookkeeping around the hash: a dict per event,
# a body dict of seven keys sorted by the encoder, an encoder set up for each call. The database
# verifier (verify.audit_verify_db) instead walks rows of fixed column types straight from
# PostgreSQL and writes the seven-key body itself, in the canonical key order; only `data`, the
# one free-form field, goes through the JSON encoder. It decides nothing on its own: a segment
# that does not verify is only "not proven", and the caller then runs verify_events, whose
# answer (bad seq, reason) is the one reported. It can therefore never fail a good chain, and it
# passes a bad one only if the body it writes differs from canonical_json(body) while hashing
# to the stored hash; tests/audit/test_audit_verify_parallel.py holds the two equal on awkward
# values.

# The C encoder behind _CANONICAL.encode, made once (JSONEncoder.iterencode makes it on every
# call, half the cost of encoding a small object). Same arguments as iterencode passes, but no
# circular-reference markers: what json.loads returns cannot contain a cycle.
_c_make_encoder = getattr(json.encoder, "c_make_encoder", None)
if _c_make_encoder is not None:
    _data_chunks = _c_make_encoder(
        None, _CANONICAL.default, json.encoder.encode_basestring, None, ":", ",", True, False, True
    )

    def _canonical_data(obj: Any) -> str:
        return "".join(_data_chunks(obj, 0))

else:  # a Python built without the _json accelerator
    _canonical_data = canonical_json

# json.loads is decode(), which also matches a whitespace regex before and after the value (two
# regex calls per event, a fifth of the time of this loop); jsonb's text has no such whitespace.
# The scanner alone reads the one JSON value at the start; a text with anything around it
# (whitespace included) raises or stops short of the end, and the segment is then not proven.
_scan_json = json.decoder.JSONDecoder().scan_once
_json_str = json.encoder.encode_basestring  # what the encoder writes a str as (no ASCII escaping)

# One row of the database verifier: seq, at (formatted as format_at does), actor, action, team,
# target, data (JSON text), prev_hash, hash, with the column types of audit_event.
Row = tuple[int, str, int | None, str, int | None, str | None, str, str, str]


@dataclass(frozen=True)
class Segment:
    """What verify_segment proved about the events lo..hi: all of them are there, in order,
    each one's prev_hash is the hash of the one before it inside the segment, and each hash
    recomputes. The links to the neighbouring segments are the caller's to check."""

    lo: int
    hi: int
    ok: bool
    first_prev_hash: str = ""
    last_hash: str = ""
    checkpoint_hash: str | None = None  # the stored hash at checkpoint_seq, if inside lo..hi


def verify_segment(
    rows: Iterable[Row], lo: int, hi: int, checkpoint_seq: int | None = None
) -> Segment:
    """Check the rows of seq lo..hi (in seq order) as verify_events would, from their first
    event's own prev_hash. ok is False at the first doubt, without saying why."""
    sha256, scan, data_json, as_str = hashlib.sha256, _scan_json, _canonical_data, _json_str
    expected, prev, first_prev, cp_hash = lo, "", "", None
    try:
        for seq, at, actor, action, team, target, data, prev_hash, digest in rows:
            if seq != expected:
                return Segment(lo, hi, False)
            if seq == lo:
                first_prev = prev = prev_hash
            elif prev_hash != prev:
                return Segment(lo, hi, False)
            obj, end = scan(data, 0)
            if end != len(data):
                return Segment(lo, hi, False)
            # canonical_json of the body: keys sorted (action, actor, at, data, seq, target,
            # team), no spaces; an int is written as its decimal digits, a missing value as null.
            payload = (
                f'{prev}\n{{"action":{as_str(action)},'
                f'"actor":{"null" if actor is None else int.__repr__(actor)},'
                f'"at":{as_str(at)},"data":{data_json(obj)},"seq":{int.__repr__(seq)},'
                f'"target":{"null" if target is None else as_str(target)},'
                f'"team":{"null" if team is None else int.__repr__(team)}}}'
            )
            if sha256(payload.encode()).hexdigest() != digest:
                return Segment(lo, hi, False)
            if seq == checkpoint_seq:
                cp_hash = digest
            prev, expected = digest, seq + 1
    except (ValueError, StopIteration, TypeError, RecursionError):
        return Segment(lo, hi, False)
    if expected != hi + 1:  # empty, or stops short of hi
        return Segment(lo, hi, False)
    return Segment(lo, hi, True, first_prev, prev, cp_hash)


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
