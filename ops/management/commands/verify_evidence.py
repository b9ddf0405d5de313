"""Re-hash every stored evidence revision; report mismatches and missing files.

Exits non-zero if any revision fails, so it can run from cron or CI.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from evidence.services import evidence_verify_all


class Command(BaseCommand):
    help = "Re-hash every stored evidence revision and report mismatches and missing files."

    def handle(self, *args, **options) -> None:
        checked, problems = evidence_verify_all()
        for line in problems:
            self.stdout.write(line)
        if problems:
            raise CommandError(f"{len(problems)} of {checked} revisions failed verification.")
        self.stdout.write(self.style.SUCCESS(f"All {checked} revisions verified."))
