"""Factories for the audit trail. Events are appended only by `audit_record` (a row written
directly would break the hash chain) and checkpoints only by `audit_checkpoint_take`.

`AuditChainHead` has no factory: it is a singleton (pk=1) created by the audit app's
post_migrate handler and moved only by `audit_record` under its row lock. A second head, or a
head written by hand, would not describe the chain; make an event to move it."""

from __future__ import annotations

from typing import Any

import factory
from django.db import models

from aigsec.audit.checkpoints import audit_checkpoint_take
from aigsec.audit.models import (
    AuditChainHead,
    AuditCheckpoint,
    AuditEvent,
    AuditTreeNode,
    AuditTreeState,
)
from aigsec.audit.services import audit_record

# Models that deliberately have no factory, with the reason (tests/core/test_factories.py reads it).
NO_FACTORY: dict[type[models.Model], str] = {
    AuditChainHead: "a singleton row (pk=1) made at migrate time and moved by audit_record",
    AuditTreeNode: "a stored Merkle subtree hash, derived from the events by aigsec/audit/tree.py",
    AuditTreeState: "the Merkle tree's progress row, kept by aigsec/audit/tree.py under a lock",
}


class AuditEventFactory(factory.django.DjangoModelFactory):
    """One event appended by `audit_record`. `actor` and `team` may be rows or ids."""

    class Meta:
        model = AuditEvent

    action = "test.event"
    actor = None
    team = None
    target = None
    # Not empty: the JSON column is not blank=True, so an empty dict fails full_clean().
    data = factory.Sequence(lambda n: {"n": n})

    @classmethod
    def _create(cls, model_class: type[AuditEvent], *, action: str, **kwargs: Any) -> AuditEvent:
        return audit_record(action, **kwargs)


class AuditCheckpointFactory(factory.django.DjangoModelFactory):
    """A signed checkpoint of the current head, taken by `audit_checkpoint_take` (the daily
    task's service), after one more event, so that each is a new tree size."""

    class Meta:
        model = AuditCheckpoint

    @classmethod
    def _create(cls, model_class: type[AuditCheckpoint], **kwargs: Any) -> AuditCheckpoint:
        if kwargs:
            raise TypeError(f"A checkpoint signs the current head; got {sorted(kwargs)}.")
        # A checkpoint signs a tree size not signed yet: one more event makes one.
        AuditEventFactory()
        checkpoint = audit_checkpoint_take()
        assert checkpoint is not None
        return checkpoint
