"""Personas: a risk owner, auditor, manager and admin of one team, and a stranger of another."""

from dataclasses import dataclass

import pytest
from django.test import Client

from aigsec.accounts.models import Role, Team, User
from aigsec.audit.note import Signer

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
            login_with_second_factor(c, user)
        return c


def login_with_second_factor(client: Client, user: User) -> Client:
    """force_login, plus what the second sign-in step does for a user who has or needs a
    second factor (admins): a confirmed TOTP device, marked as verified in the session (the
    test-client equivalent of django_otp.login). Production rules are unchanged."""
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from aigsec.accounts.mfa import mfa_device, mfa_required_for

    client.force_login(user)
    device = mfa_device(user)
    if device is None and mfa_required_for(user):
        device = TOTPDevice.objects.create(user=user, name="test", confirmed=True)
    if device is not None:
        session = client.session
        session[DEVICE_ID_SESSION_KEY] = device.persistent_id
        session.save()
    return client


@pytest.fixture(scope="session")
def _signing_dir(tmp_path_factory):
    # One self-managed signing CA per test run: generated once, like an instance's first run.
    return tmp_path_factory.mktemp("signing")


# A fixed Ed25519 key for the audit log's checkpoints (the one given to subprocesses too).
TEST_AUDIT_SKEY = Signer("test.aigsec/audit", bytes(range(32))).skey


@pytest.fixture(autouse=True)
def _isolated(settings, tmp_path, _signing_dir):
    from assessments.scoring import framework_structure

    framework_structure.cache_clear()  # each test starts cold, whatever ran before it
    settings.REPORT_SIGNING_DIR = _signing_dir
    settings.AIGSEC_DATA_DIR = tmp_path / "data"
    settings.MEDIA_ROOT = tmp_path / "data" / "media"
    # One audit log key for the test process and the commands it starts; the witness is per
    # test under the data dir; checkpoints are taken when a test asks (none after its writes).
    settings.AUDIT_CHECKPOINT_DEBOUNCE = 0
    settings.AUDIT_LOG_SIGNING_KEY = TEST_AUDIT_SKEY
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
