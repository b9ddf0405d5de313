"""API v1 routes of the transparency log (under /api/v1/)."""

from django.urls import path

from . import api

urlpatterns = [
    path("audit/checkpoint/", api.CheckpointView.as_view(), name="api-audit-checkpoint"),
    path("audit/consistency/", api.ConsistencyView.as_view(), name="api-audit-consistency"),
    path(
        "audit/events/<int:seq>/proof/",
        api.EventProofView.as_view(),
        name="api-audit-event-proof",
    ),
    path("audit/bundle/", api.BundleView.as_view(), name="api-audit-bundle"),
]
