"""API v1 routes for reports (under /api/v1/)."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from . import api

router = SimpleRouter(trailing_slash=True, use_regex_path=False)
router.register("reports", api.ReportViewSet, basename="api-report")

urlpatterns = [
    path(
        "assessments/<int:pk>/reports/",
        api.AssessmentReportsView.as_view(),
        name="api-assessment-reports",
    ),
    *router.urls,
]
