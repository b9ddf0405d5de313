"""Frameworks (versioned, immutable once loaded), AI systems, assessments and responses."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Length
from django.db.models.lookups import LessThanOrEqual
from django.utils import timezone

from aigsec.accounts.models import Team

# --- Framework content ------------------------------------------------------------------


class Framework(models.Model):
    slug = models.SlugField(max_length=100)
    title = models.CharField(max_length=200)
    publisher = models.CharField(max_length=200, blank=True)
    source_url = models.URLField(blank=True)
    # Bundled frameworks belong to no team and are visible to all; uploaded ones to one team.
    owner_team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.CASCADE, related_name="frameworks"
    )

    class Meta:
        ordering = ["title"]
        constraints = [
            models.UniqueConstraint(
                fields=["slug"], condition=Q(owner_team__isnull=True), name="framework_slug_bundled"
            ),
            models.UniqueConstraint(fields=["slug", "owner_team"], name="framework_slug_per_team"),
        ]

    def __str__(self) -> str:
        return self.title


class FrameworkVersion(models.Model):
    framework = models.ForeignKey(Framework, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    description = models.TextField(blank=True)
    published = models.CharField(max_length=40, blank=True)
    loaded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["framework_id", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["framework", "number"], name="fwversion_number"),
            models.UniqueConstraint(fields=["framework", "sha256"], name="fwversion_sha256"),
        ]

    def __str__(self) -> str:
        return f"{self.framework.title} v{self.number}"


class Pillar(models.Model):
    version = models.ForeignKey(FrameworkVersion, on_delete=models.CASCADE, related_name="pillars")
    ref = models.CharField(max_length=20)
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    order = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["order"]
        constraints = [models.UniqueConstraint(fields=["version", "ref"], name="pillar_ref")]

    def __str__(self) -> str:
        return f"{self.ref} {self.title}"


class Guideline(models.Model):
    version = models.ForeignKey(
        FrameworkVersion, on_delete=models.CASCADE, related_name="guidelines"
    )
    pillar = models.ForeignKey(Pillar, on_delete=models.CASCADE, related_name="guidelines")
    ref = models.CharField(max_length=20)
    title = models.CharField(max_length=200)
    summary = models.TextField(blank=True)
    order = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["order"]
        constraints = [models.UniqueConstraint(fields=["version", "ref"], name="guideline_ref")]

    def __str__(self) -> str:
        return f"{self.ref} {self.title}"


class Responsibility(models.TextChoices):
    PROVIDER = "provider", "Provider"
    USER = "user", "User"
    SHARED = "shared", "Shared"


class Control(models.Model):
    version = models.ForeignKey(FrameworkVersion, on_delete=models.CASCADE, related_name="controls")
    guideline = models.ForeignKey(Guideline, on_delete=models.CASCADE, related_name="controls")
    ref = models.CharField(max_length=20)
    title = models.CharField(max_length=200)
    question = models.TextField()
    guidance_good = models.TextField(blank=True)
    guidance_partial = models.TextField(blank=True)
    typical_evidence = models.JSONField(default=list)
    responsibility = models.CharField(max_length=10, choices=Responsibility.choices)
    weight = models.PositiveSmallIntegerField(default=1)
    order = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["order"]
        constraints = [
            models.UniqueConstraint(fields=["version", "ref"], name="control_ref"),
            models.CheckConstraint(
                condition=Q(responsibility__in=Responsibility.values),
                name="control_responsibility_valid",
            ),
            models.CheckConstraint(
                condition=Q(weight__gte=1) & Q(weight__lte=5), name="control_weight_1_to_5"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.ref} {self.title}"


# --- AI systems -------------------------------------------------------------------------


class Criticality(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"
    CRITICAL = "critical", "Critical"


class ModelSource(models.TextChoices):
    IN_HOUSE = "in_house", "Trained in-house"
    FINE_TUNED = "fine_tuned", "Fine-tuned"
    HOSTED = "hosted_third_party", "Hosted third-party model"
    EXTERNAL_API = "external_api", "External API"


class SystemStatus(models.TextChoices):
    DESIGN = "design", "In design"
    DEVELOPMENT = "development", "In development"
    PRODUCTION = "production", "In production"
    ARCHIVED = "archived", "Archived"


class AISystem(models.Model):
    TEAM_PATH = "team"

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="ai_systems")
    name = models.CharField(max_length=150)
    description = models.TextField(blank=True)
    business_owner = models.CharField(max_length=150, blank=True)
    criticality = models.CharField(
        max_length=10, choices=Criticality.choices, default=Criticality.MEDIUM
    )
    model_source = models.CharField(max_length=20, choices=ModelSource.choices)
    deployment = models.CharField(
        max_length=200, blank=True, help_text="Where it runs, e.g. 'AWS eu-west-2, Kubernetes'."
    )
    status = models.CharField(
        max_length=12, choices=SystemStatus.choices, default=SystemStatus.DEVELOPMENT
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["team", "name"], name="aisystem_name_per_team"),
            models.CheckConstraint(
                condition=Q(criticality__in=Criticality.values), name="aisystem_criticality"
            ),
            models.CheckConstraint(
                condition=Q(model_source__in=ModelSource.values), name="aisystem_model_source"
            ),
            models.CheckConstraint(
                condition=Q(status__in=SystemStatus.values), name="aisystem_status"
            ),
        ]

    def __str__(self) -> str:
        return self.name


# --- Assessments and responses ----------------------------------------------------------


class AssessmentStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    IN_PROGRESS = "in_progress", "In progress"
    IN_REVIEW = "in_review", "In review"
    FINAL = "final", "Final"


class Assessment(models.Model):
    TEAM_PATH = "team"

    # Denormalised from ai_system so every tenant query filters on one indexed column.
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="assessments")
    ai_system = models.ForeignKey(AISystem, on_delete=models.PROTECT, related_name="assessments")
    framework_version = models.ForeignKey(
        FrameworkVersion, on_delete=models.PROTECT, related_name="assessments"
    )
    title = models.CharField(max_length=200)
    status = models.CharField(
        max_length=12, choices=AssessmentStatus.choices, default=AssessmentStatus.DRAFT
    )
    based_on = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    finalised_at = models.DateTimeField(null=True, blank=True)
    # Who last moved the assessment to "in review", and when: that person may not sign it off
    # (four eyes, assessments/signoff.py). Set by assessment_set_status only.
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    submitted_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["team", "ai_system", "-created_at"], name="assess_team_sys")
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=AssessmentStatus.values), name="assessment_status"
            ),
            models.CheckConstraint(
                condition=~Q(status="final") | Q(finalised_at__isnull=False),
                name="assessment_final_has_date",
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_locked(self) -> bool:
        return self.status == AssessmentStatus.FINAL


SIGNOFF_STATEMENT_MAX = 2000


class SignOff(models.Model):
    """The approval that made an assessment final: who (and their name and role at that
    moment, kept even if the account is renamed, demoted or removed), when, and what they
    declared. One per assessment, enforced by the database; written by assessment_sign_off
    only (assessments/signoff.py)."""

    TEAM_PATH = "assessment__team"

    assessment = models.OneToOneField(
        Assessment, on_delete=models.CASCADE, related_name="sign_off", editable=False
    )
    signer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    signer_name = models.CharField(max_length=150)
    signer_email = models.EmailField()
    signer_role = models.CharField(
        max_length=20, choices=[("manager", "Manager"), ("admin", "Team admin")]
    )
    statement = models.TextField()
    signed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=LessThanOrEqual(Length("statement"), SIGNOFF_STATEMENT_MAX)
                & ~Q(statement=""),
                name="signoff_statement_1_to_2000",
            ),
            models.CheckConstraint(condition=~Q(signer_name=""), name="signoff_signer_name"),
            # The roles that hold `approve` (aigsec/core/access.py).
            models.CheckConstraint(
                condition=Q(signer_role__in=["manager", "admin"]), name="signoff_signer_role"
            ),
        ]

    def __str__(self) -> str:
        return f"Sign-off of assessment {self.assessment_id} by {self.signer_name}"


class ResponseStatus(models.TextChoices):
    NOT_STARTED = "not_started", "Not started"
    NOT_IMPLEMENTED = "not_implemented", "Not implemented"
    PARTIAL = "partial", "Partially implemented"
    LARGELY = "largely", "Largely implemented"
    FULL = "full", "Fully implemented"
    NOT_APPLICABLE = "not_applicable", "Not applicable"


JUSTIFICATION_REQUIRED = (ResponseStatus.NOT_APPLICABLE, ResponseStatus.PARTIAL)


class Response(models.Model):
    TEAM_PATH = "assessment__team"

    assessment = models.ForeignKey(Assessment, on_delete=models.CASCADE, related_name="responses")
    control = models.ForeignKey(Control, on_delete=models.PROTECT, related_name="responses")
    status = models.CharField(
        max_length=20, choices=ResponseStatus.choices, default=ResponseStatus.NOT_STARTED
    )
    justification = models.TextField(blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_responses",
    )
    due_date = models.DateField(null=True, blank=True)
    # Optimistic concurrency: a write must name the version it read; each write adds one.
    version = models.PositiveIntegerField(default=1)
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The newest review of this response (by created_at, id), kept by review_create in the
    # transaction that records it, so the current decision is one join away
    # (reviews/decisions.py). Denormalised: never set it anywhere else.
    latest_review = models.ForeignKey(
        "reviews.Review",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )

    class Meta:
        ordering = ["control__order"]
        indexes = [models.Index(fields=["owner", "due_date"], name="response_owner_due")]
        constraints = [
            models.UniqueConstraint(fields=["assessment", "control"], name="response_per_control"),
            models.CheckConstraint(
                condition=Q(status__in=ResponseStatus.values), name="response_status_valid"
            ),
            models.CheckConstraint(
                condition=~Q(status__in=["not_applicable", "partial"]) | ~Q(justification=""),
                name="response_justification_required",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.assessment_id}/{self.control_id}: {self.status}"

    def get_absolute_url(self) -> str:
        """This control, opened, on its pillar page (load `control__guideline__pillar`)."""
        return questionnaire_url(self.assessment_id, self.control.guideline.pillar.ref, self.pk)


def questionnaire_url(assessment_id: int, pillar_ref: str, open_response: int | None = None) -> str:
    """A pillar page of the questionnaire; with `open_response`, that control is rendered
    open (the others are summaries, opened on demand) and scrolled to."""
    from django.urls import reverse

    url = reverse("questionnaire", args=[assessment_id, pillar_ref])
    if open_response is None:
        return url
    return f"{url}?open={open_response}#r{open_response}"
