"""REST API (v1) for reviews: record a decision on evidence or a response (one, or many at
once with /reviews/bulk/), list reviews."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response as APIResponse

from aigsec.core.access import Perm, get_for_user
from aigsec.core.api import Conflict, id_param
from aigsec.core.idempotency import idempotent
from assessments.errors import AssessmentLocked
from assessments.models import Response
from evidence.api import BAD_REQUEST, FORBIDDEN, NOT_FOUND
from evidence.models import EvidenceItem

from . import bulk, selectors, services
from .errors import ReviewConflict
from .models import Review, ReviewDecision


class ReviewSerializer(serializers.ModelSerializer):
    revision = serializers.SerializerMethodField()

    class Meta:
        model = Review
        fields = [
            "id", "evidence", "response", "revision", "decision", "comment", "reviewer",
            "created_at",
        ]  # fmt: skip
        read_only_fields = fields

    def get_revision(self, obj: Review) -> int | None:
        """The number of the evidence revision reviewed (null for responses and notes)."""
        return obj.revision.number if obj.revision_id else None


class ReviewCreateSerializer(serializers.Serializer):
    evidence = serializers.IntegerField(required=False, min_value=1, max_value=2**63 - 1)
    response = serializers.IntegerField(required=False, min_value=1, max_value=2**63 - 1)
    decision = serializers.ChoiceField(choices=ReviewDecision.choices)
    comment = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=services.MAX_COMMENT
    )
    version = serializers.IntegerField(
        required=False,
        min_value=0,
        max_value=2**63 - 1,
        help_text="The version of the target the decision is made on: the response's "
        "`version`, or the evidence item's latest revision id (0 for links and notes). When "
        "given and no longer current, the decision is refused with 409.",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("evidence" in attrs) == ("response" in attrs):
            raise ValidationError({"detail": ["Give either evidence or response (one id)."]})
        return attrs


class BulkTargetSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=bulk.KINDS)
    id = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    version = serializers.IntegerField(
        required=False, min_value=0, max_value=2**63 - 1, help_text="As for a single review."
    )


class BulkReviewSerializer(serializers.Serializer):
    decision = serializers.ChoiceField(choices=ReviewDecision.choices)
    comment = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=services.MAX_COMMENT
    )
    targets = serializers.ListField(
        child=BulkTargetSerializer(), min_length=1, max_length=bulk.MAX_TARGETS
    )

    def validate_targets(self, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        seen: set[tuple[str, int]] = set()
        for i, t in enumerate(value):
            if (t["kind"], t["id"]) in seen:
                raise ValidationError(f"Target {i + 1}: {t['kind']} {t['id']} is repeated.")
            seen.add((t["kind"], t["id"]))
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        try:
            attrs["comment"] = services.review_check_input(
                decision=attrs["decision"], comment=attrs["comment"]
            )
        except DjangoValidationError as exc:
            raise ValidationError(exc.message_dict) from exc
        return attrs


class BulkReviewResultSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    reviews = ReviewSerializer(many=True)


@extend_schema(tags=["reviews"])
class ReviewViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    queryset = Review.objects.all()
    serializer_class = ReviewSerializer

    def get_queryset(self) -> QuerySet[Review]:
        if getattr(self, "swagger_fake_view", False):
            return Review.objects.none()
        return selectors.reviews_for_user(self.request.user).select_related("revision")

    @extend_schema(
        parameters=[
            OpenApiParameter("evidence", int, description="Reviews of this evidence item."),
            OpenApiParameter("response", int, description="Reviews of this response."),
            OpenApiParameter("decision", enum=ReviewDecision.values),
        ],
        responses={200: ReviewSerializer(many=True), 400: BAD_REQUEST},
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> APIResponse:
        qs = self.get_queryset()
        if (e := id_param(request, "evidence")) is not None:
            qs = qs.filter(evidence_id=e)
        if (r := id_param(request, "response")) is not None:
            qs = qs.filter(response_id=r)
        d = request.query_params.get("decision")
        if d:
            if d not in ReviewDecision.values:
                raise ValidationError(
                    {"decision": [f"Use one of: {', '.join(ReviewDecision.values)}."]}
                )
            qs = qs.filter(decision=d)
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(ReviewSerializer(page, many=True).data)

    @idempotent
    @extend_schema(
        request=ReviewCreateSerializer,
        responses={
            201: ReviewSerializer,
            400: BAD_REQUEST,
            403: FORBIDDEN,
            404: NOT_FOUND,
            409: OpenApiResponse(
                description="The assessment is final, or `version` is no longer current."
            ),
        },
    )
    def create(self, request: Request) -> APIResponse:
        body = ReviewCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        d = body.validated_data
        if "evidence" in d:
            target: dict[str, Any] = {
                "evidence": get_for_user(
                    request.user, EvidenceItem.objects.all(), d["evidence"], Perm.REVIEW
                )
            }
        else:
            target = {
                "response": get_for_user(
                    request.user, Response.objects.all(), d["response"], Perm.REVIEW
                )
            }
        try:
            review = services.review_create(
                reviewer=request.user,
                decision=d["decision"],
                comment=d["comment"],
                expected_version=d.get("version"),
                **target,
            )
        except (AssessmentLocked, ReviewConflict) as exc:
            raise Conflict(str(exc)) from exc
        review = Review.objects.select_related("revision").get(pk=review.pk)
        return APIResponse(ReviewSerializer(review).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=BulkReviewSerializer,
        responses={
            201: BulkReviewResultSerializer,
            400: BAD_REQUEST,
            403: FORBIDDEN,
            404: NOT_FOUND,
            409: OpenApiResponse(
                description="A target's assessment is final or its `version` is no longer "
                "current; nothing was recorded."
            ),
        },
    )
    @action(detail=False, methods=["post"], url_path="bulk")
    def bulk(self, request: Request) -> APIResponse:
        """Record one decision with one comment on up to 200 responses and evidence items, all
        or nothing. Every target is checked like a single review: one of another team is a
        404 and nothing is recorded."""
        body = BulkReviewSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        d = body.validated_data
        refs = [bulk.TargetRef(t["kind"], t["id"], t.get("version")) for t in d["targets"]]
        targets = bulk.fetch_targets(request.user, refs)
        try:
            done = bulk.review_bulk(
                reviewer=request.user, decision=d["decision"], comment=d["comment"], targets=targets
            )
        except (AssessmentLocked, ReviewConflict) as exc:
            raise Conflict(str(exc)) from exc
        rows = Review.objects.select_related("revision").filter(pk__in=[r.pk for r in done])
        by_pk = {r.pk: r for r in rows}
        data = ReviewSerializer([by_pk[r.pk] for r in done], many=True).data
        return APIResponse({"count": len(done), "reviews": data}, status=status.HTTP_201_CREATED)
