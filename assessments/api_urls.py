"""API v1 routes for frameworks, AI systems, assessments and responses (under /api/v1/)."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from . import api, api_search, api_signoff

router = SimpleRouter(trailing_slash=True, use_regex_path=False)
router.register("frameworks", api.FrameworkViewSet, basename="api-framework")
router.register("ai-systems", api.AISystemViewSet, basename="api-ai-system")
router.register("assessments", api.AssessmentViewSet, basename="api-assessment")
router.register("responses", api.ResponseViewSet, basename="api-response")

urlpatterns = [
    *router.urls,
    path("search/", api_search.SearchView.as_view(), name="api-search"),
    path(
        "assessments/<int:pk>/sign-off/",
        api_signoff.AssessmentSignOffView.as_view(),
        name="api-assessment-sign-off",
    ),
]
