"""Restore a backup into an empty, migrated instance, then verify the audit trail and evidence."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from ops.restore import RestoreRefused, restore_run


class Command(BaseCommand):
    help = (
        "Restore the backup in DIR into this (empty, migrated) instance after checking its "
        "manifest; then verify the audit trail and the evidence files."
    )

    def add_arguments(self, parser):
        parser.add_argument("dir", metavar="DIR")
        parser.add_argument(
            "--manifest-sha256",
            metavar="HEX",
            help="Refuse unless manifest.json has this SHA-256 (as printed by backup).",
        )
        parser.add_argument(
            "--ignore-checkpoint-key",
            action="store_true",
            help="Restore even though this instance's checkpoint key did not sign the backup.",
        )

    def handle(self, *args, **opts) -> None:
        try:
            r = restore_run(
                src=Path(opts["dir"]),
                expected_manifest_sha256=opts["manifest_sha256"],
                ignore_checkpoint_key=opts["ignore_checkpoint_key"],
            )
        except RestoreRefused as exc:
            raise CommandError(f"Restore refused: {exc}") from exc
        self.stdout.write(
            f"Restored backup {r.backup_id}: {r.rows} rows in {r.tables} tables, "
            f"{r.files} files in {r.seconds:.2f} s."
        )
        a = r.audit
        if a.ok:
            self.stdout.write(f"Audit trail OK: {a.count} events, head seq {a.head_seq}")
        else:
            self.stdout.write(f"Audit trail FAIL at seq {a.bad_seq}: {a.reason}")
        for line in r.evidence_problems:
            self.stdout.write(line)
        self.stdout.write(
            f"Evidence: {r.evidence_checked} revisions checked, {len(r.evidence_problems)} failed."
        )
        for name in r.missing_files:
            self.stdout.write(f"MISSING  {name}")
        if not r.ok:
            raise CommandError("The restored instance failed verification (see above).")
