#!/usr/bin/env python3
"""Check an aigsec audit bundle or consistency proof offline (standard library + cryptography).

Usage:
    python3 verify_audit_bundle.py bundle BUNDLE.json --vkey VKEY [--team ID]
    python3 verify_audit_bundle.py consistency PROOF.json --vkey VKEY --old OLD --new NEW

VKEY is the log's verifier key (``<name>+<key hash>+<base64 key>``, from
``/.well-known/aigsec/audit-log-vkey`` or ``manage.py audit_checkpoint --vkey``), given as the
text itself or as a file holding it. Keep a copy you obtained once, over a channel you trust:
everything below rests on it.

bundle: BUNDLE.json is ``GET /api/v1/audit/bundle/``. The script checks the checkpoint's
Ed25519 signature (C2SP signed-note), then for every event that its line hashes (RFC 9162
leaf hash, SHA-256(0x00 || line)) through its inclusion proof to the checkpoint's root, at
index seq - 1. With --team it also checks that every event is of that team. So every event of
the bundle is in the log the operator signed, unchanged, without seeing any other team's event.

consistency: PROOF.json is ``GET /api/v1/audit/consistency/?first=M&second=N``; OLD and NEW are
files holding the signed checkpoints of sizes M and N (e.g. one pinned in a report and today's
``GET /api/v1/audit/checkpoint/``). The script checks both signatures and that the log of size
N extends the log of size M (RFC 9162 2.1.4): nothing was removed or changed in between.

Prints "OK: ..." and exits 0, or "FAIL: reason" and exits 1.
"""

import argparse
import base64
import binascii
import hashlib
import json
import sys
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

SIG_PREFIX = "\u2014 "


class Fail(Exception):
    pass


def b64(text):
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise Fail("not valid base64") from None


def parse_vkey(text):
    """(name, 4-byte key hash, raw Ed25519 public key) of a signed-note verifier key."""
    parts = text.strip().split("+", 2)
    if len(parts) != 3:
        raise Fail("a verifier key is <name>+<hash>+<key>")
    name, hash_hex, key = parts[0], parts[1], b64(parts[2])
    if len(key) != 33 or key[0] != 1:
        raise Fail("not an Ed25519 verifier key")
    digest = hashlib.sha256(name.encode() + b"\n" + key).digest()[:4]
    if digest.hex() != hash_hex:
        raise Fail("the verifier key's hash does not match its key")
    return name, digest, key[1:]


def open_note(note, vkey):
    """The note's text, if the key's signature on it holds (C2SP signed-note)."""
    name, key_hash, public = vkey
    split = note.rfind("\n\n")
    if not note.endswith("\n") or split < 0:
        raise Fail("not a signed note")
    text, sigs = note[: split + 1], note[split + 2 :]
    for line in sigs.splitlines():
        if not line.startswith(SIG_PREFIX):
            raise Fail("malformed signature line")
        fields = line[len(SIG_PREFIX) :].split(" ")
        if len(fields) != 2:
            raise Fail("malformed signature line")
        blob = b64(fields[1])
        if fields[0] != name or blob[:4] != key_hash:
            continue  # another signer's (a witness's cosignature)
        try:
            Ed25519PublicKey.from_public_bytes(public).verify(blob[4:], text.encode())
        except InvalidSignature:
            raise Fail("the checkpoint's signature does not hold") from None
        return text
    raise Fail("the checkpoint is not signed by this key")


def open_checkpoint(note, vkey):
    lines = open_note(note, vkey).split("\n")
    if len(lines) < 4 or not lines[1].isdigit():
        raise Fail("malformed checkpoint")
    root = b64(lines[2])
    if len(root) != 32:
        raise Fail("malformed checkpoint root")
    return lines[0], int(lines[1]), root


def leaf_hash(data):
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def root_from_inclusion(index, size, leaf, proof):
    """RFC 9162 2.1.3.2."""
    if not 0 <= index < size:
        raise Fail(f"index {index} outside a tree of size {size}")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise Fail("inclusion proof too long")
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
        raise Fail("inclusion proof too short")
    return r


def verify_consistency(first, second, first_root, second_root, proof):
    """RFC 9162 2.1.4.2."""
    if first < 0 or first > second:
        return False
    if first == second:
        return not proof and first_root == second_root
    if first == 0:
        return not proof
    if not proof:
        return False
    path = list(proof)
    if first & (first - 1) == 0:
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
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == first_root and sr == second_root


def hashes(items):
    try:
        out = [bytes.fromhex(h) for h in items]
    except (TypeError, ValueError):
        raise Fail("a proof holds something other than hex hashes") from None
    if any(len(h) != 32 for h in out):
        raise Fail("a proof hash is not 32 bytes")
    return out


def verify_bundle(bundle, vkey, team=None):
    origin, size, root = open_checkpoint(bundle["checkpoint"], vkey)
    for n, ev in enumerate(bundle["events"], start=1):
        line, index = ev["line"], ev["index"]
        event = json.loads(line)
        if event.get("seq") != index + 1:
            raise Fail(f"event {n}: index {index} is not its seq - 1")
        if team is not None and event.get("team") != team:
            raise Fail(f"event seq {event.get('seq')} is not of team {team}")
        leaf = leaf_hash(line.encode("utf-8"))
        if root_from_inclusion(index, size, leaf, hashes(ev["proof"])) != root:
            raise Fail(f"event seq {index + 1} is not in the signed log")
    return f"OK: {len(bundle['events'])} events in {origin} at size {size}"


def read_key(value):
    path = Path(value)
    return path.read_text() if path.is_file() else value


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    sub = parser.add_subparsers(dest="what", required=True)
    b = sub.add_parser("bundle")
    b.add_argument("file")
    b.add_argument("--vkey", required=True)
    b.add_argument("--team", type=int)
    c = sub.add_parser("consistency")
    c.add_argument("file")
    c.add_argument("--vkey", required=True)
    c.add_argument("--old", required=True, help="file: the signed checkpoint of size first")
    c.add_argument("--new", required=True, help="file: the signed checkpoint of size second")
    args = parser.parse_args(argv)
    try:
        vkey = parse_vkey(read_key(args.vkey))
        data = json.loads(Path(args.file).read_text(encoding="utf-8"))
        if args.what == "bundle":
            print(verify_bundle(data, vkey, args.team))
        else:
            _, m, r1 = open_checkpoint(Path(args.old).read_text(encoding="utf-8"), vkey)
            _, n, r2 = open_checkpoint(Path(args.new).read_text(encoding="utf-8"), vkey)
            if (data.get("first"), data.get("second")) != (m, n):
                raise Fail(f"the proof is for sizes {data.get('first')}, {data.get('second')}")
            if not verify_consistency(m, n, r1, r2, hashes(data["proof"])):
                raise Fail(f"the log of size {n} does not extend the log of size {m}")
            print(f"OK: the log of size {n} extends the log of size {m}")
    except (Fail, KeyError, TypeError, ValueError, OSError) as exc:
        print(f"FAIL: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
