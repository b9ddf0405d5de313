"""Restore a backup made by `ops.backup` into an empty, migrated instance.

Everything that can be checked is checked before anything is written: the manifest and the
SHA-256 and size of every file, the schema (same migrations), the audit checkpoint key, an
empty database, and no conflicting stored file. Then the files go into storage and the rows
into the database in one transaction; if that fails, the files written are removed again.
Last, the audit chain and the evidence files are verified on the restored instance.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.apps import apps
from django.core import serializers
from django.core.files import File
from django.core.files.storage import default_storage
from django.core.management.color import no_style
from django.core.serializers.base import DeserializationError
from django.db import DatabaseError, IntegrityError, connection, models, transaction

from aigsec.audit.chain import GENESIS_HASH, VerifyResult
from aigsec.audit.keys import existing_signer, key_path
from aigsec.audit.models import AuditChainHead
from aigsec.audit.note import NoteError, open_checkpoint
from aigsec.audit.services import audit_record
from aigsec.audit.verify import audit_verify_db
from aigsec.core import teamcache
from evidence.services import evidence_verify_all

from .backup import (
    COPY_CHUNK,
    FORMAT,
    FORMAT_VERSION,
    MANIFEST,
    BackupError,
    applied_migrations,
    referenced_storage_names,
    safe_relative,
)

LOAD_CHUNK = 1000


class RestoreRefused(Exception):
    """The restore did not start, or was rolled back: nothing was changed. Says why."""


@dataclass
class RestoreResult:
    backup_id: str
    manifest_sha256: str
    tables: int
    rows: int
    files: int
    seconds: float
    audit: VerifyResult
    evidence_checked: int
    evidence_problems: list[str] = field(default_factory=list)
    missing_files: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.audit.ok and not self.evidence_problems and not self.missing_files


# --- Checks before anything is written -------------------------------------------------------


def manifest_load(src: Path, expected_sha256: str | None = None) -> tuple[dict[str, Any], str]:
    path = src / MANIFEST
    if not path.is_file():
        raise RestoreRefused(f"{path}: no manifest; this is not a complete backup.")
    body = path.read_bytes()
    digest = hashlib.sha256(body).hexdigest()
    if expected_sha256 and not hmac.compare_digest(digest, expected_sha256.lower()):
        raise RestoreRefused(
            f"{MANIFEST} has SHA-256 {digest}, not the {expected_sha256} recorded for this backup."
        )
    try:
        manifest = json.loads(body)
    except ValueError as exc:
        raise RestoreRefused(f"{MANIFEST} is not valid JSON ({exc}).") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise RestoreRefused(f"{MANIFEST} is not an aigsec backup manifest.")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise RestoreRefused(
            f"backup format version {manifest.get('format_version')!r} is not supported "
            f"(this aigsec reads version {FORMAT_VERSION})."
        )
    _check_shape(manifest)
    return manifest, digest


def _check_shape(m: dict[str, Any]) -> None:
    """The fields the restore relies on, with their types: a damaged manifest is refused
    with a reason, never a traceback."""

    def ok_file(d: Any) -> bool:
        return isinstance(d, dict) and isinstance(d.get("sha256"), str) and _is_int(d.get("size"))

    def ok_table(t: Any) -> bool:
        return (
            isinstance(t, dict)
            and all(isinstance(t.get(k), str) for k in ("model", "table", "file"))
            and _is_int(t.get("rows"))
        )

    checks = {
        "backup_id": isinstance(m.get("backup_id"), str),
        "files": isinstance(m.get("files"), dict)
        and all(isinstance(k, str) and ok_file(v) for k, v in m["files"].items()),
        "tables": isinstance(m.get("tables"), list) and all(ok_table(t) for t in m["tables"]),
        "migrations": isinstance(m.get("migrations"), list)
        and all(isinstance(x, str) for x in m["migrations"]),
        "audit": isinstance(m.get("audit"), dict)
        and (m["audit"].get("checkpoint") is None or isinstance(m["audit"]["checkpoint"], dict)),
    }
    bad = [key for key, good in checks.items() if not good]
    if bad:
        raise RestoreRefused(f"{MANIFEST} is damaged: {', '.join(bad)} missing or malformed.")
    cp = m["audit"].get("checkpoint")
    if cp is not None and not (
        _is_int(cp.get("seq"))
        and isinstance(cp.get("hash"), str)
        and isinstance(cp.get("note"), str)
    ):
        raise RestoreRefused(f"{MANIFEST} is damaged: audit checkpoint malformed.")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _file_digest(path: Path) -> tuple[str, int]:
    hasher, size = hashlib.sha256(), 0
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(COPY_CHUNK), b""):
            hasher.update(chunk)
            size += len(chunk)
    return hasher.hexdigest(), size


def manifest_check_files(src: Path, manifest: dict[str, Any]) -> None:
    """Every listed file present with its SHA-256 and size, and no file the manifest omits."""
    listed = manifest["files"]
    for rel, expected in listed.items():
        try:
            safe_relative(rel)
        except BackupError as exc:
            raise RestoreRefused(f"{MANIFEST} lists an {exc}.") from None
        path = src / rel
        if not path.is_file() or path.is_symlink():
            raise RestoreRefused(f"{rel}: listed in the manifest but missing from the backup.")
        digest, size = _file_digest(path)
        if size != expected.get("size") or digest != expected.get("sha256"):
            raise RestoreRefused(
                f"{rel}: SHA-256 {digest} ({size} bytes) does not match the manifest "
                f"({expected.get('sha256')}, {expected.get('size')} bytes). The backup is "
                "damaged or was altered; nothing was restored."
            )
    for path in sorted(src.rglob("*")):
        rel = path.relative_to(src).as_posix()
        if path.is_dir() and not path.is_symlink():
            continue
        if rel != MANIFEST and rel not in listed:
            raise RestoreRefused(f"{rel}: in the backup directory but not in the manifest.")
    for table in manifest["tables"]:
        if table.get("file") not in listed:
            raise RestoreRefused(f"{table.get('model')}: its dump file is not in the manifest.")


def _check_migrations(manifest: dict[str, Any]) -> None:
    mine, theirs = set(applied_migrations()), set(manifest["migrations"])
    if mine != theirs:
        missing = sorted(theirs - mine)[:5]
        extra = sorted(mine - theirs)[:5]
        raise RestoreRefused(
            "The database schema differs from the backup's "
            f"(missing here: {missing or 'none'}; only here: {extra or 'none'}). Restore with "
            f"the aigsec version that made the backup ({manifest.get('aigsec_version')}), "
            "then upgrade and migrate."
        )


def _check_checkpoint_key(manifest: dict[str, Any]) -> None:
    """The backup's newest checkpoint must verify with this instance's audit log key, which is
    never created here (a fresh key cannot be right)."""
    cp = manifest["audit"].get("checkpoint")
    if not cp:
        return
    signer = existing_signer()
    where = f"AUDIT_LOG_SIGNING_KEY or {key_path()}"
    if signer is None:
        raise RestoreRefused(
            f"This instance has no audit log signing key ({where}). Put back the key from "
            "escrow first: without it no new checkpoint would continue the restored log."
        )
    try:
        open_checkpoint(cp["note"], signer.verifier)
    except NoteError:
        raise RestoreRefused(
            f"The audit log signing key of this instance ({where}) is not the one that signed "
            "the backup's checkpoints. Put back the key from escrow (or pass "
            "--ignore-checkpoint-key, and the restored trail will fail verification)."
        ) from None


def _models(manifest: dict[str, Any]) -> list[tuple[dict[str, Any], type[models.Model]]]:
    out = []
    for table in manifest["tables"]:
        try:
            out.append((table, apps.get_model(table["model"])))
        except (LookupError, ValueError, KeyError):
            raise RestoreRefused(f"{table.get('model')}: no such model in this aigsec.") from None
    return out


def _is_migration_seed(model: type[models.Model]) -> bool:
    # The one row `migrate` itself writes into a dumped table: the genesis chain head.
    if model is not AuditChainHead:
        return False
    rows = list(AuditChainHead.objects.values_list("pk", "seq", "hash"))
    return rows == [(1, 0, GENESIS_HASH)]


def _check_empty(chosen: list[tuple[dict[str, Any], type[models.Model]]]) -> None:
    busy = [
        f"{model._meta.label_lower} ({n} row{'' if n == 1 else 's'})"
        for _, model in chosen
        if (n := model._base_manager.count()) and not _is_migration_seed(model)
    ]
    if busy:
        raise RestoreRefused(
            "The target database already holds data: "
            + ", ".join(busy[:8])
            + (" …" if len(busy) > 8 else "")
            + ". Restore only into a new database that has just been migrated."
        )


def _media(manifest: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(path in the backup, storage name, digest) for every stored file."""
    return [
        (rel, rel.removeprefix("files/"), digest)
        for rel, digest in manifest["files"].items()
        if rel.startswith("files/")
    ]


