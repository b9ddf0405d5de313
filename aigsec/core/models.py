"""Tables of the shared helpers (aigsec.core)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class IdempotencyKey(models.Model):
    """The first answer to an API create sent with an `Idempotency-Key` header, kept 24 h so
    that a retry with the same key gets it again instead of creating a second object
    (aigsec/core/idempotency.py). Bookkeeping, like a rate-limit counter: no audit event."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    # SHA-256 of the method, path and body: the same key with another request is refused.
    fingerprint = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField(default=0)
    body = models.JSONField(null=True, blank=True)
    location = models.CharField(max_length=2000, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [
            # Also the lock: a second request with the key waits on this index until the
            # first one's transaction ends (PostgreSQL), then reads its answer.
            models.UniqueConstraint(fields=["user", "key"], name="idempotency_key_per_user"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id}:{self.key}"
