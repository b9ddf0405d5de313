"""DRF serializers for frameworks, AI systems, assessments and responses.

Serializers only shape and type-check data; every write goes through `services`, every
permission check through `aigsec.core.access` (see `api.py`).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.plumbing import ResolvedComponent, build_choice_field
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from . import scoring
from .models import (
    SIGNOFF_STATEMENT_MAX,
    AISystem,
    Assessment,
    AssessmentStatus,
    Control,
    Framework,
    FrameworkVersion,
    Guideline,
    Pillar,
    Response,
    ResponseStatus,
    SignOff,
    SystemStatus,
)
from .services import AI_SYSTEM_FIELDS

# --- Named enums ----------------------------------------------------------------------------


class NamedChoiceField(serializers.ChoiceField):
    """A ChoiceField whose OpenAPI enum is one named component (e.g. `AssessmentStatusEnum`).

    Several models have a `status` with a different choice set; without a fixed name
    drf-spectacular would have to guess one (and warn) for each of them.
    """

    def __init__(self, choices: Any, *, enum_name: str, **kwargs: Any):
        self.enum_name = enum_name
        super().__init__(choices, **kwargs)


class NamedChoiceFieldExtension(OpenApiSerializerFieldExtension):
    target_class = NamedChoiceField
    match_subclasses = True

    def map_serializer_field(self, auto_schema, direction):
        field = self.target
        schema = build_choice_field(field)
        schema.pop("x-spec-enum-id", None)
        component = ResolvedComponent(
            name=field.enum_name,
            type=ResolvedComponent.SCHEMA,
            object=field.enum_name,
            schema=schema,
        )
        auto_schema.registry.register_on_missing(component)
        return component.ref


def system_status_field(**kwargs: Any) -> NamedChoiceField:
    return NamedChoiceField(SystemStatus.choices, enum_name="SystemStatusEnum", **kwargs)


def assessment_status_field(**kwargs: Any) -> NamedChoiceField:
    return NamedChoiceField(AssessmentStatus.choices, enum_name="AssessmentStatusEnum", **kwargs)


def response_status_field(**kwargs: Any) -> NamedChoiceField:
    return NamedChoiceField(ResponseStatus.choices, enum_name="ResponseStatusEnum", **kwargs)


# --- Errors (documentation of 409 bodies) ---------------------------------------------------


class AssessmentLockedSerializer(serializers.Serializer):
    detail = serializers.CharField(help_text="Why: the assessment is final and locked.")


# --- Frameworks -----------------------------------------------------------------------------


class FrameworkControlSerializer(serializers.ModelSerializer):
    typical_evidence = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = Control
        fields = [
            "ref",
            "title",
            "question",
            "guidance_good",
            "guidance_partial",
            "typical_evidence",
            "responsibility",
            "weight",
        ]
        read_only_fields = fields


class FrameworkGuidelineSerializer(serializers.ModelSerializer):
    controls = FrameworkControlSerializer(many=True, read_only=True)

    class Meta:
        model = Guideline
        fields = ["ref", "title", "summary", "controls"]
        read_only_fields = fields


class FrameworkPillarSerializer(serializers.ModelSerializer):
    guidelines = FrameworkGuidelineSerializer(many=True, read_only=True)

    class Meta:
        model = Pillar
        fields = ["ref", "title", "description", "guidelines"]
        read_only_fields = fields


class FrameworkVersionSerializer(serializers.ModelSerializer):
    class Meta:
        model = FrameworkVersion
        fields = ["id", "number", "sha256", "published", "loaded_at"]
        read_only_fields = fields


class FrameworkVersionContentSerializer(serializers.ModelSerializer):
    """A version with its pillars → guidelines → controls (prefetched by the view)."""

    pillars = FrameworkPillarSerializer(many=True, read_only=True)

    class Meta:
        model = FrameworkVersion
        fields = ["id", "number", "sha256", "published", "description", "loaded_at", "pillars"]
        read_only_fields = fields


class FrameworkSerializer(serializers.ModelSerializer):
    owner_team = serializers.IntegerField(
        source="owner_team_id",
        read_only=True,
        allow_null=True,
        help_text="Null for a bundled framework; else the team that uploaded it.",
    )
    versions = FrameworkVersionSerializer(many=True, read_only=True)
    # Not a URLField: blank when not given, and "" is no `format: uri` (found by the fuzzer).
    source_url = serializers.CharField(
        read_only=True, help_text="Where the framework is published (a URL), or empty."
    )

    class Meta:
        model = Framework
        fields = ["id", "slug", "title", "publisher", "source_url", "owner_team", "versions"]
        read_only_fields = fields


class FrameworkDetailSerializer(FrameworkSerializer):
    latest_version = FrameworkVersionContentSerializer(read_only=True, allow_null=True)

    class Meta(FrameworkSerializer.Meta):
        fields = [*FrameworkSerializer.Meta.fields, "latest_version"]
        read_only_fields = fields


# --- AI systems -----------------------------------------------------------------------------


class AISystemSerializer(serializers.ModelSerializer):
    team = serializers.IntegerField(
        source="team_id",
        required=False,
        help_text="The owning team. Only on create, and only needed for members of several "
        "teams; it cannot change later.",
    )
    status = system_status_field(required=False)

    class Meta:
        model = AISystem
        fields = ["id", "team", *AI_SYSTEM_FIELDS, "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]
        # Uniqueness of the name per team is checked in validate() with a per-field message.
        validators: list[Any] = []

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        team_id = attrs.pop("team_id", None)
        if self.instance is not None:
            if team_id is not None and team_id != self.instance.team_id:
                raise serializers.ValidationError(
                    {"team": ["The team of an AI system cannot be changed."]}
                )
            team_id = self.instance.team_id
        else:
            team_id = self.context["team_id"]
        name = attrs.get("name")
        if name is not None:
            clash = AISystem.objects.filter(team_id=team_id, name=name)
            if self.instance is not None:
                clash = clash.exclude(pk=self.instance.pk)
            if clash.exists():
                raise serializers.ValidationError({"name": [NAME_TAKEN]})
        return attrs


NAME_TAKEN = "An AI system with this name already exists in this team."


# --- Assessments ----------------------------------------------------------------------------


class PillarScoreSerializer(serializers.Serializer):
    ref = serializers.CharField()
    title = serializers.CharField()
    score = serializers.FloatField(
        allow_null=True, help_text="0 to 100, one decimal; null when nothing is applicable."
    )
    progress = serializers.IntegerField(help_text="Percentage of controls answered.")


class GuidelineScoreSerializer(PillarScoreSerializer):
    pillar_ref = serializers.CharField()


class AssessmentScoresSerializer(serializers.Serializer):
    overall = serializers.FloatField(allow_null=True)
    progress = serializers.IntegerField()
    pillars = PillarScoreSerializer(many=True)
    guidelines = GuidelineScoreSerializer(many=True)


class AssessmentSerializer(serializers.ModelSerializer):
    team = serializers.IntegerField(source="team_id", read_only=True)
    ai_system = serializers.IntegerField(source="ai_system_id", read_only=True)
    framework_version = serializers.IntegerField(source="framework_version_id", read_only=True)
    based_on = serializers.IntegerField(source="based_on_id", read_only=True, allow_null=True)
    status = assessment_status_field(read_only=True)
    locked = serializers.BooleanField(
        source="is_locked", read_only=True, help_text="True once final: answers cannot change."
    )

    class Meta:
        model = Assessment
        fields = [
            "id",
            "team",
            "ai_system",
            "framework_version",
            "title",
            "status",
            "based_on",
            "created_at",
            "finalised_at",
            "locked",
        ]
        read_only_fields = fields


class SignOffSerializer(serializers.ModelSerializer):
    signer = serializers.IntegerField(
        source="signer_id", read_only=True, allow_null=True, help_text="User id (null if deleted)."
    )
    signer_name = serializers.CharField(read_only=True, help_text="Display name when signing.")
    signer_role = NamedChoiceField(
        [("manager", "Manager"), ("admin", "Team admin")],
        enum_name="SignerRoleEnum",
        read_only=True,
        help_text="Role in the team when signing.",
    )

    class Meta:
        model = SignOff
        fields = ["signer", "signer_name", "signer_role", "signed_at", "statement"]
        read_only_fields = fields


class AssessmentDetailSerializer(AssessmentSerializer):
    scores = serializers.SerializerMethodField()
    submitted_by = serializers.SerializerMethodField(
        help_text="Display name of who last submitted it for review (null if never)."
    )
    submitted_at = serializers.DateTimeField(read_only=True, allow_null=True)
    sign_off = serializers.SerializerMethodField(
        help_text="Who signed it off, when and with what statement; null until final."
    )

    class Meta(AssessmentSerializer.Meta):
        fields = [
            *AssessmentSerializer.Meta.fields,
            "submitted_by",
            "submitted_at",
            "sign_off",
            "scores",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_submitted_by(self, obj: Assessment) -> str | None:
        return obj.submitted_by.display_name if obj.submitted_by_id else None

    @extend_schema_field(SignOffSerializer(allow_null=True))
    def get_sign_off(self, obj: Assessment) -> dict[str, Any] | None:
        try:
            sign_off = obj.sign_off  # joined by the API's queryset (else one query)
        except SignOff.DoesNotExist:
            return None
        return SignOffSerializer(sign_off).data

    @extend_schema_field(AssessmentScoresSerializer)
    def get_scores(self, obj: Assessment) -> dict[str, Any]:
        return scoring.assessment_scores(obj).as_api()


class AssessmentCreateSerializer(serializers.Serializer):
    ai_system = serializers.IntegerField()
    framework_version = serializers.IntegerField(
        required=False,
        allow_null=True,
        help_text="Default: the latest version of the bundled NCSC/CISA framework.",
    )
    title = serializers.CharField(required=False, allow_blank=True, max_length=200)
    based_on = serializers.IntegerField(
        required=False,
        allow_null=True,
        help_text="An earlier assessment of the same AI system whose answers are copied.",
    )
    team = serializers.IntegerField(
        required=False, help_text="Optional; must be the team of the AI system."
    )


class AssessmentStatusChangeSerializer(serializers.Serializer):
    status = assessment_status_field(
        help_text="`final` is refused (400): an assessment becomes final only by a sign-off."
    )


class AssessmentSignOffSerializer(serializers.Serializer):
    statement = serializers.CharField(
        max_length=SIGNOFF_STATEMENT_MAX,
        help_text="What you approve, in your words (1 to 2000 characters).",
    )


class SignOffBlockerSerializer(serializers.Serializer):
    control = serializers.CharField(
        allow_null=True, help_text="The control's ref, or null for the assessment as a whole."
    )
    code = serializers.CharField(
        help_text="not_answered, answer_pending, answer_rejected, answer_changes_requested, "
        "evidence_pending, evidence_rejected, evidence_changes_requested, status, final, "
        "submitter, response_owner, no_approver."
    )
    reason = serializers.CharField()
    response = serializers.IntegerField(required=False, help_text="The response (control).")
    evidence = serializers.IntegerField(required=False, help_text="The evidence item.")


class SignOffBlockedSerializer(serializers.Serializer):
    detail = serializers.CharField()
    blocking = SignOffBlockerSerializer(many=True)


# --- Responses ------------------------------------------------------------------------------


class ResponseControlSerializer(serializers.ModelSerializer):
    class Meta:
        model = Control
        fields = ["ref", "title", "question"]
        read_only_fields = fields


class ResponseSerializer(serializers.ModelSerializer):
    control = ResponseControlSerializer(read_only=True)
    status = response_status_field(read_only=True)
    owner = serializers.IntegerField(source="owner_id", read_only=True, allow_null=True)

    class Meta:
        model = Response
        fields = ["id", "control", "status", "justification", "owner", "due_date", "version"]
        read_only_fields = fields


class ResponseUpdateSerializer(serializers.Serializer):
    """PATCH body. `version` is the version that was read: a precondition, never a value."""

    version = serializers.IntegerField(
        min_value=1, help_text="The version you read; a newer one on the server is a 409."
    )
    status = response_status_field(required=False)
    justification = serializers.CharField(required=False, allow_blank=True, trim_whitespace=True)
    owner = serializers.IntegerField(
        required=False, allow_null=True, help_text="User id of a member of the team, or null."
    )
    due_date = serializers.DateField(required=False, allow_null=True)

    # The body is never partial, not even for PATCH: `version` is always required. (DRF and
    # drf-spectacular set `partial` for PATCH; this keeps the schema and validation honest.)
    @property
    def partial(self) -> bool:
        return False

    @partial.setter
    def partial(self, value: bool) -> None:
        pass


class ResponseConflictSerializer(serializers.Serializer):
    detail = serializers.CharField()
    # Absent when the conflict is a final assessment rather than a newer version.
    current = ResponseSerializer(
        required=False, help_text="The response as it is now on the server."
    )
