"""Factories for people and tenants: users, teams, memberships, API tokens, session records."""

from __future__ import annotations

from importlib import import_module
from typing import Any

import factory
from django.conf import settings

from aigsec.accounts.models import ApiToken, Membership, Role, Team, User, UserSession
from aigsec.accounts.services import api_token_create

PASSWORD = "correct-horse-battery-staple-42"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.test")
    full_name = factory.Faker("name")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team

    name = factory.Sequence(lambda n: f"Team {n}")
    slug = factory.Sequence(lambda n: f"team-{n}")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    team = factory.SubFactory(TeamFactory)
    role = Role.RISK_OWNER


def member_of(team: Team, role: str = Role.RISK_OWNER) -> User:
    """A new user holding `role` in `team`: the actor the write services expect."""
    return MembershipFactory(team=team, role=role).user


class ApiTokenFactory(factory.django.DjangoModelFactory):
    """A token made by `api_token_create` (hash only, audited, always expiring). The secret,
    shown once in the app, is kept on the returned row as `token.secret` for the test."""

    class Meta:
        model = ApiToken

    user = factory.SubFactory(UserFactory)
    name = factory.Sequence(lambda n: f"Script {n}")
    read_only = False

    @classmethod
    def _create(cls, model_class: type[ApiToken], **kwargs: Any) -> ApiToken:
        token, secret = api_token_create(**kwargs)
        token.secret = secret
        return token


def _new_session_key() -> str:
    # A real entry in the configured session store, so that ending the session server-side
    # (sign out elsewhere, password change) has something to delete.
    store = import_module(settings.SESSION_ENGINE).SessionStore()
    store.create()
    return store.session_key


class UserSessionFactory(factory.django.DjangoModelFactory):
    """The record of a signed-in session. In the app the user_logged_in signal writes it
    (`user_session_start` needs a request); tests that need a live browser session log in."""

    class Meta:
        model = UserSession

    user = factory.SubFactory(UserFactory)
    session_key = factory.LazyFunction(_new_session_key)
    ip = "192.0.2.10"
    user_agent = "Mozilla/5.0 (X11; Linux x86_64) factory"
