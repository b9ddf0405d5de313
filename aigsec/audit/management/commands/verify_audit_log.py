import argparse
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from aigsec.audit.chain import read_jsonl, verify_events
from aigsec.audit.selectors import MAX_WORKERS, audit_verify_db, default_verify_workers


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
    help = "Verify the audit trail hash chain (in the database, or an export with --file)."

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
            checkpoint = None
        else:
            workers = opts["workers"] or default_verify_workers()
            result, checkpoint = audit_verify_db(workers)
            if opts["verbosity"] >= 2:
                self.stdout.write(f"read by {result.workers} process(es)")
        if not result.ok:
            raise CommandError(f"FAIL at seq {result.bad_seq}: {result.reason}")
        msg = f"OK: {result.count} events, head seq {result.head_seq} hash {result.head_hash}"
        if checkpoint is not None:
            msg += f"; reaches checkpoint seq {checkpoint.seq}"
        self.stdout.write(msg)
