#!/usr/bin/env python3
"""Verify an aigsec audit-log export without the application (Python 3 standard library only).

Usage:
    python3 verify_audit_export.py EXPORT.jsonl [--checkpoint-seq N --checkpoint-hash H]

EXPORT.jsonl is the output of ``python manage.py export_audit_log --out FILE``: one JSON object
per line with exactly the fields seq, at, actor, action, team, target, data, prev_hash, hash.

The script checks that seq starts at 1 and increases by 1, that each prev_hash equals the
previous event's hash (64 zeros for the first event) and that each hash recomputes as

    sha256(prev_hash + "\\n" + canonical_json({seq, at, actor, action, team, target, data}))

where canonical_json is json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
encoded as UTF-8. With --checkpoint-seq/--checkpoint-hash it also checks that the export reaches
that checkpoint and holds the same hash there, which detects a cut-off tail.

Prints "OK: N events, head seq S hash H" and exits 0, or "FAIL at seq S: reason" and exits 1.
"""

import argparse
import hashlib
import json
import re
import sys

GENESIS = "0" * 64
FIELDS = {"seq", "at", "actor", "action", "team", "target", "data", "prev_hash", "hash"}
HASHED = ("seq", "at", "actor", "action", "team", "target", "data")
HEX64 = re.compile(r"[0-9a-f]{64}")
AT_FORMAT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")


def canonical_json(obj):
    """Serialise obj exactly as the application does before hashing."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def event_hash(prev_hash, event):
    """Return the SHA-256 hex digest that links event to the chain after prev_hash."""
    body = canonical_json({name: event[name] for name in HASHED})
    return hashlib.sha256((prev_hash + "\n" + body).encode("utf-8")).hexdigest()


def no_duplicate_keys(pairs):
    keys = [key for key, _ in pairs]
    if len(keys) != len(set(keys)):
        raise ValueError("duplicate field in JSON object")
    return dict(pairs)


def check_event(line, expected_seq, prev_hash):
    """Parse and check one export line; return its hash or raise ValueError with the reason."""
    event = json.loads(line.decode("utf-8"), object_pairs_hook=no_duplicate_keys)
    if not isinstance(event, dict):
        raise ValueError("line is not a JSON object")
    if set(event) != FIELDS:
        missing, extra = sorted(FIELDS - set(event)), sorted(set(event) - FIELDS)
        raise ValueError(f"wrong fields (missing {missing}, unexpected {extra})")
    if type(event["seq"]) is not int or event["seq"] != expected_seq:
        raise ValueError(f"expected seq {expected_seq}, found {event['seq']!r}")
    if not isinstance(event["at"], str) or not AT_FORMAT.fullmatch(event["at"]):
        raise ValueError(f"'at' is not ISO 8601 UTC with microseconds: {event['at']!r}")
    if not isinstance(event["action"], str) or not isinstance(event["data"], dict):
        raise ValueError("'action' must be a string and 'data' a JSON object")
    for name in ("prev_hash", "hash"):
        if not isinstance(event[name], str) or not HEX64.fullmatch(event[name]):
            raise ValueError(f"{name} is not 64 lowercase hex digits")
    if event["prev_hash"] != prev_hash:
        raise ValueError(f"prev_hash {event['prev_hash']} does not match previous hash {prev_hash}")
    if event_hash(prev_hash, event) != event["hash"]:
        raise ValueError("hash does not match the event's contents")
    return event["hash"]


def verify(path, checkpoint_seq=None, checkpoint_hash=None):
    """Verify the export at path; return (ok, message)."""
    seq, head = 0, GENESIS
    hash_at_checkpoint = None
    with open(path, "rb") as export:
        for line in export:
            if not line.strip():
                continue  # blank lines carry nothing; the application skips them too
            try:
                head = check_event(line, seq + 1, head)
            except ValueError as exc:
                return False, f"FAIL at seq {seq + 1}: {exc}"
            seq += 1
            if seq == checkpoint_seq:
                hash_at_checkpoint = head
    if checkpoint_seq is not None:
        if seq < checkpoint_seq:
            return False, (
                f"FAIL at seq {checkpoint_seq}: export ends at seq {seq}, "
                f"before checkpoint seq {checkpoint_seq} (truncated)"
            )
        if hash_at_checkpoint != checkpoint_hash.lower():
            return False, (
                f"FAIL at seq {checkpoint_seq}: hash {hash_at_checkpoint} differs from "
                f"checkpoint hash {checkpoint_hash}"
            )
    return True, f"OK: {seq} events, head seq {seq} hash {head}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("export", help="JSON-lines file from export_audit_log")
    parser.add_argument("--checkpoint-seq", type=int, help="seq of a trusted checkpoint")
    parser.add_argument("--checkpoint-hash", help="hash recorded at that checkpoint")
    args = parser.parse_args(argv)
    if (args.checkpoint_seq is None) != (args.checkpoint_hash is None):
        parser.error("--checkpoint-seq and --checkpoint-hash must be given together")
    if args.checkpoint_seq is not None and args.checkpoint_seq < 1:
        parser.error("--checkpoint-seq must be 1 or more")
    try:
        ok, message = verify(args.export, args.checkpoint_seq, args.checkpoint_hash)
    except OSError as exc:
        ok, message = False, f"FAIL at seq 1: cannot read export: {exc}"
    print(message)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
