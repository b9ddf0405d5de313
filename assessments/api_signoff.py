"""REST API (v1): sign off an assessment (assessments/signoff.py), the only way to `final`.

`POST /api/v1/assessments/{id}/sign-off/` with `{"statement": "..."}`: through the door with
`approve`; refused with a 409 and the list of what blocks it (`{"blocking": [...]}`).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response as APIResponse
from rest_framework.views import APIView

from aigsec.core.access import Perm, get_for_user

from .api import BAD_REQUEST, FORBIDDEN, NOT_FOUND, _body
from .models import Assessment
from .serializers import (
    AssessmentDetailSerializer,
    AssessmentSignOffSerializer,
    SignOffBlockedSerializer,
)
from .signoff import SignOffBlocked, assessment_sign_off

BLOCKED = OpenApiResponse(
    SignOffBlockedSerializer,
    description="Not signed off: `blocking` lists every reason (controls not answered or "
    "not accepted, the status, four eyes).",
)


def blocked_body(blockers: list[Any]) -> dict[str, Any]:
    return {
        "detail": "This assessment cannot be signed off yet.",
        "blocking": [b.as_api() for b in blockers],
    }


@extend_schema(tags=["assessments"])
class AssessmentSignOffView(APIView):
    @extend_schema(
        operation_id="assessments_sign_off",
        request=AssessmentSignOffSerializer,
        responses={
            200: AssessmentDetailSerializer,
            400: BAD_REQUEST,
            403: FORBIDDEN,
            404: NOT_FOUND,
            409: BLOCKED,
        },
        description="Sign the assessment off: it becomes final (locked) and its sign-off "
        "(who, role, when, statement) is shown by the assessment and its reports. Needs a "
        "manager or team admin who did not submit it for review and owns none of its "
        "answers; every control answered, every answer and linked evidence accepted. "
        "Sending the same statement again (a double submit) returns the assessment unchanged.",
    )
    def post(self, request: Request, pk: int) -> APIResponse:
        assessment = get_for_user(request.user, Assessment.objects.all(), pk, Perm.APPROVE)
        body = AssessmentSignOffSerializer(data=_body(request))
        body.is_valid(raise_exception=True)
        try:
            assessment_sign_off(
                assessment=assessment,
                actor=request.user,
                statement=body.validated_data["statement"],
            )
        except SignOffBlocked as exc:
            return APIResponse(blocked_body(exc.blockers), status=409)
        assessment = Assessment.objects.select_related("submitted_by").get(pk=assessment.pk)
        return APIResponse(AssessmentDetailSerializer(assessment).data)
