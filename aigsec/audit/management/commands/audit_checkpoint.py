from django.core.management.base import BaseCommand

from aigsec.audit.services import audit_checkpoint_take


class Command(BaseCommand):
    help = "Store an HMAC-signed checkpoint of the audit trail's head (seq and hash)."

    def handle(self, *args, **opts):
        cp = audit_checkpoint_take()
        if cp is None:
            self.stdout.write("The audit trail is empty; nothing to checkpoint.")
        else:
            self.stdout.write(f"Checkpoint at seq {cp.seq} hash {cp.hash}")
