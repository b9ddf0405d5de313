"""Demo data, idempotent: running it twice changes nothing the second time."""

import os
import secrets

from django.core.management.base import BaseCommand
from django.db import transaction

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


class Command(BaseCommand):
    help = "Create the demo teams, users and data (idempotent). Password: $DEMO_PASSWORD."

    def handle(self, *args, **opts):
        password = os.environ.get("DEMO_PASSWORD") or ""
        printed = not password
        if not password:
            password = "demo-" + secrets.token_urlsafe(9)
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
        self.stdout.write(
            "Demo logins (password for all: {}{}):".format(
                password, " — generated, set DEMO_PASSWORD to choose one" if printed else ""
            )
        )
        for team_name, email, role, _ in DEMO_USERS:
            self.stdout.write(f"  {email:<22} {Role(role).label:<12} {team_name}")

    def seed_domain(self) -> None:
        """Extended by the domain apps (AI systems, assessments, evidence)."""
        from django.apps import apps

        for config in apps.get_app_configs():
            seeder = getattr(config, "seed_demo", None)
            if seeder is not None:
                seeder(self.stdout)
