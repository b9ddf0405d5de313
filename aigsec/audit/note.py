"""C2SP signed-note with Ed25519, and the C2SP tlog-checkpoint body it signs.

The formats are those of the Go checksum database (golang.org/x/mod/sumdb/note), so a
checkpoint of aigsec can be checked with the tools that check sum.golang.org:

- key hash: the first 4 bytes of SHA-256(name || "\\n" || 0x01 || public key), big-endian;
- verifier key: ``<name>+<hex key hash>+<base64(0x01 || public key)>``;
- signer key: ``PRIVATE+KEY+<name>+<hex key hash>+<base64(0x01 || seed)>``;
- a signed note: the text (ending in a newline), a blank line, then one line per signature,
  ``— <name> <base64(key hash || signature)>``; the signature is over the text only;
- a checkpoint's text: ``<origin>\\n<tree size>\\n<base64(root hash)>\\n``.

No Django here: the standalone verifier in docs/ carries a copy of the reading half.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

ALG_ED25519 = 1
SIG_PREFIX = "\u2014 "  # an em dash and a space start every signature line
_NAME = re.compile(r"[^\s+]+")  # non-empty, no whitespace, no "+" (C2SP signed-note)
MAX_NOTE_BYTES = 1_000_000


class NoteError(ValueError):
    """A key, note or checkpoint that is malformed or does not verify."""


def key_hash(name: str, public_key: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([ALG_ED25519]) + public_key).digest()[:4]


def _b64decode(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise NoteError("not valid base64") from exc


def _check_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise NoteError(f"invalid key name {name!r}")
    return name


@dataclass(frozen=True)
class Verifier:
    name: str
    hash: bytes  # the 4-byte key hash
    public_key: bytes  # raw Ed25519 public key (32 bytes)

    @property
    def vkey(self) -> str:
        encoded = base64.b64encode(bytes([ALG_ED25519]) + self.public_key).decode()
        return f"{self.name}+{self.hash.hex()}+{encoded}"

    def verify(self, message: bytes, signature: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, message)
        except (InvalidSignature, ValueError):
            return False
        return True


@dataclass(frozen=True)
class Signer:
    name: str
    seed: bytes  # the raw Ed25519 private key (32 bytes)

    @property
    def verifier(self) -> Verifier:
        public = (
            Ed25519PrivateKey.from_private_bytes(self.seed)
            .public_key()
            .public_bytes(Encoding.Raw, PublicFormat.Raw)
        )
        return Verifier(self.name, key_hash(self.name, public), public)

    @property
    def skey(self) -> str:
        encoded = base64.b64encode(bytes([ALG_ED25519]) + self.seed).decode()
        return f"PRIVATE+KEY+{self.name}+{self.verifier.hash.hex()}+{encoded}"

    def sign(self, message: bytes) -> bytes:
        return Ed25519PrivateKey.from_private_bytes(self.seed).sign(message)


def parse_vkey(text: str) -> Verifier:
    parts = text.strip().split("+", 2)
    if len(parts) != 3:
        raise NoteError("a verifier key is <name>+<hash>+<key>")
    name, hash_hex, key_b64 = parts
    _check_name(name)
    key = _b64decode(key_b64)
    if len(key) != 33 or key[0] != ALG_ED25519:
        raise NoteError("not an Ed25519 verifier key")
    if not re.fullmatch(r"[0-9a-f]{8}", hash_hex) or key_hash(name, key[1:]).hex() != hash_hex:
        raise NoteError("the key hash does not match the key")
    return Verifier(name, bytes.fromhex(hash_hex), key[1:])


def parse_skey(text: str) -> Signer:
    parts = text.strip().split("+", 4)
    if len(parts) != 5 or parts[0] != "PRIVATE" or parts[1] != "KEY":
        raise NoteError("a signer key is PRIVATE+KEY+<name>+<hash>+<key>")
    name, hash_hex, key_b64 = parts[2], parts[3], parts[4]
    _check_name(name)
    key = _b64decode(key_b64)
    if len(key) != 33 or key[0] != ALG_ED25519:
        raise NoteError("not an Ed25519 signer key")
    signer = Signer(name, key[1:])
    if signer.verifier.hash.hex() != hash_hex:
        raise NoteError("the key hash does not match the key")
    return signer


def sign_note(text: str, signer: Signer) -> str:
    if not text.endswith("\n") or "\n\n" in text or text.startswith("\n"):
        raise NoteError("a note's text ends with a newline and has no blank line")
    v = signer.verifier
    sig = base64.b64encode(v.hash + signer.sign(text.encode())).decode()
    return f"{text}\n{SIG_PREFIX}{v.name} {sig}\n"


@dataclass(frozen=True)
class OpenedNote:
    text: str
    signers: tuple[str, ...]  # names of the verifiers whose signature held


def open_note(note: str, verifiers: list[Verifier]) -> OpenedNote:
    """The note's text if at least one known verifier's signature on it holds.

    Signature lines of unknown keys are allowed (a witness may cosign); a line of a known key
    whose signature does not hold refuses the whole note, as the Go package does."""
    if len(note.encode()) > MAX_NOTE_BYTES:
        raise NoteError("note too large")
    if not note.endswith("\n"):
        raise NoteError("a note ends with a newline")
    split = note.rfind("\n\n")
    if split < 0:
        raise NoteError("no signatures (a note is text, a blank line, signature lines)")
    text, sig_block = note[: split + 1], note[split + 2 :]
    if "\n\n" in text:
        raise NoteError("malformed note")
    by_key = {(v.name, v.hash): v for v in verifiers}
    good: list[str] = []
    for line in sig_block.splitlines():
        if not line.startswith(SIG_PREFIX):
            raise NoteError("a signature line starts with an em dash")
        fields = line[len(SIG_PREFIX) :].split(" ")
        if len(fields) != 2:
            raise NoteError("a signature line is '— <name> <signature>'")
        name, blob = _check_name(fields[0]), _b64decode(fields[1])
        if len(blob) < 5:
            raise NoteError("signature too short")
        v = by_key.get((name, blob[:4]))
        if v is None:
            continue
        if not v.verify(text.encode(), blob[4:]):
            raise NoteError(f"invalid signature by {name}")
        good.append(name)
    if not good:
        raise NoteError("no signature by a known key")
    return OpenedNote(text, tuple(good))


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes

    def text(self) -> str:
        return f"{self.origin}\n{self.size}\n{base64.b64encode(self.root).decode()}\n"


def parse_checkpoint_text(text: str) -> Checkpoint:
    """The body of a tlog-checkpoint (extension lines after the third are allowed)."""
    lines = text.split("\n")
    if len(lines) < 4 or lines[-1] != "":
        raise NoteError("a checkpoint has an origin, a size and a root hash, one per line")
    origin, size_text, root_b64 = lines[0], lines[1], lines[2]
    if not origin:
        raise NoteError("empty origin")
    if not re.fullmatch(r"0|[1-9][0-9]{0,19}", size_text) or int(size_text) >= 2**64:
        raise NoteError("the tree size is not a decimal number")
    root = _b64decode(root_b64)
    if len(root) != 32:
        raise NoteError("the root hash is not 32 bytes")
    return Checkpoint(origin, int(size_text), root)


def open_checkpoint(note: str, verifier: Verifier, origin: str | None = None) -> Checkpoint:
    """A signed checkpoint, checked: the signature of `verifier`, and the origin if given."""
    cp = parse_checkpoint_text(open_note(note, [verifier]).text)
    if origin is not None and cp.origin != origin:
        raise NoteError(f"checkpoint of another log ({cp.origin!r}, expected {origin!r})")
    return cp


def split_notes(text: str) -> list[str]:
    """Notes written one after another, each followed by a blank line (the witness files):
    text lines, a blank line, signature lines, a blank line, and so on."""
    notes: list[str] = []
    chunks = [c for c in text.split("\n\n") if c.strip("\n")]
    for i in range(0, len(chunks) - 1, 2):
        notes.append(chunks[i].strip("\n") + "\n\n" + chunks[i + 1].strip("\n") + "\n")
    if len(chunks) % 2:
        raise NoteError("a note without signatures at the end")
    return notes
