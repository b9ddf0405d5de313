"""The transparency log's formats against published test vectors, so that other
implementations (Go's sumdb/note, transparency-dev/merkle, CT clients) agree with ours:

- RFC 9162 2.1 roots, inclusion and consistency proofs (the CT vectors, tests/fixtures);
- the C2SP signed-note example of golang.org/x/mod/sumdb/note, byte for byte;
- the standalone verifier (docs/verify_audit_bundle.py) agrees with the server's functions.
"""

from __future__ import annotations

import importlib.util
import json
import random
from pathlib import Path

import pytest

from aigsec.audit import merkle
from aigsec.audit.note import (
    Checkpoint,
    NoteError,
    Signer,
    open_checkpoint,
    open_note,
    parse_checkpoint_text,
    parse_skey,
    parse_vkey,
    sign_note,
    split_notes,
)

VECTORS = json.loads(
    (Path(__file__).resolve().parents[1] / "fixtures" / "tlog_vectors.json").read_text()
)
LEAVES = [merkle.leaf_hash(bytes.fromhex(x)) for x in VECTORS["leaves_hex"]]
ROOTS = [bytes.fromhex(x) for x in VECTORS["roots_hex"]]


def _standalone():
    path = Path(__file__).resolve().parents[2] / "docs" / "verify_audit_bundle.py"
    spec = importlib.util.spec_from_file_location("verify_audit_bundle", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- RFC 9162 ---------------------------------------------------------------------------------


def test_roots_of_every_prefix_match_the_vectors():
    for n in range(1, 9):
        assert merkle.root_of(LEAVES[:n]) == ROOTS[n - 1], n
        assert merkle.list_range_hash(LEAVES)(0, n) == ROOTS[n - 1], n
    assert merkle.root_of([]).hex() == VECTORS["empty_root_hex"]
    assert merkle.roots_at(LEAVES, range(9)) == {0: merkle.EMPTY_ROOT} | {
        n: ROOTS[n - 1] for n in range(1, 9)
    }


@pytest.mark.parametrize("v", VECTORS["inclusion"], ids=lambda v: f"{v['leaf']}-of-{v['size']}")
def test_inclusion_proofs_match_and_verify(v):
    index, size = v["leaf"] - 1, v["size"]
    proof = [bytes.fromhex(h) for h in v["proof"]]
    assert merkle.inclusion_proof(index, size, merkle.list_range_hash(LEAVES)) == proof
    root = ROOTS[size - 1]
    assert merkle.verify_inclusion(index, size, LEAVES[index], proof, root)
    # The corruptions of the reference tests: each must fail.
    bad = [
        (index + 1, size, LEAVES[index], proof),
        (index, size * 2, LEAVES[index], proof),
        (index, size, merkle.leaf_hash(b"WrongLeaf"), proof),
        (index, size, LEAVES[index], [*proof, root]),
        (index, size, LEAVES[index], [root, *proof]),
    ]
    if proof:
        bad.append((index, size, LEAVES[index], proof[:-1]))
        flipped = bytes([proof[0][0] ^ 8]) + proof[0][1:]
        bad.append((index, size, LEAVES[index], [flipped, *proof[1:]]))
    if index > 0:
        bad.append((index - 1, size, LEAVES[index], proof))
    for args in bad:
        assert not merkle.verify_inclusion(*args, root), args[:2]


@pytest.mark.parametrize("v", VECTORS["consistency"], ids=lambda v: f"{v['size1']}-to-{v['size2']}")
def test_consistency_proofs_match_and_verify(v):
    m, n = v["size1"], v["size2"]
    proof = [bytes.fromhex(h) for h in v["proof"]]
    assert merkle.consistency_proof(m, n, merkle.list_range_hash(LEAVES)) == proof
    r1, r2 = ROOTS[m - 1], ROOTS[n - 1]
    assert merkle.verify_consistency(m, n, r1, r2, proof)
    if not proof:
        return
    flipped = bytes([proof[0][0] ^ 16]) + proof[0][1:]
    for args in [
        (m + 1, n, r1, r2, proof),
        (m, n * 2, r1, r2, proof),
        (m, n, r2, r1, proof),
        (m, n, r1, r2, []),
        (m, n, r1, r2, proof[:-1]),
        (m, n, r1, r2, [*proof, r1]),
        (m, n, r1, r2, [proof[0], *proof]),
        (m, n, r1, r2, [flipped, *proof[1:]]),
    ]:
        assert not merkle.verify_consistency(*args), args[:2]


def test_every_proof_of_a_larger_random_tree_verifies():
    rng = random.Random(18)
    leaves = [merkle.leaf_hash(rng.randbytes(rng.randrange(40))) for _ in range(70)]
    mth = merkle.list_range_hash(leaves)
    for n in range(1, 71):
        root = merkle.root_of(leaves[:n])
        assert mth(0, n) == root
        for i in range(n):
            assert merkle.verify_inclusion(i, n, leaves[i], merkle.inclusion_proof(i, n, mth), root)
        for m in range(0, n + 1):
            proof = merkle.consistency_proof(m, n, mth)
            assert merkle.verify_consistency(m, n, merkle.root_of(leaves[:m]), root, proof)


def test_out_of_range_proofs_are_refused():
    mth = merkle.list_range_hash(LEAVES)
    with pytest.raises(ValueError):
        merkle.inclusion_proof(8, 8, mth)
    with pytest.raises(ValueError):
        merkle.consistency_proof(5, 4, mth)
    assert not merkle.verify_inclusion(0, 0, LEAVES[0], [], ROOTS[0])
    assert not merkle.verify_consistency(2, 1, ROOTS[1], ROOTS[0], [])


# --- C2SP signed-note (Go's sumdb/note vector) -----------------------------------------------


def test_the_go_note_vector_byte_for_byte():
    n = VECTORS["note"]
    signer = parse_skey(n["skey"])
    assert signer.skey == n["skey"]
    assert signer.verifier.vkey == n["vkey"]
    assert parse_vkey(n["vkey"]) == signer.verifier
    assert sign_note(n["text"], signer) == n["signed"]
    opened = open_note(n["signed"], [parse_vkey(n["vkey"])])
    assert opened.text == n["text"] and opened.signers == ("PeterNeumann",)


def test_mangled_keys_and_notes_are_refused():
    n = VECTORS["note"]
    v = parse_vkey(n["vkey"])
    for bad in [
        n["vkey"][:-1],
        n["vkey"].replace("c74f20a3", "c74f20a4"),
        "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "",
    ]:
        with pytest.raises(NoteError):
            parse_vkey(bad)
    with pytest.raises(NoteError):
        parse_skey(n["skey"].replace("PRIVATE", "PUBLIC"))
    tampered = n["signed"].replace("problem,", "problem;")
    with pytest.raises(NoteError, match="invalid signature"):
        open_note(tampered, [v])
    with pytest.raises(NoteError, match="no signature by a known key"):
        open_note(n["signed"], [Signer("PeterNeumann", b"\x01" * 32).verifier])
    with pytest.raises(NoteError):
        open_note(n["text"], [v])  # no signature block at all


def test_checkpoint_body_and_witness_file_format():
    signer = Signer("aigsec.example.com/audit", b"\x02" * 32)
    cp = Checkpoint("aigsec.example.com/audit", 8, ROOTS[7])
    root_b64 = "XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg="
    assert cp.text() == f"aigsec.example.com/audit\n8\n{root_b64}\n"
    note = sign_note(cp.text(), signer)
    assert open_checkpoint(note, signer.verifier, origin="aigsec.example.com/audit") == cp
    with pytest.raises(NoteError, match="another log"):
        open_checkpoint(note, signer.verifier, origin="other.example/audit")
    second = sign_note(Checkpoint(cp.origin, 9, ROOTS[0]).text(), signer)
    assert split_notes(note + "\n" + second + "\n") == [note, second]
    for text in ["o\n-1\nAA==\n", "o\n01\n" + "A" * 44 + "\n", "o\n1\nAAAA\n", "\n1\nAA==\n"]:
        with pytest.raises(NoteError):
            parse_checkpoint_text(text)


# --- The standalone verifier agrees --------------------------------------------------------


def test_the_standalone_verifier_reads_the_same_formats():
    sv = _standalone()
    n = VECTORS["note"]
    assert sv.open_note(n["signed"], sv.parse_vkey(n["vkey"])) == n["text"]
    for v in VECTORS["inclusion"]:
        proof = [bytes.fromhex(h) for h in v["proof"]]
        i, size = v["leaf"] - 1, v["size"]
        assert sv.root_from_inclusion(i, size, LEAVES[i], proof) == ROOTS[size - 1]
    for v in VECTORS["consistency"]:
        proof = [bytes.fromhex(h) for h in v["proof"]]
        m, size = v["size1"], v["size2"]
        assert sv.verify_consistency(m, size, ROOTS[m - 1], ROOTS[size - 1], proof)
        if proof:
            assert not sv.verify_consistency(m, size, ROOTS[size - 1], ROOTS[m - 1], proof)
