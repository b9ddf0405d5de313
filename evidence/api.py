"""REST API (v1) for evidence: upload (multipart), list, detail, revisions, download, links.

Uploads go through `HashingUploadHandler`, installed before DRF parses the body. Every object
is fetched through `aigsec.core.access` (404 for another team's, 403 for a role without the
permission); every write goes through `services`.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, QuerySet
from django.http import Http404, HttpRequest, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response as APIResponse
from rest_framework.throttling import BaseThrottle

from aigsec.accounts.models import Membership
from aigsec.core.access import Perm, get_for_user, get_membership_for_user, scope_for_user
from aigsec.core.api import Conflict, id_param
from aigsec.core.idempotency import idempotent
from aigsec.core.integrity import IntegrityFailure
from aigsec.core.ratelimit import UploadRateThrottle
from assessments.errors import AssessmentLocked
from assessments.models import Response

from . import services
from .downloads import revision_download
from .duplicates import duplicate_message, duplicate_of
from .models import EvidenceItem, EvidenceLink, EvidenceRevision
from .selectors import Freshness, annotate_freshness, filter_freshness
from .serializers import (
    EvidenceCreateSerializer,
    EvidenceSerializer,
    LinkSerializer,
    RevisionCreateSerializer,
)
from .upload import (
    TEXT_TYPES,
    TYPES,
    HashingUploadHandler,
    install_upload_handler,
    too_large_message,
)

NOT_FOUND = OpenApiResponse(description="Not found, or an object of another team.")
FORBIDDEN = OpenApiResponse(description="Your role does not allow this.")
BAD_REQUEST = OpenApiResponse(description="Invalid input or refused file; the body says why.")
DUPLICATE = inline_serializer(
    "EvidenceConflict",
    {
        "detail": serializers.CharField(),
        "duplicate_of": serializers.IntegerField(
            required=False, help_text="The team's evidence item that already holds this file."
        ),
    },
)
# A download carries the type sniffed at upload: one of the accepted types.
DOWNLOAD_TYPES = sorted({t[0] for t in TYPES.values()} | set(TEXT_TYPES.values()))


def _attach_latest(items: list[EvidenceItem]) -> list[EvidenceItem]:
    """One query for the latest revision of every item on the page."""
    latest: dict[int, EvidenceRevision] = {}
    ids = [i.pk for i in items]
    if ids:
        for rev in EvidenceRevision.objects.filter(item_id__in=ids).order_by("item_id", "-number"):
            latest.setdefault(rev.item_id, rev)
    for i in items:
        i.latest_revision = latest.get(i.pk)
    return annotate_freshness(items)


@extend_schema(tags=["evidence"])
class EvidenceViewSet(viewsets.GenericViewSet):
    queryset = EvidenceItem.objects.all()
    serializer_class = EvidenceSerializer
    lookup_value_converter = "int"
    parser_classes = [MultiPartParser, FormParser, JSONParser]
    upload_handler: HashingUploadHandler | None = None

    def get_throttles(self) -> list[BaseThrottle]:
        # Uploads have an hourly budget of their own, on top of the API's per-minute one.
        extra = [UploadRateThrottle()] if self.action in ("create", "revisions") else []
        return [*super().get_throttles(), *extra]

    def initialize_request(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Request:
        # Before anything (CSRF check included) reads the body.
        if request.method == "POST":
            self.upload_handler = install_upload_handler(request)
        return super().initialize_request(request, *args, **kwargs)

    def _data(self) -> Any:
        """The parsed body; a 400 if the upload handler stopped an oversized file."""
        data = self.request.data  # parses the body through the upload handler
        if self.upload_handler is not None and self.upload_handler.too_large:
            raise ValidationError({"file": [too_large_message()]})
        return data

    def get_queryset(self) -> QuerySet[EvidenceItem]:
        if getattr(self, "swagger_fake_view", False):
            return EvidenceItem.objects.none()
        return (
            scope_for_user(self.request.user, EvidenceItem.objects.all(), Perm.VIEW)
            .prefetch_related(Prefetch("links", EvidenceLink.objects.order_by("id")))
            .order_by("-created_at", "-id")
        )

    def _fetch(self, perm: Perm) -> EvidenceItem:
        return get_for_user(self.request.user, EvidenceItem.objects.all(), self.kwargs["pk"], perm)

    def _out(self, item: EvidenceItem, code: int = status.HTTP_200_OK) -> APIResponse:
        item = self.get_queryset().get(pk=item.pk)
        return APIResponse(EvidenceSerializer(_attach_latest([item])[0]).data, status=code)

    @extend_schema(
        parameters=[
            OpenApiParameter("freshness", enum=list(Freshness.LABELS)),
            OpenApiParameter("assessment", int, description="Linked to this assessment."),
            OpenApiParameter("response", int, description="Linked to this response."),
        ],
        responses={200: EvidenceSerializer(many=True)},
    )
    def list(self, request: Request) -> APIResponse:
        # Queries: memberships, count, page of items, their links, their latest revisions.
        qs = self.get_queryset()
        if (a := id_param(request, "assessment")) is not None:
            qs = qs.filter(links__response__assessment_id=a).distinct()
        if (r := id_param(request, "response")) is not None:
            qs = qs.filter(links__response_id=r).distinct()
        fresh = request.query_params.get("freshness")
        if fresh:
            if fresh not in Freshness.LABELS:
                raise ValidationError(
                    {"freshness": [f"Use one of: {', '.join(Freshness.LABELS)}."]}
                )
            qs = filter_freshness(qs, fresh)
        page = self.paginate_queryset(qs)
        items = _attach_latest(list(page))
        return self.get_paginated_response(EvidenceSerializer(items, many=True).data)

    @extend_schema(responses={200: EvidenceSerializer, 404: NOT_FOUND})
    def retrieve(self, request: Request, pk: int | None = None) -> APIResponse:
        return self._out(self._fetch(Perm.VIEW))

    @idempotent
    @extend_schema(
        request={"multipart/form-data": EvidenceCreateSerializer},
        responses={
            201: EvidenceSerializer,
            400: BAD_REQUEST,
            403: FORBIDDEN,
            404: OpenApiResponse(description="`team` is not one of your teams."),
            409: OpenApiResponse(
                DUPLICATE,
                description="The file is already evidence of the team (`duplicate_of` is that "
                "item's id; nothing was created: link it instead), or a response to link "
                "belongs to a final assessment (then only `detail`).",
            ),
        },
    )
    def create(self, request: Request) -> APIResponse:
        body = EvidenceCreateSerializer(data=self._data())
        body.is_valid(raise_exception=True)
        d = body.validated_data
        membership = self._membership(d.get("team"))
        if d["kind"] == "file":
            existing = duplicate_of(team=membership.team, uploaded_file=d.get("file"))
            if existing is not None:
                return APIResponse(
                    {"detail": duplicate_message(existing), "duplicate_of": existing.pk},
                    status=status.HTTP_409_CONFLICT,
                )
        try:
            item = services.evidence_create(
                team=membership.team,
                actor=request.user,
                kind=d["kind"],
                title=d["title"],
                description=d.get("description", ""),
                uploaded_file=d.get("file"),
                url=d.get("url", ""),
                note=d.get("note", ""),
                collected_on=d.get("collected_on"),
                valid_until=d.get("valid_until"),
                tags=d.get("tags", []),
                responses=d.get("responses", []),
            )
        except AssessmentLocked as exc:
            raise Conflict(str(exc)) from exc
        return self._out(item, status.HTTP_201_CREATED)

    def _membership(self, team_id: int | None) -> Membership:
        if team_id is None:
            ids = list(
                Membership.objects.filter(user=self.request.user).values_list("team_id", flat=True)
            )
            if len(ids) != 1:
                raise ValidationError({"team": ["Say which team the evidence belongs to."]})
            team_id = ids[0]
        return get_membership_for_user(self.request.user, team_id, Perm.ANSWER)

    @idempotent
    @extend_schema(
        request={"multipart/form-data": RevisionCreateSerializer},
        responses={201: EvidenceSerializer, 400: BAD_REQUEST, 403: FORBIDDEN, 404: NOT_FOUND},
    )
    @action(detail=True, methods=["post"])
    def revisions(self, request: Request, pk: int | None = None) -> APIResponse:
        item = self._fetch(Perm.ANSWER)
        body = RevisionCreateSerializer(data=self._data())
        body.is_valid(raise_exception=True)
        services.evidence_add_revision(
            item=item, actor=request.user, uploaded_file=body.validated_data["file"]
        )
        return self._out(item, status.HTTP_201_CREATED)

    @extend_schema(
        parameters=[OpenApiParameter("revision", int, description="Default: the latest.")],
        responses={
            **{(200, media_type): OpenApiTypes.BINARY for media_type in DOWNLOAD_TYPES},
            404: NOT_FOUND,
            409: OpenApiResponse(description="The stored file failed its integrity check."),
        },
    )
    @action(detail=True, methods=["get"])
    def download(self, request: Request, pk: int | None = None) -> StreamingHttpResponse:
        item = self._fetch(Perm.VIEW)
        revs = EvidenceRevision.objects.filter(item=item).select_related("item")
        number = id_param(request, "revision")
        rev = (
            revs.filter(number=number).first()
            if number is not None
            else revs.order_by("-number").first()
        )
        if rev is None:
            raise Http404("No such revision.")
        try:
            return revision_download(rev, request.user)
        except IntegrityFailure as exc:
            raise Conflict(str(exc)) from exc

    def _link_target(self, request: Request) -> tuple[EvidenceItem, Response]:
        item = self._fetch(Perm.ANSWER)
        body = LinkSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        response = get_for_user(
            request.user,
            Response.objects.select_related("assessment"),
            body.validated_data["response"],
            Perm.ANSWER,
        )
        return item, response

    @extend_schema(
        request=LinkSerializer,
        responses={200: EvidenceSerializer, 404: NOT_FOUND, 409: OpenApiResponse()},
    )
    @action(detail=True, methods=["post"])
    def link(self, request: Request, pk: int | None = None) -> APIResponse:
        item, response = self._link_target(request)
        try:
            services.evidence_link(item=item, response=response, actor=request.user)
        except AssessmentLocked as exc:
            raise Conflict(str(exc)) from exc
        return self._out(item)

    @extend_schema(
        request=LinkSerializer,
        responses={200: EvidenceSerializer, 404: NOT_FOUND, 409: OpenApiResponse()},
    )
    @action(detail=True, methods=["post"])
    def unlink(self, request: Request, pk: int | None = None) -> APIResponse:
        item, response = self._link_target(request)
        try:
            services.evidence_unlink(item=item, response=response, actor=request.user)
        except AssessmentLocked as exc:
            raise Conflict(str(exc)) from exc
        return self._out(item)
