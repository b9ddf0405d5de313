from django.core.management.base import BaseCommand, CommandError

from aigsec.accounts.models import User
from aigsec.accounts.services import api_token_create


class Command(BaseCommand):
    help = "Create an API token for a user and print it (last line of output)."

    def add_arguments(self, parser):
        parser.add_argument("email")
        parser.add_argument("--name", default="cli")
        parser.add_argument("--read-only", action="store_true")

    def handle(self, *args, **opts):
        user = User.objects.filter(email__iexact=opts["email"], is_active=True).first()
        if user is None:
            raise CommandError(f"No active user with e-mail {opts['email']}")
        token, secret = api_token_create(user=user, name=opts["name"], read_only=opts["read_only"])
        self.stdout.write(
            f"Token '{token.name}' for {user.email}, expires {token.expires_at:%Y-%m-%d}. "
            "Use it as 'Authorization: Bearer <token>':"
        )
        self.stdout.write(secret)
