"""Signed compliance reports: one row per request, immutable once signed."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from aigsec.accounts.models import Team
from assessments.models import Assessment


class ReportStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RENDERING = "rendering", "Rendering"
    SIGNED = "signed", "Signed"
    FAILED = "failed", "Failed"


def report_upload_to(instance: Report, filename: str) -> str:
    # The name is fixed by the report's uuid, so a retried task can never store a second file.
    return f"reports/{instance.team_id}/{instance.uuid}.pdf"


class Report(models.Model):
    TEAM_PATH = "team"

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # Denormalised from the assessment, like Assessment.team: one indexed tenant column.
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="reports")
    assessment = models.ForeignKey(Assessment, on_delete=models.PROTECT, related_name="reports")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(
        max_length=10, choices=ReportStatus.choices, default=ReportStatus.QUEUED
    )
    failure_reason = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    # Set when the signed file is stored; never changed afterwards.
    file = models.FileField(upload_to=report_upload_to, max_length=255, blank=True)
    sha256 = models.CharField(max_length=64, blank=True, db_index=True)
    size = models.BigIntegerField(null=True, blank=True)
    signed_at = models.DateTimeField(null=True, blank=True)
    # What the report says about itself, kept for the list and for verification.
    is_final = models.BooleanField(default=False)
    signer_fingerprint = models.CharField(max_length=64, blank=True)
    audit_head_seq = models.BigIntegerField(null=True, blank=True)
    audit_head_hash = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]
        indexes = [
            models.Index(fields=["team", "-requested_at"], name="report_team_requested"),
            models.Index(fields=["assessment", "-requested_at"], name="report_assessment"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=ReportStatus.values), name="report_status_valid"
            ),
            models.CheckConstraint(
                condition=~Q(status="signed")
                | (~Q(sha256="") & ~Q(file="") & Q(signed_at__isnull=False)),
                name="report_signed_has_file",
            ),
            models.CheckConstraint(
                condition=~Q(status="failed") | ~Q(failure_reason=""),
                name="report_failed_has_reason",
            ),
        ]

    def __str__(self) -> str:
        return f"Report {self.uuid}"

    @property
    def is_pending(self) -> bool:
        return self.status in (ReportStatus.QUEUED, ReportStatus.RENDERING)

    @property
    def filename(self) -> str:
        return f"aigsec-report-{self.assessment_id}-{str(self.uuid)[:8]}.pdf"
