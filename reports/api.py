"""REST API (v1) for signed reports: request, status, list, download, verify."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response as APIResponse
from rest_framework.views import APIView

from aigsec.core.access import Perm, get_for_user, role_allows, role_in_team, scope_for_user
from aigsec.core.api import Conflict, id_param
from aigsec.core.idempotency import idempotent
from aigsec.core.integrity import IntegrityFailure
from assessments.models import Assessment

from . import services
from .downloads import report_pdf_download
from .forms import MAX_VERIFY_BYTES
from .models import Report, ReportStatus
from .serializers import ReportSerializer, VerifyRequestSerializer, VerifyResultSerializer
from .verify import report_verify

NOT_FOUND = OpenApiResponse(description="Not found, or an object of another team.")
FORBIDDEN = OpenApiResponse(description="Your role does not allow this.")


@extend_schema(tags=["reports"])
class AssessmentReportsView(APIView):
    """`/api/v1/assessments/{id}/reports/`: request a report (managers, admins); list them."""

    serializer_class = ReportSerializer

    @idempotent
    @extend_schema(
        request=None,
        responses={
            202: ReportSerializer,
            200: OpenApiResponse(ReportSerializer, description="One is already being prepared."),
            403: FORBIDDEN,
            404: NOT_FOUND,
        },
    )
    def post(self, request: Request, pk: int) -> APIResponse:
        a = get_for_user(request.user, Assessment.objects.all(), pk, Perm.REPORT)
        report, created = services.report_request(assessment=a, actor=request.user)
        code = status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK
        resp = APIResponse(ReportSerializer(report).data, status=code)
        resp["Location"] = ReportSerializer(report).data["status_url"]
        return resp

    @extend_schema(responses={200: ReportSerializer(many=True), 404: NOT_FOUND})
    def get(self, request: Request, pk: int) -> APIResponse:
        a = get_for_user(request.user, Assessment.objects.all(), pk, Perm.VIEW)
        qs = Report.objects.filter(assessment=a).select_related("requested_by")
        return APIResponse(ReportSerializer(qs.order_by("-requested_at", "-id"), many=True).data)


@extend_schema(tags=["reports"])
class ReportViewSet(viewsets.GenericViewSet):
    queryset = Report.objects.all()
    serializer_class = ReportSerializer
    lookup_value_converter = "int"

    def get_queryset(self) -> QuerySet[Report]:
        if getattr(self, "swagger_fake_view", False):
            return Report.objects.none()
        return scope_for_user(
            self.request.user, Report.objects.select_related("requested_by"), Perm.VIEW
        ).order_by("-requested_at", "-id")

    @extend_schema(
        parameters=[OpenApiParameter("assessment", int, description="Of this assessment.")],
        responses={200: ReportSerializer(many=True)},
    )
    def list(self, request: Request) -> APIResponse:
        qs = self.get_queryset()
        if (a := id_param(request, "assessment")) is not None:
            qs = qs.filter(assessment_id=a)
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(ReportSerializer(page, many=True).data)

    @extend_schema(responses={200: ReportSerializer, 404: NOT_FOUND})
    def retrieve(self, request: Request, pk: int | None = None) -> APIResponse:
        report = get_for_user(request.user, Report.objects.select_related("requested_by"), pk)
        return APIResponse(ReportSerializer(report).data)

    @extend_schema(
        responses={
            (200, "application/pdf"): OpenApiTypes.BINARY,
            404: NOT_FOUND,
            409: OpenApiResponse(description="Not signed (yet), or failed its integrity check."),
        },
    )
    @action(detail=True, methods=["get"])
    def download(self, request: Request, pk: int | None = None) -> HttpResponse:
        report = get_for_user(request.user, Report.objects.all(), pk)
        if report.status != ReportStatus.SIGNED:
            raise Conflict(f"The report is {report.get_status_display().lower()}; no file yet.")
        try:
            resp = report_pdf_download(report, actor=request.user)
        except IntegrityFailure as exc:
            raise Conflict(str(exc)) from exc
        services.report_record_download(report=report, actor=request.user, via="api")
        return resp

    @extend_schema(
        request={"multipart/form-data": VerifyRequestSerializer},
        responses={200: VerifyResultSerializer, 400: OpenApiResponse(description="No file.")},
    )
    @action(detail=False, methods=["post"], parser_classes=[MultiPartParser])
    def verify(self, request: Request) -> APIResponse:
        body = VerifyRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        upload = body.validated_data["file"]
        if upload.size > MAX_VERIFY_BYTES or upload.size == 0:
            raise ValidationError({"file": ["Give a PDF between 1 byte and 50 MB."]})
        outcome = report_verify(data=upload.read(), actor=request.user, via="api")
        v = outcome.verification
        visible = outcome.report is not None and role_allows(
            role_in_team(request.user, outcome.report.team_id) or "", Perm.VIEW
        )
        return APIResponse(
            {
                "ok": v.ok,
                "reason": v.reason,
                "sha256": outcome.sha256,
                "signer": v.signer,
                "signer_fingerprint": v.signer_fingerprint,
                "signed_at": v.signed_at,
                "timestamped": v.timestamped,
                "whole_file": v.whole_file,
                "report_uuid": v.report_uuid,
                "on_record": outcome.report is not None,
                "report": outcome.report.pk if visible else None,
            }
        )
