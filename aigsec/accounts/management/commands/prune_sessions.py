from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from aigsec.accounts.user_sessions import user_sessions_prune


class Command(BaseCommand):
    help = (
        "Delete the records of ended sessions last active more than SESSION_RECORD_RETENTION_DAYS "
        "days ago, and the expired entries of the session store. Live sessions are kept."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--days",
            type=int,
            default=None,
            help="Retention in days for this run (default: SESSION_RECORD_RETENTION_DAYS).",
        )

    def handle(self, *args, **opts):
        days = settings.SESSION_RECORD_RETENTION_DAYS if opts["days"] is None else opts["days"]
        try:
            deleted = user_sessions_prune(retention_days=days)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"{deleted} session record(s) last active more than {days} day(s) ago deleted."
        )
