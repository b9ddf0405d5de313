"""Backups: a portable dump of every table, every stored file, and a manifest that pins them.

Layout of a backup directory::

    manifest.json                 format, versions, row counts, SHA-256 + size of every file,
                                  the audit chain head at snapshot time
    db/<app>.<model>.jsonl        Django's JSON-lines serialisation, one object per line
    files/<storage name>          every file named by a FileField (or a model's
                                  STORAGE_NAME_FIELDS), read through default_storage

The dump keeps primary keys as they are: audit events name rows by id (`assessment:42`), so a
restore must bring back the same ids. Rows that `migrate` recreates on its own (content types,
permissions) are left out and referred to by natural key; sessions are left out on purpose.
No secret from the environment is ever written: SECRET_KEY, the audit checkpoint key and the
report signing key are kept apart from backups (docs/operations.md, key custody).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from datetime import time as dt_time
from importlib import metadata
from pathlib import Path, PurePosixPath
from typing import IO, Any

from django.apps import apps
from django.core import serializers
from django.core.files.storage import default_storage
from django.core.serializers.json import DjangoJSONEncoder
from django.core.serializers.jsonl import Serializer as JsonlSerializer
from django.db import connection, models, transaction
from django.db.migrations.recorder import MigrationRecorder
from django.db.models import Prefetch
from django.utils import timezone

from aigsec.audit.chain import format_at
from aigsec.audit.models import AuditChainHead, AuditCheckpoint
from aigsec.audit.services import audit_record

FORMAT = "aigsec-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
COPY_CHUNK = 1024 * 1024
ROW_CHUNK = 2000
# Left out of the dump. Content types and permissions are rebuilt by `migrate` (with ids of
# their own, hence natural keys for references to them); sessions are ephemeral, and bringing
# them back would revive log-ins on another instance.
SKIPPED_MODELS = {
    "contenttypes.contenttype": "recreated by migrate; referred to by natural key",
    "auth.permission": "recreated by migrate; referred to by natural key",
    "sessions.session": "ephemeral; users sign in again after a restore",
    "accounts.usersession": "the list of open sessions, which are not restored",
    "core.idempotencykey": "answers kept 24 h for API retries; a retry after a restore is new",
}
SECRETS_NOTE = (
    "No secrets from the environment are included: SECRET_KEY, the audit log signing key and the "
    "report signing key are kept apart (docs/operations.md, key custody)."
)


class BackupError(Exception):
    """The backup could not be written; the message says why."""


@dataclass
class BackupResult:
    out: Path
    manifest_sha256: str
    backup_id: str
    tables: int
    rows: int
    files: int
    file_bytes: int
    head_seq: int
    head_hash: str
    seconds: float
    missing: list[str] = field(default_factory=list)
    unreferenced: int = 0


# --- What a backup covers ------------------------------------------------------------------


def model_label(model: type[models.Model]) -> str:
    return model._meta.label_lower


def dumped_models() -> list[type[models.Model]]:
    """Every concrete model of every installed app, minus SKIPPED_MODELS, in dependency order."""
    app_list = []
    for app_config in apps.get_app_configs():
        chosen = [
            m
            for m in app_config.get_models()
            if m._meta.managed
            and not m._meta.proxy
            and not m._meta.swapped
            and model_label(m) not in SKIPPED_MODELS
        ]
        if chosen:
            app_list.append((app_config, chosen))
    # Foreign keys are checked only at the end of a restore (deferred on PostgreSQL, disabled
    # then checked on SQLite, as loaddata does), so the order matters only for natural keys.
    return serializers.sort_dependencies(app_list, allow_cycles=True)


def storage_fields(model: type[models.Model]) -> list[str]:
    """Columns of `model` holding names in default_storage: its FileFields (found on their own,
    so a new model with a FileField is covered) and the names it lists in STORAGE_NAME_FIELDS
    (for files stored under a name kept in a plain CharField, like evidence revisions)."""
    found = [
        f.attname
        for f in model._meta.get_fields()
        if isinstance(f, models.FileField) and f.concrete and f.model is model
    ]
    for name in getattr(model, "STORAGE_NAME_FIELDS", ()):
        attname = model._meta.get_field(name).attname
        if attname not in found:
            found.append(attname)
    return found


def referenced_storage_names() -> set[str]:
    """Every storage name any row refers to (one query per storage column)."""
    names: set[str] = set()
    for model in apps.get_models():
        for attname in storage_fields(model):
            values = (
                model._base_manager.exclude(**{f"{attname}__isnull": True})
                .exclude(**{attname: ""})
                .values_list(attname, flat=True)
            )
            names.update(values.iterator(chunk_size=ROW_CHUNK))
    return names


def safe_relative(name: str) -> PurePosixPath:
    """A storage or manifest name as a relative path that cannot leave its directory."""
    path = PurePosixPath(name)
    if (
        not name
        or "\\" in name
        or "\x00" in name
        or path.is_absolute()
        or any(part in ("", ".", "..") for part in name.split("/"))
    ):
        raise BackupError(f"unsafe file name {name!r}")
    return path


def applied_migrations() -> list[str]:
    return sorted(
        f"{app}.{name}" for app, name in MigrationRecorder(connection).applied_migrations()
    )


def aigsec_version() -> str:
    try:
        return metadata.version("aigsec")
    except metadata.PackageNotFoundError:
        return "unknown"


def walk_storage(path: str = "") -> Iterator[str]:
    """Every file name in default_storage (local directory or bucket)."""
    try:
        dirs, files = default_storage.listdir(path)
    except FileNotFoundError:
        return
    for name in files:
        yield f"{path}/{name}" if path else name
    for sub in dirs:
        yield from walk_storage(f"{path}/{sub}" if path else sub)


# --- Writing ---------------------------------------------------------------------------------


class ExactJSONEncoder(DjangoJSONEncoder):
    """DjangoJSONEncoder cuts datetimes to milliseconds; audit hashes cover microseconds."""

    def default(self, o: Any) -> Any:
        if isinstance(o, datetime | dt_time):
            return o.isoformat()
        return super().default(o)


class DumpSerializer(JsonlSerializer):
    """Plain primary keys everywhere, except references to rows we do not dump (permissions,
    content types), which become natural keys so they resolve against the target's rows."""

    def handle_fk_field(self, obj: models.Model, field: Any) -> None:
        self.use_natural_foreign_keys = model_label(field.remote_field.model) in SKIPPED_MODELS
        super().handle_fk_field(obj, field)

    def handle_m2m_field(self, obj: models.Model, field: Any) -> None:
        self.use_natural_foreign_keys = model_label(field.remote_field.model) in SKIPPED_MODELS
        super().handle_m2m_field(obj, field)


