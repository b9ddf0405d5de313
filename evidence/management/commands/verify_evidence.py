"""Re-hash every stored evidence revision; report mismatches and missing files.

Exits non-zero if any revision fails, so it can run from cron or CI.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from aigsec.audit.services import audit_record
from evidence.models import EvidenceRevision
from evidence.services import hash_stored


class Command(BaseCommand):
    help = "Re-hash every stored evidence revision and report mismatches and missing files."

    def handle(self, *args, **options) -> None:
        checked = 0
        problems: list[str] = []
        revisions = EvidenceRevision.objects.select_related("item").order_by("item_id", "number")
        for rev in revisions.iterator(chunk_size=500):
            checked += 1
            label = (
                f"evidence {rev.item_id} revision {rev.number} ({rev.original_name}, "
                f"{rev.storage_name})"
            )
            try:
                digest, size = hash_stored(rev.storage_name)
            except FileNotFoundError:
                problems.append(f"MISSING  {label}")
                continue
            if digest != rev.sha256 or size != rev.size:
                problems.append(
                    f"MISMATCH {label}: expected {rev.sha256}, found {digest} ({size} bytes)"
                )
        for line in problems:
            self.stdout.write(line)
        audit_record(
            "evidence.verified",
            data={"checked": checked, "failed": len(problems)},
        )
        if problems:
            raise CommandError(f"{len(problems)} of {checked} revisions failed verification.")
        self.stdout.write(self.style.SUCCESS(f"All {checked} revisions verified."))
