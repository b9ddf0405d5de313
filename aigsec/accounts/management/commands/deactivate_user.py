from django.core.management.base import BaseCommand, CommandError

from aigsec.accounts.models import User
from aigsec.accounts.user_sessions import user_deactivate


class Command(BaseCommand):
    help = "Deactivate an account: no more sign-in, every session ends, every API token revoked."

    def add_arguments(self, parser):
        parser.add_argument("email")

    def handle(self, *args, **opts):
        user = User.objects.filter(email__iexact=opts["email"]).first()
        if user is None:
            raise CommandError(f"No user with e-mail {opts['email']}")
        done = user_deactivate(user=user, actor=None)
        self.stdout.write(
            f"{user.email} deactivated: {done['sessions']} session(s) ended, "
            f"{done['tokens']} token(s) revoked."
        )