def _check_storage(media: list[tuple[str, str, dict[str, Any]]]) -> list[tuple[str, str, dict]]:
    """Files still to write; an identical file already in storage is fine, another is not."""
    todo = []
    for rel, name, digest in media:
        if not default_storage.exists(name):
            todo.append((rel, name, digest))
            continue
        hasher = hashlib.sha256()
        with default_storage.open(name, "rb") as fh:
            for chunk in iter(lambda: fh.read(COPY_CHUNK), b""):
                hasher.update(chunk)
        if hasher.hexdigest() != digest["sha256"]:
            raise RestoreRefused(f"{name}: storage already holds a different file of that name.")
    return todo


# --- Writing ----------------------------------------------------------------------------------


def _put_files(src: Path, todo: list[tuple[str, str, dict[str, Any]]]) -> list[str]:
    written: list[str] = []
    try:
        for rel, name, digest in todo:
            with (src / rel).open("rb") as fh:
                stored = default_storage.save(name, File(fh, name=name))
            written.append(stored)
            if stored != name:
                raise RestoreRefused(f"{name}: storage saved it as {stored}.")
            # Re-read what storage holds: the copy must be the file the manifest vouched for.
            hasher, size = hashlib.sha256(), 0
            with default_storage.open(name, "rb") as fh:
                for chunk in iter(lambda: fh.read(COPY_CHUNK), b""):
                    hasher.update(chunk)
                    size += len(chunk)
            if (hasher.hexdigest(), size) != (digest["sha256"], digest["size"]):
                raise RestoreRefused(f"{name}: the stored copy does not match the manifest.")
    except BaseException:
        _remove_files(written)
        raise
    return written