class HashingWriter:
    """A text stream that writes UTF-8 to a binary file and hashes what it writes."""

    def __init__(self, fh: IO[bytes]):
        self.fh = fh
        self.sha256 = hashlib.sha256()
        self.size = 0

    def write(self, text: str | bytes) -> int:
        data = text.encode("utf-8") if isinstance(text, str) else text
        self.fh.write(data)
        self.sha256.update(data)
        self.size += len(data)
        return len(text)

    def digest(self) -> dict[str, Any]:
        return {"sha256": self.sha256.hexdigest(), "size": self.size}


def open_new(path: Path) -> IO[bytes]:
    """Create a file readable by the owner only; never overwrite one."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    return os.fdopen(fd, "wb")


def _queryset(model: type[models.Model]) -> models.QuerySet:
    qs = model._base_manager.order_by(model._meta.pk.name)
    prefetch: list[str | Prefetch] = []
    for f in model._meta.many_to_many:
        if not f.remote_field.through._meta.auto_created:
            continue  # an explicit through model is dumped as a model of its own
        target = f.remote_field.model
        if model_label(target) in SKIPPED_MODELS:
            # natural_key() of a permission reads its content type: fetch them together.
            prefetch.append(Prefetch(f.name, queryset=target._base_manager.select_related()))
        else:
            prefetch.append(f.name)
    return qs.prefetch_related(*prefetch) if prefetch else qs


def _dump_model(model: type[models.Model], path: Path, chunk_size: int) -> tuple[int, dict]:
    rows = 0

    def counted(objects: Iterable[models.Model]) -> Iterator[models.Model]:
        nonlocal rows
        for obj in objects:
            rows += 1
            yield obj

    with open_new(path) as fh:
        writer = HashingWriter(fh)
        DumpSerializer().serialize(
            counted(_queryset(model).iterator(chunk_size=chunk_size)),
            stream=writer,
            cls=ExactJSONEncoder,
        )
    return rows, writer.digest()


def _copy_from_storage(name: str, path: Path) -> dict[str, Any]:
    with default_storage.open(name, "rb") as src, open_new(path) as dst:
        writer = HashingWriter(dst)
        for chunk in iter(lambda: src.read(COPY_CHUNK), b""):
            writer.write(chunk)
    return writer.digest()


def _start_snapshot() -> str:
    """Make the current (fresh) transaction one consistent, read-only snapshot."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        return "repeatable read, read only"
    # SQLite: one deferred read transaction sees one state of the file from its first read
    # until it ends; writers wait for it (rollback journal) or carry on beside it (WAL).
    return "single read transaction"


