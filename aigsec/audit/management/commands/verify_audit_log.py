from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from aigsec.audit.chain import read_jsonl, verify_events
from aigsec.audit.selectors import audit_verify_db


class Command(BaseCommand):
    help = "Verify the audit trail hash chain (in the database, or an export with --file)."

    def add_arguments(self, parser):
        parser.add_argument("--file", help="Verify a JSON-lines export instead of the database.")

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
            result, checkpoint = audit_verify_db()
        if not result.ok:
            raise CommandError(f"FAIL at seq {result.bad_seq}: {result.reason}")
        msg = f"OK: {result.count} events, head seq {result.head_seq} hash {result.head_hash}"
        if checkpoint is not None:
            msg += f"; reaches checkpoint seq {checkpoint.seq}"
        self.stdout.write(msg)
