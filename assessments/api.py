"""REST API (v1) for frameworks, AI systems, assessments and responses.

Every tenant object is fetched through `aigsec.core.access` (404 for another team's object,
403 for a role without the permission); every write goes through `services`. List endpoints
run a fixed number of queries whatever the number of rows.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from django.db import IntegrityError
from django.db.models import Prefetch, Q, QuerySet, prefetch_related_objects
from django.http import Http404, HttpResponse
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.request import Request
from rest_framework.response import Response as APIResponse

from aigsec.accounts.models import Membership
from aigsec.core.access import (
    Perm,
    get_for_user,
    get_membership_for_user,
    scope_for_user,
    teams_with_perm,
)
from aigsec.core.api import Conflict, id_param
from aigsec.core.downloads import attachment, base_url
from aigsec.core.idempotency import idempotent

from . import exports, services
from .models import (
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
    SystemStatus,
)
from .serializers import (
    NAME_TAKEN,
    AISystemSerializer,
    AssessmentCreateSerializer,
    AssessmentDetailSerializer,
    AssessmentLockedSerializer,
    AssessmentSerializer,
    AssessmentStatusChangeSerializer,
    FrameworkDetailSerializer,
    FrameworkSerializer,
    ResponseConflictSerializer,
    ResponseSerializer,
    ResponseUpdateSerializer,
)

DEFAULT_FRAMEWORK_SLUG = "ncsc-cisa-secure-ai-2023"
MAX_ID = 2**63 - 1  # bigint


class BearerTokenScheme(OpenApiAuthenticationExtension):
    """Documents `Authorization: Bearer <token>` (aigsec.accounts.api_auth)."""

    target_class = "aigsec.accounts.api_auth.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return build_bearer_security_scheme_object("HTTP_AUTHORIZATION", "Bearer")


NOT_FOUND = OpenApiResponse(description="Not found, or an object of another team.")
FORBIDDEN = OpenApiResponse(description="Your role does not allow this.")
BAD_REQUEST = OpenApiResponse(description="Invalid input; the body names each field's errors.")
LOCKED = OpenApiResponse(
    AssessmentLockedSerializer, description="The assessment is final (locked)."
)


def _choice_param(request: Request, name: str, choices: list[str]) -> str | None:
    value = request.query_params.get(name)
    if value in (None, ""):
        return None
    if value not in choices:
        raise ValidationError(
            {name: [f"Unknown value “{value}”. Use one of: {', '.join(choices)}."]}
        )
    return value


def _body(request: Request) -> Mapping[str, Any]:
    if not isinstance(request.data, Mapping):
        raise ValidationError({"non_field_errors": ["Expected a JSON object."]})
    return request.data


class TenantViewSetMixin:
    """Scoped querysets; an empty one while drf-spectacular introspects the view."""

    lookup_value_converter = "int"

    def scoped(self, qs: QuerySet) -> QuerySet:
        if getattr(self, "swagger_fake_view", False):
            return qs.none()
        return scope_for_user(self.request.user, qs, Perm.VIEW)

    def fetch(self, perm: Perm) -> Any:
        """The object named in the URL, through the permission door (404 / 403)."""
        qs = self.queryset.all()
        return get_for_user(self.request.user, qs, self.kwargs[self.lookup_field], perm)


# --- Frameworks -----------------------------------------------------------------------------


@extend_schema(tags=["frameworks"])
class FrameworkViewSet(TenantViewSetMixin, viewsets.ReadOnlyModelViewSet):
    """Bundled frameworks and those uploaded by your teams."""

    queryset = Framework.objects.all()
    serializer_class = FrameworkSerializer

    def get_queryset(self) -> QuerySet[Framework]:
        # Frameworks are the one shared model (owner_team null = bundled), so access.py's
        # get_for_user cannot serve them; this scope is their door (404 for another team's).
        if getattr(self, "swagger_fake_view", False):
            return Framework.objects.none()
        teams = teams_with_perm(self.request.user, Perm.VIEW)
        return (
            Framework.objects.filter(Q(owner_team__isnull=True) | Q(owner_team_id__in=teams))
            .prefetch_related(
                Prefetch("versions", FrameworkVersion.objects.order_by("-number", "-id"))
            )
            .order_by("title", "id")
        )

    def get_serializer_class(self):
        return FrameworkDetailSerializer if self.action == "retrieve" else FrameworkSerializer

    @extend_schema(responses={200: FrameworkDetailSerializer, 404: NOT_FOUND})
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> APIResponse:
        # Queries: memberships, framework, versions, pillars, guidelines, controls.
        framework = self.get_object()
        versions = list(framework.versions.all())
        latest = versions[0] if versions else None
        if latest is not None:
            prefetch_related_objects(
                [latest],
                Prefetch(
                    "pillars",
                    Pillar.objects.order_by("order", "id").prefetch_related(
                        Prefetch(
                            "guidelines",
                            Guideline.objects.order_by("order", "id").prefetch_related(
                                Prefetch("controls", Control.objects.order_by("order", "id"))
                            ),
                        )
                    ),
                ),
            )
        framework.latest_version = latest
        return APIResponse(self.get_serializer(framework).data)


# --- AI systems -----------------------------------------------------------------------------


@extend_schema(tags=["ai-systems"])
class AISystemViewSet(TenantViewSetMixin, viewsets.ModelViewSet):
    """AI systems of your teams. DELETE archives; nothing is ever deleted."""

    queryset = AISystem.objects.all()
    serializer_class = AISystemSerializer

    def get_queryset(self) -> QuerySet[AISystem]:
        qs = self.scoped(AISystem.objects.all()).order_by("name", "id")
        if self.action == "list":
            wanted = _choice_param(self.request, "status", SystemStatus.values)
            if wanted:
                qs = qs.filter(status=wanted)
        return qs

    def get_object(self) -> AISystem:
        perm = Perm.VIEW if self.request.method in ("GET", "HEAD", "OPTIONS") else Perm.EDIT
        return self.fetch(perm)

    @extend_schema(
        parameters=[
            OpenApiParameter("status", enum=SystemStatus.values, description="Only this status.")
        ]
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> APIResponse:
        return super().list(request, *args, **kwargs)

    @extend_schema(responses={200: AISystemSerializer, 404: NOT_FOUND})
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> APIResponse:
        return super().retrieve(request, *args, **kwargs)

    @idempotent
    @extend_schema(
        responses={
            201: AISystemSerializer,
            400: BAD_REQUEST,
            403: FORBIDDEN,
            404: OpenApiResponse(description="`team` is not one of your teams."),
        }
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> APIResponse:
        data = _body(request)
        membership = _membership_for_new_object(request, data.get("team"))
        context = {**self.get_serializer_context(), "team_id": membership.team_id}
        serializer = self.get_serializer(data=data, context=context)
        serializer.is_valid(raise_exception=True)
        with _name_clash_as_400():
            system = services.ai_system_create(
                team=membership.team, actor=request.user, **serializer.validated_data
            )
        return APIResponse(self.get_serializer(system).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        responses={200: AISystemSerializer, 400: BAD_REQUEST, 403: FORBIDDEN, 404: NOT_FOUND}
    )
    def update(self, request: Request, *args: Any, **kwargs: Any) -> APIResponse:
        system = self.get_object()
        serializer = self.get_serializer(
            system, data=_body(request), partial=kwargs.get("partial", False)
        )
        serializer.is_valid(raise_exception=True)
        with _name_clash_as_400():
            system = services.ai_system_update(
                system=system, actor=request.user, **serializer.validated_data
            )
        return APIResponse(self.get_serializer(system).data)

    @extend_schema(
        responses={200: AISystemSerializer, 400: BAD_REQUEST, 403: FORBIDDEN, 404: NOT_FOUND}
    )
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> APIResponse:
        return self.update(request, *args, partial=True, **kwargs)

    @extend_schema(
        operation_id="ai_systems_archive",
        description="Archive the AI system (status `archived`). Nothing is ever deleted.",
        responses={
            204: OpenApiResponse(description="Archived."),
            403: FORBIDDEN,
            404: NOT_FOUND,
        },
    )
    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> APIResponse:
        system = self.get_object()
        services.ai_system_update(system=system, actor=request.user, status=SystemStatus.ARCHIVED)
        return APIResponse(status=status.HTTP_204_NO_CONTENT)


def _membership_for_new_object(request: Request, raw_team: Any) -> Membership:
    """The team named in the body (checked for EDIT), or the user's only team."""
    if raw_team in (None, ""):
        team_ids = list(
            Membership.objects.filter(user=request.user).values_list("team_id", flat=True)
        )
        if not team_ids:
            raise ValidationError({"team": ["You are not a member of any team."]})
        if len(team_ids) > 1:
            raise ValidationError({"team": ["You belong to several teams: say which one."]})
        raw_team = team_ids[0]
    else:
        # Range-checked here: an id beyond bigint would fail when access.py audits the refusal.
        field = serializers.IntegerField(min_value=1, max_value=MAX_ID)
        try:
            raw_team = field.run_validation(raw_team)
        except ValidationError as exc:
            raise ValidationError({"team": exc.detail}) from None
    return get_membership_for_user(request.user, raw_team, Perm.EDIT)


