"""Serving a stored file only while it is still the file on record.

Evidence revisions and signed reports keep the SHA-256 of their file. Before the first byte
of a download the stored file is re-hashed and compared: by `open_verified` in chunks, for a
file streamed to the client (memory stays flat), or by `read_verified`, which hashes exactly
the bytes it returns, for a small file sent in one piece. A missing file or a different hash
is an integrity incident: recorded in the audit trail (the caller says as what, and for which
team and object), then raised as `IntegrityFailure`, which every view and API endpoint
answers with a 409. Nothing of the file is served.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from django.core.files.storage import Storage, default_storage

from aigsec.audit.services import audit_record

CHUNK = 64 * 1024
MISSING = "missing"
MISMATCH = "hash mismatch"
# The reason as the person is told it, by the audit trail's reason code.
EXPLAINED = {
    MISSING: "the stored file is missing",
    MISMATCH: "its content no longer matches the recorded SHA-256",
}


class IntegrityFailure(Exception):
    """A stored file is missing or no longer matches its recorded SHA-256. Already recorded
    in the audit trail when raised; the message is for the person who asked for the file."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason  # MISSING or MISMATCH


@dataclass(frozen=True)
class Incident:
    """What a failed check records (`audit_record(action, team=, target=, data=)`, with the
    reason added to `data`), and what the person is told: `message` with `{reason}`."""

    action: str
    team: int | None
    target: str
    message: str
    data: dict[str, Any] = field(default_factory=dict)


class VerifiedFile:
    """An open stored file whose hash matched, rewound. Iterate it for its chunks: a
    StreamingHttpResponse takes it as is, and closes it with the response even if it was
    never read."""

    def __init__(self, fh: IO[bytes]):
        self._fh = fh

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from iter(lambda: self._fh.read(CHUNK), b"")
        finally:
            self.close()

    def close(self) -> None:
        self._fh.close()


def sha256_of(fh: IO[bytes]) -> tuple[str, int]:
    """SHA-256 (hex) and size of what is left to read in `fh`, read in chunks."""
    hasher, size = hashlib.sha256(), 0
    for chunk in iter(lambda: fh.read(CHUNK), b""):
        hasher.update(chunk)
        size += len(chunk)
    return hasher.hexdigest(), size


def _fail(incident: Incident, reason: str, actor: Any) -> IntegrityFailure:
    audit_record(
        incident.action,
        actor=actor,
        team=incident.team,
        target=incident.target,
        data={**incident.data, "reason": reason},
    )
    return IntegrityFailure(incident.message.format(reason=EXPLAINED[reason]), reason)


def open_verified(
    name: str,
    sha256: str,
    *,
    incident: Incident,
    actor: Any = None,
    storage: Storage | None = None,
) -> VerifiedFile:
    """Open stored file `name` for serving if its SHA-256 is still `sha256`.

    The file is opened once: a first pass hashes it, then the same handle is rewound and
    served. Raises IntegrityFailure (after recording `incident`) if it is missing or differs.
    """
    storage = storage or default_storage
    try:
        fh = storage.open(name, "rb")
    except FileNotFoundError:
        raise _fail(incident, MISSING, actor) from None
    try:
        digest, _size = sha256_of(fh)
        if digest != sha256:
            raise _fail(incident, MISMATCH, actor)
        fh.seek(0)
    except BaseException:
        fh.close()
        raise
    return VerifiedFile(fh)


def read_verified(
    name: str,
    sha256: str,
    *,
    incident: Incident,
    actor: Any = None,
    storage: Storage | None = None,
) -> bytes:
    """The whole content of stored file `name`, if its SHA-256 is still `sha256`: the bytes
    hashed are the bytes returned. Raises IntegrityFailure (after recording `incident`) if the
    file is missing or differs."""
    storage = storage or default_storage
    try:
        with storage.open(name, "rb") as fh:
            data = fh.read()
    except FileNotFoundError:
        raise _fail(incident, MISSING, actor) from None
    if hashlib.sha256(data).hexdigest() != sha256:
        raise _fail(incident, MISMATCH, actor)
    return data
