"""The shared helpers' tables (aigsec.core)."""

from __future__ import annotations

import hashlib

import factory

from aigsec.core.models import IdempotencyKey

from .accounts import UserFactory


class IdempotencyKeyFactory(factory.django.DjangoModelFactory):
    """A key whose first answer (a 201) is stored, as `aigsec.core.idempotency` keeps it."""

    class Meta:
        model = IdempotencyKey

    user = factory.SubFactory(UserFactory)
    key = factory.Sequence(lambda n: f"retry-key-{n}")
    fingerprint = factory.LazyAttribute(lambda o: hashlib.sha256(o.key.encode()).hexdigest())
    status_code = 201
    body = factory.LazyAttribute(lambda o: {"id": 1, "key": o.key})
