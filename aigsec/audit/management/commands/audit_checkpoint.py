from django.core.management.base import BaseCommand

from aigsec.audit.checkpoints import audit_checkpoint_take
from aigsec.audit.keys import verifier


class Command(BaseCommand):
    help = (
        "Take a signed checkpoint of the audit log now (C2SP tlog-checkpoint, Ed25519 "
        "signed-note) and print it; or print the log's verifier key with --vkey."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--vkey",
            action="store_true",
            help="Print the verifier key (<name>+<key hash>+<key>) instead; takes no checkpoint.",
        )

    def handle(self, *args, **opts):
        if opts["vkey"]:
            self.stdout.write(verifier().vkey)
            return
        cp = audit_checkpoint_take()
        if cp is None:
            self.stdout.write("The audit trail is empty; nothing to checkpoint.")
            return
        self.stdout.write(f"Checkpoint at seq {cp.seq} hash {cp.hash} root {cp.root}")
        self.stdout.write(cp.note, ending="")
