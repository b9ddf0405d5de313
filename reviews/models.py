"""Reviews and comment threads: an auditor's decisions on answers and evidence, and the
conversation about an answer. Both are immutable history.

The tables keep the names they had when these models lived in the evidence app
(`evidence_review`, `evidence_responsecomment`): the move changed Django's state, not the
database (migrations/0001_initial.py), and backups taken before it still restore
(ops/restore.py, MOVED_MODELS).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from aigsec.accounts.models import Team


class ReviewDecision(models.TextChoices):
    ACCEPTED = "accepted", "Accepted"
    REJECTED = "rejected", "Rejected"
    CHANGES_REQUESTED = "changes_requested", "Changes requested"


class Review(models.Model):
    """An auditor's decision on an evidence item or a response. Immutable history: the current
    decision of a target is its latest review, void once the target changed after it."""

    TEAM_PATH = "team"

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="reviews")
    evidence = models.ForeignKey(
        "evidence.EvidenceItem",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="reviews",
    )
    response = models.ForeignKey(
        "assessments.Response",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="reviews",
    )
    revision = models.ForeignKey(
        "evidence.EvidenceRevision",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="reviews",
    )
    decision = models.CharField(max_length=20, choices=ReviewDecision.choices)
    comment = models.TextField(blank=True)
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="reviews"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "evidence_review"
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["response", "-created_at"], name="review_response_created"),
            models.Index(fields=["evidence", "-created_at"], name="review_evidence_created"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=(Q(evidence__isnull=False) & Q(response__isnull=True))
                | (Q(evidence__isnull=True) & Q(response__isnull=False)),
                name="review_exactly_one_target",
            ),
            models.CheckConstraint(
                condition=Q(decision__in=ReviewDecision.values), name="review_decision_valid"
            ),
            models.CheckConstraint(
                condition=Q(decision="accepted") | ~Q(comment=""),
                name="review_comment_required",
            ),
        ]

    def __str__(self) -> str:
        target = (
            f"evidence {self.evidence_id}" if self.evidence_id else f"response {self.response_id}"
        )
        return f"{self.decision} on {target}"


class ResponseComment(models.Model):
    """One message of the thread of a response (risk owner and auditor talk). Immutable."""

    TEAM_PATH = "response__assessment__team"

    response = models.ForeignKey(
        "assessments.Response", on_delete=models.CASCADE, related_name="comments"
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    body = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "evidence_responsecomment"
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["response", "created_at"], name="comment_response_created")]
        constraints = [
            models.CheckConstraint(condition=~Q(body=""), name="comment_body_not_empty"),
        ]

    def __str__(self) -> str:
        return f"comment {self.pk} on response {self.response_id}"
