import argparse
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from aigsec.audit.chain import read_jsonl, verify_events
from aigsec.audit.note import NoteError
from aigsec.audit.verify import (
    MAX_WORKERS,
    audit_log_verify,
    default_verify_workers,
    read_checkpoint_file,
)


def workers_count(value: str) -> int:
    """--workers: a whole number of processes, 1 (read the chain in this process) or more."""
    try:
        n = int(value)
    except ValueError:
        n = 0
    if not 1 <= n <= MAX_WORKERS:
        raise argparse.ArgumentTypeError(
            f"expected a whole number from 1 to {MAX_WORKERS}, got {value!r}"
        )
    return n


class Command(BaseCommand):
    help = (
        "Verify the audit log in the database: the hash chain, every signed checkpoint, the "
        "Merkle roots recomputed from the events, the witness, the checkpoints' freshness. "
        "With --file, verify the hash chain of a JSON-lines export instead."
    )

    def add_arguments(self, parser):
        parser.add_argument("--file", help="Verify a JSON-lines export instead of the database.")
        parser.add_argument(
            "--workers",
            type=workers_count,
            default=None,
            help="Processes that verify segments of the chain in the database in parallel "
            f"(PostgreSQL; default {default_verify_workers()}, the cores up to 4). "
            "1 reads the chain in this process.",
        )
        parser.add_argument(
            "--checkpoint",
            action="append",
            default=[],
            metavar="FILE",
            help="A signed checkpoint kept elsewhere (e.g. a copy of the witness or the one a "
            "report pins); the log must be consistent with it. May be repeated.",
        )
        parser.add_argument(
            "--witness",
            metavar="DIR",
            help="The witness directory to compare with (default AUDIT_WITNESS_DIR).",
        )

    def handle(self, *args, **opts):
        if opts["file"]:
            path = Path(opts["file"])
            if not path.is_file():
                raise CommandError(f"{path}: no such file")
            with path.open(encoding="utf-8") as fh:
                try:
                    result = verify_events(read_jsonl(fh))
                except ValueError as exc:
                    raise CommandError(f"{path}: {exc}") from exc
            if not result.ok:
                raise CommandError(f"FAIL at seq {result.bad_seq}: {result.reason}")
            self.stdout.write(
                f"OK: {result.count} events, head seq {result.head_seq} hash {result.head_hash}"
            )
            return
        try:
            external = [read_checkpoint_file(Path(p)) for p in opts["checkpoint"]]
        except NoteError as exc:
            raise CommandError(str(exc)) from exc
        workers = opts["workers"] or default_verify_workers()
        witness = Path(opts["witness"]) if opts["witness"] else None
        if witness is not None and not witness.is_dir():
            raise CommandError(f"{witness}: no such directory")
        log = audit_log_verify(workers=workers, external=external, witness=witness)
        result, checkpoint = log.chain, log.newest
        if opts["verbosity"] >= 2:
            self.stdout.write(f"read by {result.workers} process(es)")
        if not log.ok:
            raise CommandError("\n".join(log.problems))
        msg = f"OK: {result.count} events, head seq {result.head_seq} hash {result.head_hash}"
        if checkpoint is not None:
            msg += f"; reaches checkpoint seq {checkpoint.seq}"
        msg += (
            f"; {log.roots_checked} checkpoint root(s) recomputed, "
            f"{log.witnessed} witnessed checkpoint(s) found in the database"
        )
        self.stdout.write(msg)
