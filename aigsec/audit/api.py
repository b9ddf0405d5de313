"""REST API (v1) of the transparency log: the latest signed checkpoint and consistency proofs
for anyone (rate-limited per client IP; they reveal sizes and roots only), an inclusion proof
for one event and the team's bundle for auditors and admins of the event's team.

Formats: docs/audit-trail.md#the-transparency-log, checked offline by
docs/verify_audit_bundle.py.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from aigsec.core.access import Perm, current_membership_for_user, get_for_user
from aigsec.core.ratelimit import RateLimitThrottle

from . import logproofs
from .forms import AuditFilterForm
from .models import AuditEvent
from .selectors import audit_actions_for_team

MAX_SIZE = 2**63 - 1
NOT_FOUND = OpenApiResponse(description="Not found, or an event of another team.")
FORBIDDEN = OpenApiResponse(description="Your role does not allow this (auditors and admins).")
BAD = OpenApiResponse(description="A parameter is missing or invalid; the body names it.")


class AuditPublicThrottle(RateLimitThrottle):
    """The unauthenticated endpoints: per client IP (`RATE_LIMITS["audit_public:ip"]`)."""

    scope = "audit_public"
    message = "Too many requests for the audit log."


PUBLIC_THROTTLES = [RateLimitThrottle, AuditPublicThrottle]


def _text(body: str) -> HttpResponse:
    resp = HttpResponse(body, content_type="text/plain; charset=utf-8")
    resp["Cache-Control"] = "no-cache"
    return resp


class ConsistencyQuery(serializers.Serializer):
    first = serializers.IntegerField(min_value=1, max_value=MAX_SIZE)
    second = serializers.IntegerField(min_value=1, max_value=MAX_SIZE)


class ConsistencySerializer(serializers.Serializer):
    first = serializers.IntegerField()
    second = serializers.IntegerField()
    proof = serializers.ListField(child=serializers.CharField(), help_text="Hex hashes.")


class ProofQuery(serializers.Serializer):
    tree_size = serializers.IntegerField(min_value=1, max_value=MAX_SIZE, required=False)


class InclusionSerializer(serializers.Serializer):
    seq = serializers.IntegerField()
    line = serializers.CharField(help_text="The event's export_audit_log line (the leaf input).")
    index = serializers.IntegerField(help_text="The leaf index, seq - 1.")
    tree_size = serializers.IntegerField()
    proof = serializers.ListField(child=serializers.CharField(), help_text="Hex hashes.")


class BundleEventSerializer(serializers.Serializer):
    line = serializers.CharField()
    index = serializers.IntegerField()
    proof = serializers.ListField(child=serializers.CharField())


class BundleSerializer(serializers.Serializer):
    checkpoint = serializers.CharField(help_text="The signed checkpoint (C2SP signed-note).")
    events = BundleEventSerializer(many=True)


def _valid(serializer_class: type[serializers.Serializer], data: Any) -> dict[str, Any]:
    s = serializer_class(data=data)
    s.is_valid(raise_exception=True)
    return s.validated_data


@extend_schema(tags=["audit log"])
class CheckpointView(APIView):
    """`/api/v1/audit/checkpoint/`: the newest signed checkpoint (no login)."""

    permission_classes = [AllowAny]
    throttle_classes = PUBLIC_THROTTLES

    @extend_schema(
        auth=[],
        responses={
            (200, "text/plain"): OpenApiResponse(
                OpenApiTypes.STR, description="A C2SP tlog-checkpoint, signed (signed-note)."
            ),
            404: OpenApiResponse(description="No checkpoint has been taken yet."),
        },
    )
    def get(self, request: Request) -> HttpResponse:
        cp = logproofs.latest_checkpoint()
        if cp is None:
            raise NotFound("No checkpoint has been taken yet.")
        return _text(cp.note)


@extend_schema(tags=["audit log"])
class ConsistencyView(APIView):
    """`/api/v1/audit/consistency/?first=M&second=N`: RFC 9162 consistency proof between two
    published checkpoints (no login)."""

    permission_classes = [AllowAny]
    throttle_classes = PUBLIC_THROTTLES

    @extend_schema(
        auth=[],
        parameters=[ConsistencyQuery],
        responses={200: ConsistencySerializer, 400: BAD},
    )
    def get(self, request: Request) -> Response:
        q = _valid(ConsistencyQuery, request.query_params)
        first, second = q["first"], q["second"]
        if first > second:
            raise ValidationError({"second": ["Must be at least first."]})
        missing = logproofs.unpublished_sizes([first, second])
        if missing:
            field = "first" if first in missing else "second"
            raise ValidationError({field: ["No checkpoint was published at this size."]})
        proof = logproofs.consistency(first, second)
        return Response({"first": first, "second": second, "proof": proof})


@extend_schema(tags=["audit log"])
class EventProofView(APIView):
    """`/api/v1/audit/events/{seq}/proof/`: the inclusion proof of one event (auditors and
    admins of the event's team)."""

    @extend_schema(
        parameters=[
            ProofQuery,
            OpenApiParameter("seq", OpenApiTypes.INT, OpenApiParameter.PATH),
        ],
        responses={200: InclusionSerializer, 400: BAD, 403: FORBIDDEN, 404: NOT_FOUND},
    )
    def get(self, request: Request, seq: int) -> Response:
        q = _valid(ProofQuery, request.query_params)
        if not 0 < seq <= MAX_SIZE:
            raise NotFound("Not found.")
        # seq is what people quote; the door takes the primary key (as the event page does).
        pk = AuditEvent.objects.filter(seq=seq).values_list("pk", flat=True).first()
        if pk is None:
            raise NotFound("Not found.")
        ev = get_for_user(request.user, AuditEvent.objects.all(), pk, Perm.AUDIT)
        try:
            return Response(logproofs.inclusion(ev, q.get("tree_size")))
        except logproofs.BadSize as exc:
            raise ValidationError({"tree_size": [str(exc)]}) from None


@extend_schema(tags=["audit log"])
class BundleView(APIView):
    """`/api/v1/audit/bundle/`: the current team's events (the audit page's filters), each
    with its inclusion proof to one signed checkpoint."""

    @extend_schema(
        parameters=[
            OpenApiParameter(name, OpenApiTypes.STR, OpenApiParameter.QUERY)
            for name in AuditFilterForm.FILTER_FIELDS
        ],
        responses={200: BundleSerializer, 400: BAD, 403: FORBIDDEN},
    )
    def get(self, request: Request) -> Response:
        m = current_membership_for_user(request, Perm.AUDIT)
        form = AuditFilterForm(request.query_params, actions=audit_actions_for_team(m.team_id))
        if not form.is_valid():
            raise ValidationError(form.errors.get_json_data())
        try:
            bundle = logproofs.team_bundle(
                actor=request.user, team_id=m.team_id, form=form, filters=form.filter_data()
            )
        except logproofs.TooMany as exc:
            raise ValidationError({"date_from": [str(exc)]}) from None
        resp = Response(bundle)
        stamp = bundle["checkpoint"].split("\n", 2)[1]
        resp["Content-Disposition"] = (
            f'attachment; filename="audit-bundle-{m.team.slug}-size-{stamp}.json"'
        )
        resp["Cache-Control"] = "no-store"
        return resp