def _snapshot(out: Path, chunk_size: int) -> dict[str, Any]:
    """Dump every table and copy every referenced file, all from one database snapshot."""
    files: dict[str, dict[str, Any]] = {}
    tables = []
    with transaction.atomic():
        isolation = _start_snapshot()
        head = AuditChainHead.objects.get(pk=1)
        checkpoint = AuditCheckpoint.objects.order_by("-seq", "-id").first()
        for model in dumped_models():
            rel = f"db/{model_label(model)}.jsonl"
            rows, digest = _dump_model(model, out / rel, chunk_size)
            files[rel] = digest
            tables.append(
                {
                    "model": model_label(model),
                    "table": model._meta.db_table,
                    "file": rel,
                    "rows": rows,
                }
            )
        referenced = referenced_storage_names()
        migrations = applied_migrations()
    # Stored files are immutable once a row names them, so copying them after the snapshot
    # transaction (and without holding it open) still matches the dump.
    missing = []
    for name in sorted(referenced):
        rel = f"files/{safe_relative(name)}"
        try:
            files[rel] = _copy_from_storage(name, out / rel)
        except FileNotFoundError:
            missing.append(name)
    unreferenced = sorted(n for n in walk_storage() if n not in referenced)
    return {
        "database": {"vendor": connection.vendor, "isolation": isolation},
        "migrations": migrations,
        "tables": tables,
        "skipped_models": SKIPPED_MODELS,
        "files": dict(sorted(files.items())),
        "missing_files": missing,
        "unreferenced_files": {"count": len(unreferenced), "first": unreferenced[:100]},
        "audit": {
            "head_seq": head.seq,
            "head_hash": head.hash,
            "checkpoint": (
                {
                    "seq": checkpoint.seq,
                    "hash": checkpoint.hash,
                    "root": checkpoint.root,
                    "note": checkpoint.note,
                }
                if checkpoint
                else None
            ),
        },
    }


def _check_out_dir(out: Path) -> bool:
    """Refuse a non-empty or unusable directory; returns whether we create it."""
    if out.exists():
        if not out.is_dir():
            raise BackupError(f"{out} exists and is not a directory.")
        if any(out.iterdir()):
            raise BackupError(
                f"{out} is not empty. Write each backup into a new, empty directory "
                "(e.g. one named after the date), so no backup is ever overwritten."
            )
        return False
    return True


def _clear(out: Path, created: bool) -> None:
    if created:
        shutil.rmtree(out, ignore_errors=True)
        return
    for child in out.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)


def backup_create(*, out: Path, chunk_size: int = ROW_CHUNK) -> BackupResult:
    """Write a backup into `out` (new or empty). Raises BackupError, leaving `out` empty.

    `backup.created` is recorded just before the snapshot, so the backup's own chain ends with
    it and a restore verifies without a dangling tail; a failure afterwards records
    `backup.failed` with the same id.
    """
    started = time.monotonic()
    out = Path(out)
    created = _check_out_dir(out)
    if connection.in_atomic_block:
        raise BackupError("Run a backup outside any transaction: it takes its own snapshot.")
    out.mkdir(parents=True, exist_ok=True, mode=0o700)
    backup_id = uuid.uuid4().hex
    audit_record("backup.created", data={"backup_id": backup_id, "out": str(out.resolve())})
    try:
        snap = _snapshot(out, chunk_size)
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "backup_id": backup_id,
            "created_at": format_at(timezone.now()),
            "aigsec_version": aigsec_version(),
            **snap,
            "secrets": SECRETS_NOTE,
        }
        body = (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
        with open_new(out / MANIFEST) as fh:
            fh.write(body)
    except BaseException as exc:
        _clear(out, created)
        # The original error is what the operator needs; a failure to record it must not hide it.
        with contextlib.suppress(Exception):
            audit_record(
                "backup.failed", data={"backup_id": backup_id, "error": type(exc).__name__}
            )
        raise
    files = [k for k in snap["files"] if k.startswith("files/")]
    return BackupResult(
        out=out,
        manifest_sha256=hashlib.sha256(body).hexdigest(),
        backup_id=backup_id,
        tables=len(snap["tables"]),
        rows=sum(t["rows"] for t in snap["tables"]),
        files=len(files),
        file_bytes=sum(snap["files"][k]["size"] for k in files),
        head_seq=snap["audit"]["head_seq"],
        head_hash=snap["audit"]["head_hash"],
        seconds=time.monotonic() - started,
        missing=snap["missing_files"],
        unreferenced=snap["unreferenced_files"]["count"],
    )
