"""The tamper-evident audit trail: a hash chain of events, a locked head row, signed checkpoints."""

from django.db import models
from django.utils import timezone

GENESIS_HASH = "0" * 64


class AuditEvent(models.Model):
    seq = models.BigIntegerField(unique=True)
    at = models.DateTimeField()
    actor = models.BigIntegerField(null=True, blank=True)
    action = models.CharField(max_length=80)
    team = models.BigIntegerField(null=True, blank=True)
    # null, not "", is the documented value for "no target" in the hashed JSON.
    target = models.CharField(max_length=120, null=True, blank=True)  # noqa: DJ001
    data = models.JSONField(default=dict)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    class Meta:
        db_table = "audit_event"
        ordering = ["seq"]
        indexes = [
            models.Index(fields=["team", "-seq"], name="audit_team_seq"),
            # The filter's list of a team's actions walks this index (a loose index scan).
            models.Index(fields=["team", "action"], name="audit_team_action"),
            models.Index(fields=["target"], name="audit_target"),
            models.Index(fields=["actor"], name="audit_actor"),
        ]
        constraints = [
            models.CheckConstraint(condition=models.Q(seq__gte=1), name="audit_seq_gte_1")
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action}"


class AuditChainHead(models.Model):
    """A single row (pk=1) locked by every append, so that appends are serialised."""

    seq = models.BigIntegerField(default=0)
    hash = models.CharField(max_length=64, default=GENESIS_HASH)

    class Meta:
        db_table = "audit_chain_head"

    def __str__(self) -> str:
        return f"head {self.seq}"


class AuditCheckpoint(models.Model):
    """An HMAC-signed (seq, hash) pair. Kept apart from audit_event so a cut tail is noticed."""

    seq = models.BigIntegerField()
    hash = models.CharField(max_length=64)
    at = models.DateTimeField(default=timezone.now)
    mac = models.CharField(max_length=64)

    class Meta:
        db_table = "audit_checkpoint"
        ordering = ["-seq", "-id"]

    def __str__(self) -> str:
        return f"checkpoint {self.seq}"
