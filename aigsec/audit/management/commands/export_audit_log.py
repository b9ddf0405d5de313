from pathlib import Path

from django.core.management.base import BaseCommand

from aigsec.audit.selectors import audit_export_lines


class Command(BaseCommand):
    help = "Export the audit trail as JSON lines, one event per line (the verifiable format)."

    def add_arguments(self, parser):
        parser.add_argument("--out", required=True, help="File to write.")

    def handle(self, *args, **opts):
        out = Path(opts["out"])
        n = 0
        with out.open("w", encoding="utf-8") as fh:
            for line in audit_export_lines():
                fh.write(line)
                n += 1
        self.stdout.write(f"Wrote {n} events to {out}")