def _remove_files(names: list[str]) -> None:
    for name in names:
        default_storage.delete(name)


def _lines(path: Path, expected: dict[str, Any]) -> Iterator[str]:
    """The dump's lines, hashed again as they are read, so what is loaded is what was checked."""
    hasher, size = hashlib.sha256(), 0
    with path.open("rb") as fh:
        for raw in fh:
            hasher.update(raw)
            size += len(raw)
            yield raw.decode("utf-8")
    if (hasher.hexdigest(), size) != (expected["sha256"], expected["size"]):
        raise RestoreRefused(f"{path.name} changed while it was being restored.")


def _load_table(path: Path, expected: dict[str, Any], model: type[models.Model]) -> int:
    rows = 0
    batch: list[Any] = []

    def flush() -> None:
        if model._meta.parents:
            for d in batch:  # multi-table inheritance: bulk_create cannot write the parents
                d.save()
        else:
            model._base_manager.bulk_create([d.object for d in batch])
            for d in batch:
                for name, values in (d.m2m_data or {}).items():
                    getattr(d.object, name).set(values)
        batch.clear()

    for d in serializers.deserialize("jsonl", _lines(path, expected)):
        if type(d.object) is not model:
            raise RestoreRefused(f"{path.name} holds a {d.object._meta.label_lower} row.")
        batch.append(d)
        rows += 1
        if len(batch) >= LOAD_CHUNK:
            flush()
    if batch:
        flush()
    return rows


def _load_rows(src: Path, manifest: dict[str, Any], chosen: list) -> int:
    """All rows in one transaction: all or nothing."""
    total = 0
    with transaction.atomic():
        _check_empty(chosen)  # again, inside the transaction that writes
        AuditChainHead.objects.all().delete()
        with connection.constraint_checks_disabled():
            for table, model in chosen:
                rows = _load_table(src / table["file"], manifest["files"][table["file"]], model)
                if rows != table["rows"] or model._base_manager.count() != table["rows"]:
                    raise RestoreRefused(
                        f"{table['model']}: {rows} rows loaded, the manifest says {table['rows']}."
                    )
                total += rows
        # Foreign keys were not checked row by row (the dump order only follows natural
        # keys); check them all now, before commit.
        connection.check_constraints(table_names=[m._meta.db_table for _, m in chosen])
        reset = connection.ops.sequence_reset_sql(no_style(), [m for _, m in chosen])
        if reset:
            with connection.cursor() as cursor:
                for sql in reset:
                    cursor.execute(sql)
    return total


def restore_run(
    *,
    src: Path,
    expected_manifest_sha256: str | None = None,
    ignore_checkpoint_key: bool = False,
) -> RestoreResult:
    """Restore the backup in `src`. Raises RestoreRefused (nothing changed), otherwise returns
    the result of the verifications, which the caller must report."""
    started = time.monotonic()
    src = Path(src)
    manifest, digest = manifest_load(src, expected_manifest_sha256)
    manifest_check_files(src, manifest)
    _check_migrations(manifest)
    if not ignore_checkpoint_key:
        _check_checkpoint_key(manifest)
    chosen = _models(manifest)
    _check_empty(chosen)
    media = _media(manifest)
    for _, name, _ in media:
        try:
            safe_relative(name)
        except BackupError as exc:
            raise RestoreRefused(f"{MANIFEST} lists an {exc}.") from None
    written = _put_files(src, _check_storage(media))
    try:
        rows = _load_rows(src, manifest, chosen)
    except (DeserializationError, IntegrityError, DatabaseError, ValueError) as exc:
        _remove_files(written)
        raise RestoreRefused(f"Loading the rows failed, nothing was restored: {exc}") from exc
    except BaseException:
        _remove_files(written)
        raise
    # The restore is committed; what follows checks it and records it. Figures cached under
    # team versions (teamcache) may describe a database that was here before, with the same ids.
    teamcache.forget_all()
    audit, _ = audit_verify_db()
    checked, problems = evidence_verify_all()
    missing = sorted(n for n in referenced_storage_names() if not default_storage.exists(n))
    result = RestoreResult(
        backup_id=manifest["backup_id"],
        manifest_sha256=digest,
        tables=len(chosen),
        rows=rows,
        files=len(media),
        seconds=time.monotonic() - started,
        audit=audit,
        evidence_checked=checked,
        evidence_problems=problems,
        missing_files=missing,
    )
    audit_record(
        "backup.restored",
        data={
            "backup_id": result.backup_id,
            "backup_created_at": manifest.get("created_at"),
            "manifest_sha256": digest,
            "rows": rows,
            "files": len(media),
            "audit_ok": audit.ok,
            "evidence_failed": len(problems),
            "missing_files": len(missing),
        },
    )
    return result
