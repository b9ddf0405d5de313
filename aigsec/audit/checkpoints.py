"""Signed checkpoints of the audit log: taking one, witnessing it outside the database, and
taking one shortly after each burst of audited writes.

A checkpoint is the C2SP tlog-checkpoint of the first `seq` events (origin, size, base64
Merkle root), signed as a C2SP signed-note with the log's Ed25519 key (keys.py). It is stored
in `audit_checkpoint` and, once committed, appended to the witness: a directory with one
append-only file per day (`AUDIT_WITNESS_DIR`) and, when configured, an S3-compatible bucket
(one object per checkpoint). `verify_audit_log` fails when the witness holds a checkpoint the
database lost, so deleting checkpoint rows before cutting or rewriting the log is noticed.
"""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.db import transaction

from . import tree
from .keys import log_origin, signing_key
from .models import AuditChainHead, AuditCheckpoint, AuditTreeState
from .note import Checkpoint, sign_note, split_notes

logger = logging.getLogger(__name__)


def witness_dir() -> Path:
    return Path(settings.AUDIT_WITNESS_DIR or Path(settings.AIGSEC_DATA_DIR) / "witness")


def witness_append(note: str, at: datetime) -> None:
    """Append one signed checkpoint to the day's witness file (O_APPEND, fsync), then to the
    bucket if one is configured."""
    directory = witness_dir()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"checkpoints-{at.astimezone(UTC):%Y-%m-%d}.txt"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        os.write(fd, (note + "\n").encode())  # a blank line after each note
        os.fsync(fd)
    finally:
        os.close(fd)
    if settings.AUDIT_WITNESS_S3_BUCKET:
        _s3_put(note, at)


def _s3_put(note: str, at: datetime) -> None:
    # Best effort: the directory witness above already holds it; a lost upload is logged.
    try:
        import boto3

        size = note.split("\n", 2)[1]
        key = f"{settings.AUDIT_WITNESS_S3_PREFIX}{at:%Y-%m-%d}/{int(size):020d}.txt"
        client = boto3.client("s3", endpoint_url=settings.AUDIT_WITNESS_S3_ENDPOINT_URL or None)
        client.put_object(Bucket=settings.AUDIT_WITNESS_S3_BUCKET, Key=key, Body=note.encode())
    except Exception:
        logger.exception("audit witness: the checkpoint could not be stored in the bucket")


def witness_notes(directory: Path | None = None) -> list[str]:
    """Every signed checkpoint the witness directory holds, oldest file first."""
    directory = directory or witness_dir()
    if not directory.is_dir():
        return []
    notes: list[str] = []
    for path in sorted(directory.glob("checkpoints-*.txt")):
        notes += split_notes(path.read_text(encoding="utf-8"))
    return notes


def audit_checkpoint_take() -> AuditCheckpoint | None:
    """Sign and store a checkpoint of every committed event. None while the log is empty; the
    newest checkpoint when no event was added since it."""
    # The head as last committed: every event up to its seq is committed too (the append that
    # moved the head inserted them in the same transaction), and events never change.
    seq, head_hash = AuditChainHead.objects.values_list("seq", "hash").get(pk=1)
    if seq == 0:
        return None
    tree.tree_extend(seq)
    with transaction.atomic():
        # One taker at a time (the tree's lock), so sizes only grow and are never signed twice.
        AuditTreeState.objects.select_for_update().get(pk=1)
        latest = AuditCheckpoint.objects.order_by("-seq").first()
        if latest is not None and latest.seq >= seq:
            return latest
        root = tree.root(seq)
        note = sign_note(Checkpoint(log_origin(), seq, root).text(), signing_key())
        cp = AuditCheckpoint.objects.create(seq=seq, hash=head_hash, root=root.hex(), note=note)
        transaction.on_commit(lambda: witness_append(note, cp.at), robust=True)
    return cp
