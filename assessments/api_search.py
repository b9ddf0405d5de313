"""`GET /api/v1/search/?q=`: the search box's results for scripts (assessments/search.py),
over every team the caller may view, or one of them with `team=`."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response as APIResponse
from rest_framework.views import APIView

from aigsec.core.access import Perm, get_membership_for_user, teams_with_perm
from aigsec.core.api import id_param

from .search import MAX_QUERY, PER_KIND, Hits, search


class _ControlHit(serializers.Serializer):
    response = serializers.IntegerField()
    control = serializers.CharField(help_text="The control's ref, e.g. 2.1.3.")
    title = serializers.CharField()
    status = serializers.CharField()
    assessment = serializers.IntegerField()
    ai_system = serializers.CharField()
    team = serializers.IntegerField()
    url = serializers.CharField(help_text="The control, opened on its questionnaire page.")


class _EvidenceHit(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    kind = serializers.CharField()
    team = serializers.IntegerField()
    withdrawn = serializers.BooleanField()


class _SystemHit(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    status = serializers.CharField()
    team = serializers.IntegerField()


def _group(hit: type[serializers.Serializer], name: str) -> serializers.Serializer:
    return type(
        name,
        (serializers.Serializer,),
        {
            "count": serializers.IntegerField(help_text="All matches of this kind."),
            "results": hit(many=True, help_text=f"At most {PER_KIND}, best first."),
        },
    )()


class SearchResultSerializer(serializers.Serializer):
    query = serializers.CharField(help_text=f"What was searched: the first {MAX_QUERY} characters.")
    controls = _group(_ControlHit, "SearchControls")
    evidence = _group(_EvidenceHit, "SearchEvidence")
    ai_systems = _group(_SystemHit, "SearchAISystems")


def _shape(hits: Hits, row) -> dict[str, Any]:
    return {"count": hits.total, "results": [row(x) for x in hits.items]}


class SearchView(APIView):
    @extend_schema(
        tags=["search"],
        operation_id="search",
        parameters=[
            OpenApiParameter("q", str, description="Words, a phrase in quotes, or a control ref."),
            OpenApiParameter("team", int, description="Only this team (one of yours)."),
        ],
        responses={
            200: SearchResultSerializer,
            404: OpenApiResponse(description="`team` is not one of your teams."),
        },
    )
    def get(self, request: Request) -> APIResponse:
        team = id_param(request, "team")
        if team is not None:
            teams = [get_membership_for_user(request.user, team, Perm.VIEW).team_id]
        else:
            teams = teams_with_perm(request.user, Perm.VIEW)
        res = search(teams, request.query_params.get("q"))
        body = {
            "query": res.query,
            "controls": _shape(
                res.controls,
                lambda r: {
                    "response": r.pk,
                    "control": r.control.ref,
                    "title": r.control.title,
                    "status": r.status,
                    "assessment": r.assessment_id,
                    "ai_system": r.assessment.ai_system.name,
                    "team": r.assessment.team_id,
                    "url": r.get_absolute_url(),
                },
            ),
            "evidence": _shape(
                res.evidence,
                lambda e: {
                    "id": e.pk,
                    "title": e.title,
                    "kind": e.kind,
                    "team": e.team_id,
                    "withdrawn": e.is_withdrawn,
                },
            ),
            "ai_systems": _shape(
                res.systems,
                lambda s: {"id": s.pk, "name": s.name, "status": s.status, "team": s.team_id},
            ),
        }
        return APIResponse(body)
