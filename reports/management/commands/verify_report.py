"""Check a report PDF: exit 0 only for an intact report signed by this instance."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from reports.verify import report_verify


class Command(BaseCommand):
    help = "Verify the signature of an aigsec report and say what it covers."

    def add_arguments(self, parser):
        parser.add_argument("file")

    def handle(self, file: str, **options):
        path = Path(file)
        if not path.is_file():
            raise CommandError(f"{file}: no such file.")
        outcome = report_verify(data=path.read_bytes(), actor=None, via="cli")
        v = outcome.verification
        self.stdout.write(f"{'OK' if v.ok else 'FAILED'}: {v.reason}")
        if v.signer:
            self.stdout.write(f"signer: {v.signer} (certificate sha256 {v.signer_fingerprint})")
        if v.signed_at:
            stamp = " (timestamped)" if v.timestamped else ""
            self.stdout.write(f"signed at: {v.signed_at}{stamp}")
        self.stdout.write(f"file sha256: {outcome.sha256}")
        if outcome.report is not None:
            r = outcome.report
            self.stdout.write(
                f"on record: report {r.uuid} of assessment {r.assessment_id} "
                f'"{r.assessment.title}", AI system "{r.assessment.ai_system.name}", '
                f'team "{r.team.name}", {"final" if r.is_final else "draft"}, '
                f"requested {r.requested_at:%Y-%m-%d %H:%M} UTC"
            )
        elif v.ok:
            self.stdout.write("not on record here (no stored report has this SHA-256)")
        if not v.ok:
            raise CommandError("verification failed", returncode=1)
