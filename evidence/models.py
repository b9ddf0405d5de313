"""Evidence items (file, link, note), their immutable file revisions and links to responses.

Files are stored under server-generated names; the user's filename is sanitised metadata only.
Freshness (valid / expiring / expired) is computed from `valid_until` in `selectors`.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from aigsec.accounts.models import Team


class EvidenceKind(models.TextChoices):
    FILE = "file", "File"
    LINK = "link", "Link"
    NOTE = "note", "Note"


class EvidenceItem(models.Model):
    TEAM_PATH = "team"

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="evidence_items")
    kind = models.CharField(max_length=10, choices=EvidenceKind.choices)
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    url = models.URLField(max_length=2000, blank=True)
    note = models.TextField(blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_evidence",
    )
    collected_on = models.DateField(default=timezone.localdate)
    valid_until = models.DateField(null=True, blank=True)
    tags = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    withdrawn_reason = models.TextField(blank=True)
    # Denormalised, so that the current decision is a join, not a search (reviews/decisions.py): the
    # newest review (by created_at, id), set by review_create, and the newest revision, set by
    # the services that add one, each in the transaction that writes it. Never set elsewhere.
    latest_review = models.ForeignKey(
        "reviews.Review",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    latest_revision = models.ForeignKey(
        "EvidenceRevision",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["team", "-created_at"], name="evidence_team_created")]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=EvidenceKind.values), name="evidence_kind_valid"
            ),
            models.CheckConstraint(
                condition=~Q(kind="link") | ~Q(url=""), name="evidence_link_has_url"
            ),
            models.CheckConstraint(
                condition=~Q(kind="note") | ~Q(note=""), name="evidence_note_has_text"
            ),
            models.CheckConstraint(
                condition=Q(withdrawn_at__isnull=True) | ~Q(withdrawn_reason=""),
                name="evidence_withdrawn_has_reason",
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_withdrawn(self) -> bool:
        return self.withdrawn_at is not None


class EvidenceRevision(models.Model):
    TEAM_PATH = "item__team"
    # Not a FileField, so backups learn from here that this column names a stored file.
    STORAGE_NAME_FIELDS = ("storage_name",)

    item = models.ForeignKey(EvidenceItem, on_delete=models.CASCADE, related_name="revisions")
    number = models.PositiveIntegerField()
    storage_name = models.CharField(max_length=255, unique=True)
    original_name = models.CharField(max_length=200)
    sha256 = models.CharField(max_length=64)
    size = models.BigIntegerField()
    content_type = models.CharField(max_length=100)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    uploaded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["item_id", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["item", "number"], name="evidence_revision_number"),
            models.CheckConstraint(condition=Q(number__gte=1), name="evidence_revision_positive"),
            models.CheckConstraint(condition=Q(size__gte=0), name="evidence_revision_size"),
        ]

    def __str__(self) -> str:
        return f"{self.item_id} r{self.number}"


class EvidenceLink(models.Model):
    TEAM_PATH = "item__team"

    item = models.ForeignKey(EvidenceItem, on_delete=models.CASCADE, related_name="links")
    response = models.ForeignKey(
        "assessments.Response", on_delete=models.CASCADE, related_name="evidence_links"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["item", "response"], name="evidence_link_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.item_id} -> {self.response_id}"
