"""Demo data, idempotent: running it twice changes nothing the second time."""

import os
import secrets
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction

from aigsec.accounts.mfa import mfa_demo_device, totp_secret
from aigsec.accounts.models import Membership, Role, Team, User
from aigsec.accounts.services import membership_add, team_create

DEMO_USERS = [
    ("Demo AI Ltd", "admin@demo.test", Role.ADMIN, "Ada Admin"),
    ("Demo AI Ltd", "risk@demo.test", Role.RISK_OWNER, "Riley Risk"),
    ("Demo AI Ltd", "risk2@demo.test", Role.RISK_OWNER, "Robin Owner"),
    ("Demo AI Ltd", "auditor@demo.test", Role.AUDITOR, "Avery Auditor"),
    ("Demo AI Ltd", "manager@demo.test", Role.MANAGER, "Morgan Manager"),
    ("Other Co", "other@demo.test", Role.RISK_OWNER, "Oscar Other"),
]


def demo_password() -> tuple[str, str]:
    """DEMO_PASSWORD, else one generated once and kept (0600) in the data dir, so that running
    seed_demo again keeps the logins it printed before."""
    if os.environ.get("DEMO_PASSWORD"):
        return os.environ["DEMO_PASSWORD"], "from DEMO_PASSWORD"
    path = Path(settings.AIGSEC_DATA_DIR) / "demo-password.txt"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write("demo-" + secrets.token_urlsafe(9))
    return path.read_text().strip(), f"generated, kept in {path}; set DEMO_PASSWORD to choose"


class Command(BaseCommand):
    help = (
        "Create the demo teams, users and data (idempotent). Password: $DEMO_PASSWORD. "
        "Loads the bundled framework first if it is missing; all or nothing."
    )

    def handle(self, *args, **opts):
        password, source = demo_password()
        with transaction.atomic():
            for team_name, email, role, full_name in DEMO_USERS:
                team = Team.objects.filter(name=team_name).first() or team_create(name=team_name)
                user = User.objects.filter(email=email).first()
                if user is None:
                    user = User.objects.create_user(
                        email=email, password=password, full_name=full_name
                    )
                else:
                    user.set_password(password)
                    user.save(update_fields=["password"])
                if not Membership.objects.filter(team=team, user=user).exists():
                    membership_add(team=team, email=email, role=role, actor=None)
            self.seed_domain()
            admins = [e for _t, e, role, _n in DEMO_USERS if role == Role.ADMIN]
            devices = {e: mfa_demo_device(user=User.objects.get(email=e)) for e in admins}
        self.stdout.write(f"Demo logins, password for all: {password} ({source})")
        for team_name, email, role, _ in DEMO_USERS:
            self.stdout.write(f"  {email:<22} {Role(role).label:<12} {team_name}")
        for email, device in devices.items():
            # Admins always sign in with a second factor, the demo admin too.
            self.stdout.write(
                f"{email} also asks for a code: add this secret to an authenticator app "
                f"(time-based, 6 digits), or run `oathtool --totp -b SECRET`:\n"
                f"  secret {totp_secret(device)}\n  {device.config_url}"
            )

    def seed_domain(self) -> None:
        """Extended by the domain apps (AI systems, assessments, evidence)."""
        from django.apps import apps

        for config in apps.get_app_configs():
            seeder = getattr(config, "seed_demo", None)
            if seeder is not None:
                seeder(self.stdout)
