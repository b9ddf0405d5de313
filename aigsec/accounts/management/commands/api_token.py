from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from aigsec.accounts.models import TokenScope, User
from aigsec.accounts.services import api_token_create


class Command(BaseCommand):
    help = "Create an API token for a user and print it (last line of output)."

    def add_arguments(self, parser):
        parser.add_argument("email")
        parser.add_argument("--name", default="cli")
        # Read-write by default, as scripts written against earlier versions expect; use
        # --scope read for anything that only reads.
        parser.add_argument("--scope", choices=TokenScope.values, default=TokenScope.WRITE)
        parser.add_argument("--read-only", action="store_true", help="Same as --scope read.")
        parser.add_argument(
            "--days",
            type=int,
            default=settings.API_TOKEN_DEFAULT_LIFETIME.days,
            help="Days the token is valid, 1 to 365 (default: API_TOKEN_DAYS).",
        )

    def handle(self, *args, **opts):
        user = User.objects.filter(email__iexact=opts["email"], is_active=True).first()
        if user is None:
            raise CommandError(f"No active user with e-mail {opts['email']}")
        try:
            token, secret = api_token_create(
                user=user,
                name=opts["name"],
                read_only=opts["read_only"] or opts["scope"] == TokenScope.READ,
                lifetime=timedelta(days=opts["days"]),
            )
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        self.stdout.write(
            f"Token '{token.name}' ({TokenScope(token.scope).label}) for {user.email}, "
            f"expires {token.expires_at:%Y-%m-%d}. Use it as 'Authorization: Bearer <token>':"
        )
        self.stdout.write(secret)