@contextmanager
def _name_clash_as_400() -> Iterator[None]:
    """Turn a lost race on the per-team name constraint into the same 400 as the pre-check."""
    try:
        yield
    except IntegrityError as exc:
        if "aisystem_name_per_team" in str(exc):
            raise ValidationError({"name": [NAME_TAKEN]}) from exc
        raise


# --- Assessments ----------------------------------------------------------------------------


class ExportNegotiation(DefaultContentNegotiation):
    """For the export action: `?format=` names the export (csv, xlsx, oscal), not a renderer as
    DRF's URL_FORMAT_OVERRIDE would have it (it answers 404 for a format it cannot render), and
    the file is not a rendered response anyway; errors are JSON whatever the Accept header."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


@extend_schema(tags=["assessments"])
class AssessmentViewSet(
    TenantViewSetMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    """Assessments of AI systems against a framework version."""

    # The detail shows the submitter and the sign-off: joined, not a query each.
    queryset = Assessment.objects.select_related("submitted_by", "sign_off")
    serializer_class = AssessmentSerializer

    def get_queryset(self) -> QuerySet[Assessment]:
        qs = self.scoped(Assessment.objects.all()).order_by("-created_at", "-id")
        if self.action == "list":
            ai_system = id_param(self.request, "ai_system")
            if ai_system is not None:
                qs = qs.filter(ai_system_id=ai_system)
            wanted = _choice_param(self.request, "status", AssessmentStatus.values)
            if wanted:
                qs = qs.filter(status=wanted)
        return qs

    def get_serializer_class(self):
        return AssessmentSerializer if self.action == "list" else AssessmentDetailSerializer

    @extend_schema(
        parameters=[
            OpenApiParameter("ai_system", int, description="Only assessments of this AI system."),
            OpenApiParameter(
                "status", enum=AssessmentStatus.values, description="Only this status."
            ),
        ]
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> APIResponse:
        return super().list(request, *args, **kwargs)

    @extend_schema(responses={200: AssessmentDetailSerializer, 404: NOT_FOUND})
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> APIResponse:
        assessment = self.fetch(Perm.VIEW)
        return APIResponse(AssessmentDetailSerializer(assessment).data)

    @idempotent
    @extend_schema(
        request=AssessmentCreateSerializer,
        responses={
            201: AssessmentDetailSerializer,
            400: BAD_REQUEST,
            403: FORBIDDEN,
            404: NOT_FOUND,
        },
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> APIResponse:
        body = AssessmentCreateSerializer(data=_body(request))
        body.is_valid(raise_exception=True)
        data = body.validated_data
        user = request.user
        ai_system = get_for_user(user, AISystem.objects.all(), data["ai_system"], Perm.EDIT)
        if data.get("team") is not None and data["team"] != ai_system.team_id:
            raise ValidationError({"team": ["An assessment belongs to the team of its AI system."]})
        based_on = None
        if data.get("based_on") is not None:
            based_on = get_for_user(user, Assessment.objects.all(), data["based_on"], Perm.VIEW)
        version = self._framework_version(ai_system, data.get("framework_version"))
        assessment = services.assessment_create(
            ai_system=ai_system,
            framework_version=version,
            actor=user,
            title=data.get("title", ""),
            based_on=based_on,
        )
        return APIResponse(
            AssessmentDetailSerializer(assessment).data, status=status.HTTP_201_CREATED
        )

    @staticmethod
    def _framework_version(ai_system: AISystem, version_id: int | None) -> FrameworkVersion:
        usable = FrameworkVersion.objects.filter(
            Q(framework__owner_team__isnull=True) | Q(framework__owner_team_id=ai_system.team_id)
        )
        if version_id is None:
            version = (
                usable.filter(
                    framework__slug=DEFAULT_FRAMEWORK_SLUG, framework__owner_team__isnull=True
                )
                .order_by("-number")
                .first()
            )
            if version is None:
                raise ValidationError(
                    {
                        "framework_version": [
                            "No framework version given, and the default framework "
                            f"“{DEFAULT_FRAMEWORK_SLUG}” is not loaded."
                        ]
                    }
                )
            return version
        version = usable.filter(pk=version_id).first()
        if version is None:
            # Unknown, or a framework of another team: the same answer for both.
            raise Http404("Not found.")
        return version

    @extend_schema(
        operation_id="assessments_set_status",
        request=AssessmentStatusChangeSerializer,
        responses={
            200: AssessmentDetailSerializer,
            400: BAD_REQUEST,
            403: FORBIDDEN,
            404: NOT_FOUND,
            409: LOCKED,
        },
    )
    @action(detail=True, methods=["post"], url_path="status")
    def set_status(self, request: Request, pk: int | None = None) -> APIResponse:
        """Move the assessment along draft → in_progress → in_review → final (locks it)."""
        assessment = self.fetch(Perm.EDIT)
        body = AssessmentStatusChangeSerializer(data=_body(request))
        body.is_valid(raise_exception=True)
        try:
            assessment = services.assessment_set_status(
                assessment=assessment, status=body.validated_data["status"], actor=request.user
            )
        except services.AssessmentLocked as exc:
            raise Conflict(str(exc)) from exc
        return APIResponse(AssessmentDetailSerializer(assessment).data)

    @extend_schema(
        operation_id="assessments_export",
        parameters=[
            OpenApiParameter(
                "format",
                enum=[*exports.FORMATS],  # not list(): the class body shadows it
                required=True,
                description="csv: one row per control; xlsx: a Responses and an Evidence sheet; "
                "oscal: OSCAL 1.1.2 assessment-results JSON (see docs/exports.md).",
            )
        ],
        responses={
            # JSON first: schemathesis 3 checks a JSON body against the first media type.
            (200, "application/json"): OpenApiTypes.OBJECT,
            (200, "text/csv"): OpenApiTypes.BINARY,
            (200, exports.XLSX_TYPE): OpenApiTypes.BINARY,
            400: BAD_REQUEST,
            404: NOT_FOUND,
        },
    )
    @action(
        detail=True,
        methods=["get"],
        url_path="export",
        content_negotiation_class=ExportNegotiation,
    )
    def export(self, request: Request, pk: int | None = None) -> HttpResponse:
        """Download the assessment (answers, owners, reviews, evidence hashes) as a file."""
        # Queries: assessment with team, AI system and framework (door), memberships (door),
        # the five of exports.export_data, the audit append.
        assessment = get_for_user(request.user, exports.export_queryset(), pk, Perm.VIEW)
        fmt = request.query_params.get("format", "")
        if not fmt:
            raise ValidationError({"format": [f"Required: one of {', '.join(exports.FORMATS)}."]})
        try:
            export = exports.assessment_export(
                assessment=assessment, fmt=fmt, actor=request.user, base_url=base_url(request)
            )
        except exports.UnknownFormat as exc:
            raise ValidationError({"format": [str(exc)]}) from None
        return attachment(
            export.content, filename=export.filename, content_type=export.content_type
        )

    @extend_schema(
        parameters=[
            OpenApiParameter("status", enum=ResponseStatus.values, description="Only this status."),
            OpenApiParameter("owner", int, description="Only responses owned by this user id."),
            OpenApiParameter(
                "guideline", OpenApiTypes.STR, description="Only controls of this guideline ref."
            ),
        ],
        responses={200: ResponseSerializer(many=True), 404: NOT_FOUND},
    )
    @action(detail=True, methods=["get"], url_path="responses")
    def responses(self, request: Request, pk: int | None = None) -> APIResponse:
        """The answers of the assessment, one per control, in questionnaire order."""
        # Queries: assessment (door), memberships (door), count, page of responses + controls.
        assessment = self.fetch(Perm.VIEW)
        qs = (
            Response.objects.filter(assessment=assessment)
            .select_related("control")
            .order_by("control__order", "id")
        )
        wanted = _choice_param(request, "status", ResponseStatus.values)
        if wanted:
            qs = qs.filter(status=wanted)
        owner = id_param(request, "owner")
        if owner is not None:
            qs = qs.filter(owner_id=owner)
        guideline = request.query_params.get("guideline")
        if guideline:
            qs = qs.filter(control__guideline__ref=guideline)
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(ResponseSerializer(page, many=True).data)


# --- Responses ------------------------------------------------------------------------------


@extend_schema(tags=["responses"])
class ResponseViewSet(TenantViewSetMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """One answer. PATCH must name the `version` it read (optimistic concurrency)."""

    queryset = Response.objects.select_related("control")
    serializer_class = ResponseSerializer
    http_method_names = ["get", "patch", "head", "options"]

    def get_queryset(self) -> QuerySet[Response]:
        return self.scoped(Response.objects.select_related("control"))

    @extend_schema(responses={200: ResponseSerializer, 404: NOT_FOUND})
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> APIResponse:
        return APIResponse(ResponseSerializer(self.fetch(Perm.VIEW)).data)

    @extend_schema(
        request=ResponseUpdateSerializer,
        responses={
            200: ResponseSerializer,
            400: BAD_REQUEST,
            403: FORBIDDEN,
            404: NOT_FOUND,
            409: OpenApiResponse(
                ResponseConflictSerializer,
                description="Someone else saved first (`current` is their answer), or the "
                "assessment is final (then only `detail`).",
            ),
        },
    )
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> APIResponse:
        response = self.fetch(Perm.ANSWER)
        body = ResponseUpdateSerializer(data=_body(request))
        body.is_valid(raise_exception=True)
        data = body.validated_data
        extra: dict[str, Any] = {}
        if "owner" in data:
            extra["owner"] = self._team_member(response._team_id, data["owner"])
        if "due_date" in data:
            extra["due_date"] = data["due_date"]
        try:
            saved = services.response_save(
                response=response,
                expected_version=data["version"],
                actor=request.user,
                status=data.get("status", response.status),
                justification=data.get("justification", response.justification),
                **extra,
            )
        except services.ResponseConflict as exc:
            # exc.current was read under the row lock, with its control.
            return APIResponse(
                {"detail": str(exc), "current": ResponseSerializer(exc.current).data},
                status=status.HTTP_409_CONFLICT,
            )
        except services.AssessmentLocked as exc:
            raise Conflict(str(exc)) from exc
        return APIResponse(ResponseSerializer(saved).data)

    @staticmethod
    def _team_member(team_id: int, user_id: int | None):
        if user_id is None:
            return None
        membership = (
            Membership.objects.select_related("user")
            .filter(team_id=team_id, user_id=user_id)
            .first()
        )
        if membership is None:
            raise ValidationError({"owner": ["No member of this team has this user id."]})
        return membership.user
