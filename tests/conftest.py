"""Personas: a risk owner, auditor, manager and admin of one team, and a stranger of another."""

from dataclasses import dataclass

import pytest
from django.test import Client

from aigsec.accounts.models import Role, Team, User

from .factories import MembershipFactory, TeamFactory, UserFactory


@dataclass
class Personas:
    team: Team
    other_team: Team
    risk_owner: User
    auditor: User
    manager: User
    admin: User
    stranger: User

    def client(self, user: User | None) -> Client:
        c = Client()
        if user is not None:
            c.force_login(user)
        return c


@pytest.fixture(autouse=True)
def _isolated(settings, tmp_path):
    settings.AIGSEC_DATA_DIR = tmp_path / "data"
    settings.MEDIA_ROOT = tmp_path / "data" / "media"
    settings.AUDIT_CHECKPOINT_KEY = "test-checkpoint-key"
    settings.PASSWORD_HASHERS = ["tests.hashers.FastArgon2PasswordHasher"]


@pytest.fixture(autouse=True)
def _clear_cache():
    from django.core.cache import cache

    cache.clear()
    yield


@pytest.fixture
def personas(db) -> Personas:
    team = TeamFactory(name="Acme AI")
    other = TeamFactory(name="Other Co")

    def member(role: str, t: Team, email: str) -> User:
        return MembershipFactory(team=t, role=role, user=UserFactory(email=email)).user

    return Personas(
        team=team,
        other_team=other,
        risk_owner=member(Role.RISK_OWNER, team, "risk@acme.test"),
        auditor=member(Role.AUDITOR, team, "auditor@acme.test"),
        manager=member(Role.MANAGER, team, "manager@acme.test"),
        admin=member(Role.ADMIN, team, "admin@acme.test"),
        stranger=member(Role.ADMIN, other, "stranger@other.test"),
    )
