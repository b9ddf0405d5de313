"""Write the certificate chain a verifier should trust (PEM). Never the key."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from reports.signing import SigningConfigError, signing_identity


class Command(BaseCommand):
    help = "Write the report-signing certificate chain (PEM) that verifiers should trust."

    def add_arguments(self, parser):
        parser.add_argument("--out", required=True)

    def handle(self, out: str, **options):
        try:
            identity = signing_identity()
        except SigningConfigError as exc:
            raise CommandError(str(exc)) from exc
        target = Path(out)
        if not target.parent.is_dir():
            raise CommandError(f"Directory {target.parent} does not exist.")
        target.write_bytes(identity.trust_pem)
        kind = "self-managed local CA" if identity.self_managed else "configured chain"
        self.stdout.write(
            f"wrote {target} ({kind}); signer {identity.subject}, "
            f"certificate sha256 {identity.fingerprint}"
        )
